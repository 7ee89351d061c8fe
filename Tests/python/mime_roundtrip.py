"""Parses messages Herald composed with Python's email package and checks they read back exactly.

Usage: mime_roundtrip.py CASES.json
Each case names a message file and what it must parse back to: the From display name and
address, the To mailboxes, the subject, the text and HTML bodies and attachment names. Lines over
998 octets and any parser defect are failures. Prints one line per failing case; exits 1 if any.
"""
import json
import re
import sys
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser


def without_whitespace(text):
    return re.sub(r"\s+", "", text)


def split_mailboxes(value):
    """Splits an address-list field at commas outside quoted strings and angle brackets."""
    parts, current, quoted, escaped, angle = [], "", False, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char == "," and not quoted and not angle:
            parts.append(current)
            current = ""
            continue
        current += char
    return parts + [current]


def rfc2047_display_names(raw_field):
    """Display names read by the RFC 2047 decoder (which drops whitespace between encoded words)."""
    names = []
    for mailbox in split_mailboxes(raw_field.replace("\r\n", "")):
        phrase = mailbox.rsplit("<", 1)[0].strip() if "<" in mailbox else ""
        if phrase.startswith('"') and phrase.endswith('"'):
            names.append(re.sub(r"\\(.)", r"\1", phrase[1:-1]))
        else:
            names.append(str(make_header(decode_header(phrase))) if phrase else "")
    return names


def raw_field(raw, name):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    match = re.search(r"(?im)^" + name + r":([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
    return match.group(1).strip() if match else ""


def strip_one_newline(text):
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\n") else text


def defects(message):
    found = list(message.defects)
    for part in message.walk():
        found.extend(part.defects)
        for name in part.keys():
            header = part[name]
            found.extend(getattr(header, "defects", ()))
    return found


def check(case):
    raw = open(case["path"], "rb").read()
    problems = []
    for number, line in enumerate(raw.split(b"\r\n")):
        if len(line) > 998:
            problems.append(f"line {number} is {len(line)} octets")
    if b"\n" in raw.replace(b"\r\n", b"") or b"\r" in raw.replace(b"\r\n", b""):
        problems.append("bare CR or LF")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if defects(message):
        problems.append(f"defects: {defects(message)}")

    # policy.default's phrase parser turns whitespace between adjacent encoded words into a space
    # and collapses whitespace inside them (RFC 2047 6.2 says to drop the former), so its names
    # are compared without whitespace; the RFC 2047 decoder must give them back exactly.
    sender = message["from"].addresses
    if len(sender) != 1:
        problems.append(f"From has {len(sender)} addresses")
    else:
        if without_whitespace(sender[0].display_name) != without_whitespace(case["from_name"]):
            problems.append(f"From name {sender[0].display_name!r} != {case['from_name']!r}")
        if sender[0].addr_spec != case["from_addr"]:
            problems.append(f"From address {sender[0].addr_spec!r} != {case['from_addr']!r}")
    exact = rfc2047_display_names(raw_field(raw, "From"))
    if exact != [case["from_name"]]:
        problems.append(f"From name decodes to {exact!r}, not {case['from_name']!r}")
    recipients = [(without_whitespace(a.display_name), a.addr_spec) for a in message["to"].addresses]
    expected = [(without_whitespace(r["name"]), r["addr"]) for r in case["to"]]
    if recipients != expected:
        problems.append(f"To {recipients!r} != {expected!r}")
    exact = rfc2047_display_names(raw_field(raw, "To"))
    if exact != [r["name"] for r in case["to"]]:
        problems.append(f"To names decode to {exact!r}, not {[r['name'] for r in case['to']]!r}")
    if str(message["subject"]) != case["subject"]:
        problems.append(f"Subject {str(message['subject'])!r} != {case['subject']!r}")
    if message["bcc"] is not None:
        problems.append("a Bcc header is present")
    if message["message-id"] is None or message["date"] is None or message["mime-version"] != "1.0":
        problems.append("Message-ID, Date or MIME-Version missing")

    for kind in ("plain", "html"):
        want = case.get("text" if kind == "plain" else "html")
        part = message.get_body(preferencelist=(kind,))
        if want is None:
            if part is not None and kind == "html":
                problems.append("unexpected HTML part")
            continue
        if part is None:
            problems.append(f"no text/{kind} part")
            continue
        got = part.get_content()
        if strip_one_newline(got) != strip_one_newline(want.replace("\r\n", "\n").replace("\r", "\n")):
            problems.append(f"text/{kind} body differs: {got[:80]!r} vs {want[:80]!r}")

    names = [part.get_filename() for part in message.iter_attachments()]
    if names != case.get("attachments", []):
        problems.append(f"attachments {names!r} != {case.get('attachments', [])!r}")
    return problems


def main() -> int:
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    failures = 0
    for case in cases:
        problems = check(case)
        if problems:
            failures += 1
            print(f"{case['path']}: " + "; ".join(problems))
    print(f"{len(cases) - failures} messages read back exactly, {failures} did not")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
