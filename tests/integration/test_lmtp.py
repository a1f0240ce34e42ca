"""LMTP delivery to a real Dovecot ([transport] "lmtp:unix:/path" and "lmtp:[host]:port"):
the message lands in the user's INBOX, read back over IMAP with Tern's Received header; all
recipients of a message for one LMTP server go in one transaction; after the final dot each
recipient has its own reply (RFC 2033 §4.2), so an over-quota user fails alone while the
other is delivered. Also the "error:" and "smtp:" transports and their config checks, and
that the client pipelines (a small recording LMTP server: Dovecot would not tell)."""

import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import TERND, send_message
from dovecot import Dovecot

# How long a delivery may take to show in the mail log.
LOG_TIMEOUT = 15.0


@pytest.fixture
def dovecot_factory():
    started = []

    def make(users, **kw):
        d = Dovecot(users, **kw).start()
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


def transport_config(dovecot):
    return f"""[transport]
"sock.test" = "lmtp:unix:{dovecot.socket}"
"tcp.test" = "lmtp:[127.0.0.1]:{dovecot.lmtp_port}"
"""


def wait_log(tern, pattern, count=1, timeout=LOG_TIMEOUT):
    """The mail-log lines matching `pattern`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in tern.log().splitlines() if re.search(pattern, l)]
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no {count} line(s) matching {pattern!r}; log:\n{tern.log()[-3000:]}")


def message(subject):
    return (f"From: sender@example.org\r\nTo: someone\r\nSubject: {subject}\r\n\r\n"
            f"body of {subject}\r\n").encode()


def test_delivery_over_unix_socket_and_tcp(tern_factory, dovecot_factory):
    dovecot = dovecot_factory({"alice@sock.test": None, "carol@tcp.test": None})
    tern = tern_factory(extra=transport_config(dovecot)).start()
    c = tern.client()
    code, _ = send_message(c, ["alice@sock.test"], body=message("over the socket"))
    assert code == 250
    code, _ = send_message(c, ["carol@tcp.test"], body=message("over TCP"))
    assert code == 250

    sock_line = wait_log(tern, r"to=<alice@sock\.test>.*status=sent")[0]
    assert f"relay=mx.example.test[{dovecot.socket}]" in sock_line, sock_line
    assert "dsn=2.0.0" in sock_line and "Saved" in sock_line, sock_line
    tcp_line = wait_log(tern, r"to=<carol@tcp\.test>.*status=sent")[0]
    assert f"relay=127.0.0.1[127.0.0.1]:{dovecot.lmtp_port}" in tcp_line, tcp_line

    for user, subject in (("alice@sock.test", "over the socket"), ("carol@tcp.test", "over TCP")):
        [msg] = dovecot.inbox(user)
        headers = msg.split(b"\r\n\r\n", 1)[0].decode()
        assert f"Subject: {subject}" in headers
        assert re.search(r"^Received: from .*\r\n\s+by mx\.example\.test", headers, re.M), headers
    assert "saved mail to INBOX" in dovecot.log()


def test_one_transaction_for_all_recipients(tern_factory, dovecot_factory):
    users = {f"u{i}@sock.test": None for i in range(3)}
    dovecot = dovecot_factory(users)
    tern = tern_factory(extra=transport_config(dovecot)).start()
    code, _ = send_message(tern.client(), list(users), body=message("three at once"))
    assert code == 250
    wait_log(tern, r"to=<u\d@sock\.test>.*status=sent", count=3)
    for user in users:
        [msg] = dovecot.inbox(user)
        assert b"Subject: three at once" in msg
    # Dovecot logs each connection: three recipients, one session.
    assert dovecot.log().count("Connect from local") == 1, dovecot.log()


@pytest.mark.parametrize("tempfail", [False, True], ids=["552-bounced", "452-deferred"])
def test_over_quota_recipient_fails_alone(tern_factory, dovecot_factory, tempfail):
    dovecot = dovecot_factory({"alice@sock.test": None, "bob@sock.test": "*:storage=1K"},
                              quota_tempfail=tempfail)
    tern = tern_factory(extra=transport_config(dovecot)).start()
    big = message("too big for bob") + (b"x" * 70 + b"\r\n") * 60
    code, _ = send_message(tern.client(), ["alice@sock.test", "bob@sock.test"], body=big)
    assert code == 250

    sent = wait_log(tern, r"to=<alice@sock\.test>.*status=sent")[0]
    assert "dsn=2.0.0" in sent
    if tempfail:
        failed = wait_log(tern, r"to=<bob@sock\.test>.*status=deferred")[0]
        assert "dsn=4.2.2" in failed, failed
    else:
        failed = wait_log(tern, r"to=<bob@sock\.test>.*status=bounced")[0]
        assert "dsn=5.2.2" in failed, failed
    assert "Quota exceeded" in failed and "end of DATA" in failed, failed
    assert len(dovecot.inbox("alice@sock.test")) == 1
    assert dovecot.inbox("bob@sock.test") == []
    # Only bob's recipient may still wait in the queue.
    pending = [r["address"] for m in tern.queue() for r in m["recipients"]
               if m["sender"] == "sender@example.org" and r["state"] == "pending"]
    assert pending == (["bob@sock.test"] if tempfail else [])


def test_unknown_user_bounces_alone(tern_factory, dovecot_factory):
    dovecot = dovecot_factory({"alice@sock.test": None})
    tern = tern_factory(extra=transport_config(dovecot)).start()
    code, _ = send_message(tern.client(), ["nobody@sock.test", "alice@sock.test"],
                           body=message("one known"))
    assert code == 250
    wait_log(tern, r"to=<alice@sock\.test>.*status=sent")
    line = wait_log(tern, r"to=<nobody@sock\.test>.*status=bounced")[0]
    assert "dsn=5.1.1" in line and "RCPT TO" in line, line


def test_server_down_defers(tern_factory, tmp_path):
    missing = tmp_path / "no-such-socket"
    tern = tern_factory(extra=f'[transport]\n"sock.test" = "lmtp:unix:{missing}"\n').start()
    code, _ = send_message(tern.client(), ["alice@sock.test"], body=message("nobody home"))
    assert code == 250
    line = wait_log(tern, r"to=<alice@sock\.test>.*status=deferred")[0]
    assert "dsn=4.4.1" in line and str(missing) in line, line


def test_error_transport(tern_factory):
    tern = tern_factory(extra='[transport]\n"gone.test" = "error:550 5.1.6 moved away"\n'
                              '"later.test" = "error:450 try later"\n').start()
    c = tern.client()
    code, _ = send_message(c, ["x@gone.test", "y@later.test"], body=message("error"))
    assert code == 250
    line = wait_log(tern, r"to=<x@gone\.test>.*status=bounced")[0]
    assert "dsn=5.1.6" in line and "moved away" in line, line
    line = wait_log(tern, r"to=<y@later\.test>.*status=deferred")[0]
    assert "dsn=4.0.0" in line and "try later" in line, line


def test_smtp_transport_is_not_an_accepted_domain(tern_factory):
    # smtp: routes a domain; it does not open relaying for it to clients outside relay.networks.
    tern = tern_factory(extra='[transport]\n"routed.test" = "smtp:[127.0.0.1]:9"\n',
                        relay=[]).start()
    c = tern.client()
    assert c.command("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = c.command("RCPT TO:<x@routed.test>")
    assert code == 554, lines


@pytest.mark.parametrize("value", [
    "lmtp", "lmtp:unix:relative/path", "lmtp:[127.0.0.1]:0", "smtp:", "error:250 fine",
    "error:5 x", "maildir:x", "pipe:bin/true"])
def test_bad_transport_values_are_config_errors(tern_factory, value):
    tern = tern_factory(extra=f'[transport]\n"x.test" = "{value}"\n')
    out = subprocess.run([str(TERND), "--config", str(tern.config), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "transport.x.test" in out.stdout + out.stderr, out


class RecordingLmtp:
    """A minimal LMTP server (RFC 2033) on loopback that records what arrived in each read,
    to show whether the client pipelines. No real LMTP server tells; this one only answers
    in the protocol's shape: 250 to each command, 354, then one reply per recipient."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.reads = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        with conn:
            conn.sendall(b"220 lmtp.test LMTP ready\r\n")
            buf, rcpts, in_data = b"", 0, False
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                self.reads.append(chunk)
                buf += chunk
                while True:
                    if in_data:
                        end = buf.find(b"\r\n.\r\n")
                        if end < 0:
                            break
                        buf, in_data = buf[end + 5:], False
                        conn.sendall(b"250 2.0.0 ok\r\n" * rcpts)
                        rcpts = 0
                        continue
                    eol = buf.find(b"\r\n")
                    if eol < 0:
                        break
                    line, buf = buf[:eol].upper(), buf[eol + 2:]
                    if line.startswith(b"LHLO"):
                        conn.sendall(b"250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
                    elif line.startswith(b"RCPT"):
                        rcpts += 1
                        conn.sendall(b"250 2.1.5 ok\r\n")
                    elif line == b"DATA":
                        in_data = True
                        conn.sendall(b"354 go ahead\r\n")
                    elif line == b"QUIT":
                        conn.sendall(b"221 2.0.0 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 2.0.0 ok\r\n")

    def stop(self):
        self.sock.close()


def test_lmtp_client_pipelines_mail_rcpt_and_data(tern_factory):
    server = RecordingLmtp()
    try:
        t = tern_factory(extra=f'[transport]\n"pipe.test" = "lmtp:[127.0.0.1]:{server.port}"\n').start()
        code, lines = send_message(t.client(), ["a@pipe.test", "b@pipe.test", "c@pipe.test"])
        assert code == 250, lines
        wait_log(t, r"to=<c@pipe\.test>.*status=sent")
        # RFC 2033 §4.2 with RFC 2920: MAIL, every RCPT and DATA leave in one write.
        grouped = [r for r in server.reads if r.upper().startswith(b"MAIL FROM")]
        assert grouped, server.reads
        assert grouped[0].upper().count(b"RCPT TO") == 3 and grouped[0].endswith(b"DATA\r\n"), \
            server.reads
    finally:
        server.stop()
