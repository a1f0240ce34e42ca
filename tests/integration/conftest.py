"""Fixtures for integration tests: a real ternd on an ephemeral loopback port with a
temporary configuration, spool and mail root, and helpers to talk to it.

Every test is bounded in time (pytest's own --timeout is not in Debian's pytest, so each
helper has its own deadline) and every process started here is stopped at teardown."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TERN_BUILD", REPO / "build"))
TERND = BUILD / "ternd"
TERNCTL = BUILD / "ternctl"


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Tern:
    """A ternd process with its own directory."""

    # Where remote mail goes unless a test says otherwise: a loopback port nothing listens
    # on, so relayed messages are deferred and stay queued, visible to ternctl, with no DNS.
    # smarthost=None writes no smarthost line: remote mail goes to the recipient domain's
    # MX hosts (tests point the domains at a DNS server on loopback: dnszone.py).
    DEAD_SMARTHOST = "[127.0.0.1]:9"

    def __init__(self, root: Path, extra: str = "", listeners=None, relay=None, user="root",
                 host="127.0.0.1", smarthost=DEAD_SMARTHOST):
        self.root = root
        self.host = host
        self.port = free_port(host)
        self.spool = root / "spool"
        self.mail = root / "mail"
        self.config = root / "tern.toml"
        self.log_path = root / "ternd.log"
        self.proc = None
        self.clients = []
        listen = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        listeners = listeners or [listen]
        relay = relay if relay is not None else ["127.0.0.0/8", "::1/128"]
        text = f"""
[server]
hostname = "mx.example.test"
io_threads = 2
user = "{user}"
[spool]
path = "{self.spool}"
[domains]
local = ["localhost", "example.test"]
catch_all = true
[delivery.maildir]
root = "{self.mail}"
[relay]
networks = {relay!r}
""".replace("'", '"')
        if smarthost is not None:
            text += f'smarthost = "{smarthost}"\n'
        for l in listeners:
            text += f'[[listener]]\naddress = "{l}"\n'
        self.config.write_text(text + extra)

    def start_with_smarthost(self, smarthost):
        """Starts with [relay] smarthost set to `smarthost` instead of the dead one."""
        text = self.config.read_text()
        text = text.replace(f'smarthost = "{self.DEAD_SMARTHOST}"', f'smarthost = "{smarthost}"', 1)
        self.config.write_text(text)
        return self.start()

    def start(self, timeout=15.0):
        """Starts ternd and returns once it has recovered its queue and accepts mail (its
        "daemon started" line), so a test's first look at the log or the queue is not a race."""
        self.log_file = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen([str(TERND), "--config", str(self.config)],
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        wait_port(self.host, self.port, timeout)
        deadline = time.monotonic() + timeout
        while "daemon started" not in self.log_path.read_text(errors="replace")[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ternd did not start:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        for c in self.clients:
            c.close()
        self.clients = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def maildir(self, user, domain="example.test"):
        return self.mail / domain / user / "new"

    def messages(self, user, domain="example.test"):
        d = self.maildir(user, domain)
        if not d.is_dir():
            return []
        return [p.read_bytes() for p in sorted(d.iterdir())]

    def wait_messages(self, user, count=1, domain="example.test", timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages(user, domain)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) for {user}@{domain} did not arrive in "
                             f"{timeout}s; log:\n{self.log()[-3000:]}")

    def wait_log(self, text, timeout=15.0):
        """Waits until `text` is in the log; returns the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the log after {timeout}s:\n{self.log()[-3000:]}")

    def ctl(self, *args, check=True):
        r = subprocess.run([str(TERNCTL), "--config", str(self.config), *args],
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"ternctl {args} failed ({r.returncode}): {r.stderr}")
        return r

    def queue(self):
        """The queue as `ternctl queue list --json` shows it: a list of dicts."""
        out = self.ctl("queue", "list", "--json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def client(self, ehlo="client.example"):
        """A RawClient past the 220 greeting (and EHLO unless ehlo is None); closed at stop."""
        c = RawClient(self.host, self.port)
        self.clients.append(c)
        assert c.code() == 220
        if ehlo:
            c.ehlo(ehlo)
        return c


@pytest.fixture
def tern_factory(tmp_path):
    started = []

    def make(**kw):
        root = tmp_path / f"tern{len(started)}"
        root.mkdir()
        t = Tern(root, **kw)
        started.append(t)
        return t

    yield make
    for t in started:
        t.stop()


@pytest.fixture
def tern(tern_factory):
    return tern_factory().start()


class RawClient:
    """A raw SMTP client for what smtplib will not send: pipelined groups, garbage,
    bare line endings. Reads replies with a deadline."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data: bytes):
        self.sock.sendall(data)

    def reply(self):
        """One complete (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"connection closed; got {lines!r} {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def code(self):
        return self.reply()[0]

    def replies(self, n):
        """The next n replies, as (code, [lines])."""
        return [self.reply() for _ in range(n)]

    def command(self, line: str):
        """Sends one command line and returns its reply."""
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        code, lines = self.command(f"EHLO {name}")
        assert code == 250, lines
        return lines

    def silent(self, wait=0.3):
        """True when nothing more arrives within `wait` seconds (no stray replies)."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += data
        return False

    def closed(self, timeout=5.0):
        """True when the server has closed the connection (after any pending replies)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, TimeoutError, socket.timeout):
            return False
        return data == b""

    def close(self):
        self.sock.close()


def queue_id(lines):
    """The queue ID from a "250 2.0.0 Ok: queued as ID" reply."""
    m = re.search(r"queued as ([0-9A-Z]{16})", lines[-1])
    assert m, lines
    return m.group(1)


def envelope(rcpts, sender="sender@example.org") -> bytes:
    """One pipelined MAIL, RCPT..., DATA group; the message follows the 354."""
    lines = [f"MAIL FROM:<{sender}>"] + [f"RCPT TO:<{r}>" for r in rcpts] + ["DATA"]
    return "".join(l + "\r\n" for l in lines).encode()


def send_message(c, rcpts, body=b"Subject: t\r\n\r\nhello\r\n", sender="sender@example.org"):
    """A whole transaction on RawClient c; returns the final reply after the message."""
    c.send(envelope(rcpts, sender))
    got = c.replies(len(rcpts) + 2)
    assert [code for code, _ in got] == [250] * (len(rcpts) + 1) + [354], got
    c.send(body + b".\r\n")
    return c.reply()


@pytest.fixture
def raw(tern):
    """A function connecting a RawClient to `tern`, past the 220 and before EHLO."""
    return lambda: tern.client(ehlo=None)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A test CA and its certificates (certs.py), made once per test run."""
    from certs import Certs
    return Certs(tmp_path_factory.mktemp("certs"))
