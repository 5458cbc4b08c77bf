"""A real SMTP server for the tests, built on aiosmtpd.

Plain, STARTTLS-required or implicit-TLS, with AUTH PLAIN/LOGIN required
when --user is given. Every accepted message is saved as OUT/<n>.eml with
an `X-Test-Rcpt:` line per recipient first. Prints `ready PORT` once it
listens on 127.0.0.1, and stops when its standard input closes.
"""
import argparse
import itertools
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--user")
parser.add_argument("--password")
parser.add_argument("--out", required=True)
args = parser.parse_args()

counter = itertools.count(1)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        head = "".join(f"X-Test-Rcpt: {r}\r\n" for r in envelope.rcpt_tos).encode()
        path = os.path.join(args.out, f"{n:06}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(head + envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


context = None
if args.mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

kwargs = dict(hostname="127.0.0.1", port=free_port())
if args.user:
    kwargs.update(authenticator=authenticator, auth_required=True)
if args.mode == "starttls":
    kwargs.update(tls_context=context, require_starttls=True)
elif args.mode == "tls":
    kwargs.update(ssl_context=context, auth_require_tls=False)

    def trigger(self):
        # The controller's own readiness probe would verify our test
        # certificate against the system roots and fail; read the greeting
        # over TLS without verifying instead.
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), 2.0) as raw:
            with client.wrap_socket(raw) as tls:
                tls.recv(1024)

    Controller._trigger_server = trigger

controller = Controller(Handler(), **kwargs)
controller.start()
print(f"ready {controller.port}", flush=True)
sys.stdin.read()
controller.stop()
