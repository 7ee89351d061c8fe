"""Verifies a message's DKIM signature with dkimpy, the public key given directly (no DNS).

Usage: dkim_verify.py MESSAGE_FILE 'v=DKIM1; k=rsa; p=...'
Prints 'pass' and exits 0 when the signature verifies; prints 'fail' and exits 1 otherwise.
"""
import sys

import dkim


def main() -> int:
    message = open(sys.argv[1], "rb").read()
    record = sys.argv[2].encode()

    def dnsfunc(name, timeout=5):
        return record

    verifier = dkim.DKIM(message)
    ok = verifier.verify(dnsfunc=dnsfunc)
    print("pass" if ok else "fail")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
