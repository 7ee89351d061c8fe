"""The reference for `scripts/bench mime`: Python's email package composing the same message.

Usage: mime_compose.py SPEC.json   (written by herald-bench: content, count and rounds)
Prints `python_per_s=N`, the median rate over the rounds.
"""
import json
import statistics
import sys
import time
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def compose(spec):
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(spec["from_name"], addr_spec=spec["from_address"])
    message["To"] = spec["to"]
    message["Subject"] = spec["subject"]
    message["Date"] = formatdate(1761383100)
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(spec["text"])
    message.add_alternative(spec["html"], subtype="html")
    return message.as_bytes()


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    rates = []
    for _ in range(spec["rounds"]):
        start = time.perf_counter()
        for _ in range(spec["count"]):
            compose(spec)
        rates.append(spec["count"] / (time.perf_counter() - start))
    print(f"python_per_s={int(statistics.median(rates))}")


if __name__ == "__main__":
    main()
