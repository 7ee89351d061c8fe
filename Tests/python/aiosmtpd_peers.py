"""Real SMTP peers for Herald's interop tests: aiosmtpd servers on 127.0.0.1, started by scripts/test.

Usage: aiosmtpd_peers.py DIRECTORY
Writes a CA and server certificate (trustme) and starts:
  implicit_tls        implicit TLS from the first byte, AUTH PLAIN and LOGIN over TLS
  implicit_tls_login  implicit TLS, AUTH LOGIN only
  starttls            STARTTLS required, AUTH over TLS only
  plain               plaintext, SMTPUTF8, SIZE limit 4096
Every server refuses recipients containing "refuse" (550 5.1.1) and spools each accepted message
as DIRECTORY/spool/<port>-<n>.json. When all are up it writes DIRECTORY/peers.json (ports, CA
path, credentials) and runs until it is terminated.
"""
import base64
import itertools
import json
import os
import signal
import socket
import ssl
import sys
import threading

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "herald@example.com", "secret-code"
counter = itertools.count(1)


class Handler:
    def __init__(self, spool, port):
        self.spool, self.port = spool, port

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "refuse" in address:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "data": base64.b64encode(envelope.original_content or envelope.content).decode(),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "auth": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        path = os.path.join(self.spool, "%d-%d.json" % (self.port, next(counter)))
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    # handled=False: aiosmtpd then answers a failure with 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    directory = sys.argv[1]
    spool = os.path.join(directory, "spool")
    os.makedirs(spool, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_path = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; implicit TLS is TLS from the start.
    kinds = {
        "implicit_tls": dict(ssl_context=context, authenticator=authenticator, auth_require_tls=False),
        "implicit_tls_login": dict(
            ssl_context=context, authenticator=authenticator, auth_require_tls=False, auth_exclude_mechanism=["PLAIN"]
        ),
        "starttls": dict(tls_context=context, require_starttls=True, authenticator=authenticator, auth_require_tls=True),
        "plain": dict(enable_SMTPUTF8=True, data_size_limit=4096),
    }
    ports, controllers = {}, []
    for name, options in kinds.items():
        port = free_port()
        controller = Controller(Handler(spool, port), hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
        controller.start()
        controllers.append(controller)
        ports[name] = port

    peers = {"ports": ports, "ca": ca_path, "spool": spool, "user": USER, "password": PASSWORD}
    with open(os.path.join(directory, "peers.json.tmp"), "w") as f:
        json.dump(peers, f)
    os.rename(os.path.join(directory, "peers.json.tmp"), os.path.join(directory, "peers.json"))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for controller in controllers:
        controller.stop()


if __name__ == "__main__":
    main()
