"""Reads one message as a mail client would, with Python's email package, and prints what it says.

Usage: read_message.py MESSAGE.eml
Prints one JSON object: the From display name and address, the subject, and the text and HTML
bodies (decoded). Any parser defect is reported in "defects".
"""
import json
import sys
from email import policy
from email.parser import BytesParser
from email.headerregistry import Address


def main():
    with open(sys.argv[1], "rb") as f:
        message = BytesParser(policy=policy.default).parse(f)
    sender = message["From"].addresses[0]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    print(json.dumps({
        "from_name": sender.display_name,
        "from_address": sender.addr_spec,
        "subject": str(message["Subject"]),
        "text": text.get_content() if text else None,
        "html": html.get_content() if html else None,
        "message_id": str(message["Message-ID"]),
        "defects": [type(d).__name__ for d in message.defects],
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
