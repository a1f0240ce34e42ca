"""Remote delivery by MX routing (RFC 5321 §5.1) with no smarthost: a real authoritative
NSD on loopback serves the zone "mx.test" (Tern's [dns] stub_zones points the zone at it),
and the MX hosts are real SMTP servers on 127.0.0.x addresses, all on one high port P
([delivery.smtp] port = P): aiosmtpd capture servers, Postfix's smtp-sink for failure
injection, and a small threaded server of our own that witnesses pipelining.

Covered: a backup MX taking the mail when the first is down or greets with 421; equal
preferences spread over both hosts; the implicit MX (an A record only); null MX (RFC 7505)
and NXDOMAIN bouncing at once; a zone whose name server never answers deferring with 4.4.3;
4xx and 5xx RCPT replies from smtp-sink (deferred, retried, delivered; bounced); one
connection carrying many pipelined transactions; deferred mail surviving a restart.

Senders are in the local domain example.test, so any bounce stays on this host."""

import email
import email.policy
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import Tern, free_port, wait_port
from dnszone import Nsd, SilentDns
import test_relay_out as relay_out

ZONE = "mx.test"
SENDER = "sender@example.test"

# The test zone. Each test has its own names and its own MX addresses, so no test's
# servers (or their connections in TIME_WAIT) meet another's.
ZONE_TEXT = """$ORIGIN mx.test.
$TTL 300
@           IN SOA  ns hostmaster 1 3600 600 86400 300
@           IN NS   ns
ns          IN A    127.0.0.1
; the first MX is down, the second takes the mail
backup      IN MX   10 mx1.backup
backup      IN MX   20 mx2.backup
mx1.backup  IN A    127.0.0.3
mx2.backup  IN A    127.0.0.4
; the first MX greets with 421, the second takes the mail
busy        IN MX   10 mx1.busy
busy        IN MX   20 mx2.busy
mx1.busy    IN A    127.0.0.11
mx2.busy    IN A    127.0.0.12
; equal preferences
equal       IN MX   10 mxa.equal
equal       IN MX   10 mxb.equal
mxa.equal   IN A    127.0.0.5
mxb.equal   IN A    127.0.0.6
; no MX: the domain's own address (implicit MX)
implicit    IN A    127.0.0.7
; RFC 7505: takes no mail
null        IN MX   0 .
; smtp-sink with failures injected
sink        IN MX   10 mx.sink
mx.sink     IN A    127.0.0.8
; the pipelining witness
pipe        IN MX   10 mx.pipe
mx.pipe     IN A    127.0.0.9
; down, then up after a restart of ternd
restart     IN MX   10 mx.restart
mx.restart  IN A    127.0.0.10
"""

# Every wait in this file is bounded by this (the tests themselves take a few seconds).
BOUND = 10.0


@pytest.fixture(scope="module")
def nsd():
    server = Nsd({ZONE: ZONE_TEXT}).start()
    yield server
    server.stop()


@pytest.fixture
def port():
    """P: the port of every MX host in a test; free on all addresses (nothing listens on
    it at 127.0.0.3, the down MX, for instance)."""
    return free_port("0.0.0.0")


@pytest.fixture
def silent_dns():
    s = SilentDns()
    yield s
    s.close()


def mx_tern(tern_factory, nsd, port, stubs=None, smarthost=None, more=""):
    """A ternd with no smarthost, "mx.test" (and `stubs`) resolved by the loopback
    servers, MX hosts on `port`, retries after about 1 s (at most 2 s apart), and a 2 s
    deadline per DNS question."""
    zones = {ZONE: nsd.address, **(stubs or {})}
    stub_text = ", ".join(f'"{z}" = ["{a}"]' for z, a in zones.items())
    extra = f"""[dns]
stub_zones = {{ {stub_text} }}
timeout = 2
[delivery.smtp]
port = {port}
connect_timeout = 2
[queue]
first_retry = 1
max_retry = 2
"""
    return tern_factory(extra=extra + more, smarthost=smarthost).start()


def send(t, rcpts, body=b"Subject: mx\r\n\r\nhello via MX\r\n", sender=SENDER):
    """One transaction on a fresh connection; returns the queue ID."""
    c = t.client()
    c.send(f"MAIL FROM:<{sender}>\r\n".encode())
    assert c.code() == 250
    for r in rcpts:
        c.send(f"RCPT TO:<{r}>\r\n".encode())
        code, lines = c.reply()
        assert code == 250, lines
    c.send(b"DATA\r\n")
    assert c.code() == 354
    c.send(body + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.command("QUIT")
    c.close()
    t.clients.remove(c)
    return lines[0].split()[-1]


def log_lines(t, pattern):
    """The log's lines matching `pattern` (a regex)."""
    rx = re.compile(pattern)
    return [l for l in t.log().splitlines() if rx.search(l)]


def wait_log(t, pattern, timeout=BOUND):
    """The first log line matching `pattern` (a regex), once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = log_lines(t, pattern)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line matching {pattern!r} in {timeout}s; log:\n"
                                 f"{t.log()[-4000:]}")
        time.sleep(0.05)


def wait_gone(t, qid, timeout=BOUND):
    """Waits until `qid` has left the queue (other messages, such as bounces, may stay)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if qid not in [e["queue_id"] for e in t.queue()]:
            return
        time.sleep(0.05)
    raise AssertionError(f"{qid} still queued after {timeout}s: {t.queue()}")


def line_for(qid, rcpt, relay, port, status):
    """A regex for the scheduler's delivery log line."""
    return (rf"{qid}: to=<{re.escape(rcpt)}>, relay={re.escape(relay)}\[[0-9.]+\]:{port}, "
            rf".* status={status} ")


class Capture(relay_out.Capture):
    """The relay tests' capture handler (every message, with the address it was accepted
    on); `hang_up` closes each connection right after its message (as a busy MX with a
    per-connection limit does), so every message needs a fresh connection."""

    def __init__(self, hang_up=False):
        super().__init__()
        self.hang_up = hang_up
        self.hung_up = 0

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.hang_up:
            # After the 250 (written before the loop runs this): the FIN leaves at once.
            server.loop.call_soon(self._hang_up, server.transport)
        return reply

    def _hang_up(self, transport):
        try:
            transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
        except OSError:
            pass
        transport.close()
        with self.lock:
            self.hung_up += 1

    def count(self):
        """Messages taken (when hanging up: and their connections hung up)."""
        with self.lock:
            return min(len(self.messages), self.hung_up) if self.hang_up else len(self.messages)


def wait_captured(captures, count, timeout=BOUND):
    """All messages of `captures` once they hold `count` together."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(c.count() for c in captures) >= count:
            return [m for c in captures for m in list(c.messages)]
        time.sleep(0.05)
    raise AssertionError(f"{count} message(s) not captured in {timeout}s; have "
                         f"{sum(c.count() for c in captures)}")


@pytest.fixture
def mx_hosts():
    """start(host, port, **kw) → a Capture running on host:port; all stopped at teardown."""
    controllers = []

    def start(host, port, **kw):
        handler = Capture(**kw)
        controller = Controller(handler, hostname=host, port=port)
        controller.start()
        controllers.append(controller)
        return handler

    yield start
    for c in controllers:
        c.stop()


# --- 1 to 5: the MX walk --------------------------------------------------------------

def test_second_mx_takes_the_mail_when_the_first_is_down(tern_factory, nsd, port, mx_hosts):
    second = mx_hosts("127.0.0.4", port)  # nothing listens on 127.0.0.3 (preference 10)
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["bob@backup.mx.test"])
    (msg,) = wait_captured([second], 1)
    assert msg["from"] == SENDER and msg["to"] == ["bob@backup.mx.test"]
    assert f"id {qid}".encode() in msg["data"]
    line = wait_log(t, line_for(qid, "bob@backup.mx.test", "mx2.backup.mx.test", port, "sent"))
    assert f"relay=mx2.backup.mx.test[127.0.0.4]:{port}," in line
    assert "dsn=2.0.0" in line and "(250 2.0.0 Ok: captured)" in line
    wait_gone(t, qid)


def test_second_mx_takes_the_mail_when_the_first_greets_with_421(tern_factory, nsd, port,
                                                                  mx_hosts, tmp_path):
    busy = Sink("127.0.0.11", port, tmp_path / "busy").start("-Q", "CONNECT")
    try:
        second = mx_hosts("127.0.0.12", port)
        t = mx_tern(tern_factory, nsd, port)
        qid = send(t, ["bea@busy.mx.test"])
        (msg,) = wait_captured([second], 1)
        assert msg["to"] == ["bea@busy.mx.test"]
        line = wait_log(t, line_for(qid, "bea@busy.mx.test", "mx2.busy.mx.test", port, "sent"))
        assert f"relay=mx2.busy.mx.test[127.0.0.12]:{port}," in line
        wait_gone(t, qid)
    finally:
        busy.stop()


def test_equal_preferences_share_the_mail(tern_factory, nsd, port, mx_hosts):
    """Both hosts hang up after each message, so every message opens a fresh connection
    and the MX walk orders the equal preferences at random anew (RFC 5321 §5.1): over 20
    messages both hosts get some (all to one host: a chance of 2 in 2^20)."""
    a = mx_hosts("127.0.0.5", port, hang_up=True)
    b = mx_hosts("127.0.0.6", port, hang_up=True)
    t = mx_tern(tern_factory, nsd, port)
    n = 20
    qids = []
    for i in range(n):
        qids.append(send(t, [f"user{i}@equal.mx.test"]))
        wait_captured([a, b], i + 1)  # one at a time: each finds the last one's connection
    msgs = wait_captured([a, b], n)
    assert sorted(m["to"][0] for m in msgs) == sorted(f"user{i}@equal.mx.test" for i in range(n))
    assert a.count() > 0 and b.count() > 0, (a.count(), b.count())
    assert {m["host"] for m in a.messages} == {"127.0.0.5"}
    assert {m["host"] for m in b.messages} == {"127.0.0.6"}
    assert a.connections + b.connections >= n  # a connection per message: they hung up
    for i, qid in enumerate(qids):
        line = wait_log(t, rf"{qid}: to=<user{i}@equal\.mx\.test>, .* status=sent ")
        assert (f"relay=mxa.equal.mx.test[127.0.0.5]:{port}," in line or
                f"relay=mxb.equal.mx.test[127.0.0.6]:{port}," in line), line
    log = t.log()
    assert "relay=mxa.equal.mx.test[" in log and "relay=mxb.equal.mx.test[" in log


def test_implicit_mx_is_the_domains_address(tern_factory, nsd, port, mx_hosts):
    host = mx_hosts("127.0.0.7", port)
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["carol@implicit.mx.test"])
    (msg,) = wait_captured([host], 1)
    assert msg["to"] == ["carol@implicit.mx.test"]
    line = wait_log(t, line_for(qid, "carol@implicit.mx.test", "implicit.mx.test", port, "sent"))
    assert f"relay=implicit.mx.test[127.0.0.7]:{port}," in line
    wait_gone(t, qid)


def test_bare_smtp_transport_goes_to_the_mx_past_the_smarthost(tern_factory, nsd, port,
                                                              mx_hosts):
    # relay.smarthost is a dead port: mail to other domains waits for it, but [transport]
    # "smtp" sends implicit.mx.test's mail to its own MX, as Postfix's "smtp:" does.
    host = mx_hosts("127.0.0.7", port)
    t = mx_tern(tern_factory, nsd, port, smarthost=Tern.DEAD_SMARTHOST,
                more='[transport]\n"implicit.mx.test" = "smtp"\n')
    qid = send(t, ["carol@implicit.mx.test"])
    (msg,) = wait_captured([host], 1)
    assert msg["to"] == ["carol@implicit.mx.test"]
    wait_log(t, line_for(qid, "carol@implicit.mx.test", "implicit.mx.test", port, "sent"))
    wait_gone(t, qid)


def test_null_mx_fails_at_once(tern_factory, nsd, port):
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["dave@null.mx.test"])
    line = wait_log(t, rf"{qid}: to=<dave@null\.mx\.test>, .* status=bounced ")
    assert "dsn=5.1.10," in line and "null MX" in line, line
    wait_log(t, rf"{qid}: removed")
    wait_gone(t, qid)
    time.sleep(1.5)  # past first_retry: no second attempt
    assert len(log_lines(t, rf"{qid}: to=<dave@null\.mx\.test>")) == 1


def test_nxdomain_fails_at_once(tern_factory, nsd, port):
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["erin@nosuch.mx.test"])
    line = wait_log(t, rf"{qid}: to=<erin@nosuch\.mx\.test>, .* status=bounced ")
    assert "dsn=5.1.2," in line and "Host or domain name not found" in line, line
    wait_log(t, rf"{qid}: removed")
    wait_gone(t, qid)
    time.sleep(1.5)
    assert len(log_lines(t, rf"{qid}: to=<erin@nosuch\.mx\.test>")) == 1


# --- 6: a name server that never answers ---------------------------------------------

def test_silent_name_server_defers(tern_factory, nsd, port, silent_dns):
    t = mx_tern(tern_factory, nsd, port, stubs={"silent.test": silent_dns.address})
    started = time.monotonic()
    qid = send(t, ["frank@silent.test"])
    line = wait_log(t, rf"{qid}: to=<frank@silent\.test>, .* status=deferred ")
    assert time.monotonic() - started < 8, "the 2 s DNS deadline was not applied"
    assert "dsn=4.4.3," in line and "relay=none," in line, line
    assert "Name service error for name=silent.test type=MX" in line, line
    (entry,) = [e for e in t.queue() if e["queue_id"] == qid]
    (r,) = entry["recipients"]
    assert r["address"] == "frank@silent.test" and r["state"] == "pending", r
    assert r["attempts"] >= 1
    assert r["last_error"].startswith("4.4.3 ") and "silent.test" in r["last_error"], r


# --- 7: failures injected with smtp-sink ---------------------------------------------

class Sink:
    """Postfix's smtp-sink on host:port, with `options` (failure injection); restartable
    on the same address and port; dumps each message it takes into `dump`."""

    def __init__(self, host, port, dump):
        self.host, self.port, self.dump = host, port, dump
        self.proc = None

    def start(self, *options):
        self.dump.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "root", "-d", f"{self.dump}/m.", *options,
             f"{self.host}:{self.port}", "10"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.host, self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def dumped(self):
        return [p.read_text(errors="replace") for p in sorted(self.dump.iterdir())]


@pytest.fixture
def sink(tmp_path, port):
    s = Sink("127.0.0.8", port, tmp_path / "dump")
    yield s
    s.stop()


def test_4xx_to_rcpt_is_retried_until_delivered(tern_factory, nsd, port, sink):
    sink.start("-r", "RCPT", "-b", "451 4.7.1 Try again later")
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["gina@sink.mx.test"])
    line = wait_log(t, line_for(qid, "gina@sink.mx.test", "mx.sink.mx.test", port, "deferred"))
    assert "dsn=4.7.1," in line and "451 4.7.1 Try again later" in line, line
    assert "(in reply to RCPT TO command)" in line, line
    (entry,) = [e for e in t.queue() if e["queue_id"] == qid]
    assert "451 4.7.1 Try again later" in entry["recipients"][0]["last_error"]
    assert sink.dumped() == []
    # The failure is removed: the same address and port, no -r. Ternd's cached connection
    # to the old sink is dead; the retry (about 1 to 2 s away) opens a new one.
    sink.stop()
    sink.start()
    line = wait_log(t, line_for(qid, "gina@sink.mx.test", "mx.sink.mx.test", port, "sent"))
    wait_gone(t, qid)
    (dump,) = sink.dumped()
    assert "gina@sink.mx.test" in dump and f"id {qid}" in dump


def test_5xx_to_rcpt_fails_the_recipient(tern_factory, nsd, port, sink):
    """The bounce arrives in the (local) sender's mailbox; every DSN field is checked."""
    sink.start("-f", "RCPT", "-B", "550 5.1.1 No such user here")
    t = mx_tern(tern_factory, nsd, port)
    qid = send(t, ["henry@sink.mx.test"], sender="owner@example.test",
               body=b"Subject: to henry\r\n\r\nhello henry\r\n")
    line = wait_log(t, line_for(qid, "henry@sink.mx.test", "mx.sink.mx.test", port, "bounced"))
    assert "dsn=5.1.1," in line and "550 5.1.1 No such user here" in line, line
    wait_log(t, rf"{qid}: removed")
    wait_gone(t, qid)
    assert sink.dumped() == []

    (raw,) = t.wait_messages("owner")
    assert raw.startswith(b"Return-Path: <>\n")
    report = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert report["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    human, status, returned = report.get_payload()
    assert "henry@sink.mx.test" in human.get_payload(decode=True).decode()
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_rcpt = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; mx.example.test"
    assert per_message["Arrival-Date"]
    assert per_rcpt["Final-Recipient"] == "rfc822; henry@sink.mx.test"
    assert per_rcpt["Action"] == "failed"
    assert per_rcpt["Status"] == "5.1.1"
    assert per_rcpt["Remote-MTA"] == "dns; mx.sink.mx.test"
    assert per_rcpt["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here"
    assert per_rcpt["Last-Attempt-Date"]
    assert returned.get_content_type() == "message/rfc822"
    assert returned.get_payload()[0]["Subject"] == "to henry"


# --- 8: connection reuse and pipelining ----------------------------------------------

class PipelineWitness:
    """A minimal SMTP server (threads, blocking sockets) that offers PIPELINING and
    witnesses it: when MAIL arrives it waits `delay` seconds before replying, then records
    which commands had already arrived, unprompted, and which came in the same reads as
    the MAIL line. Every transaction is recorded with its connection's number."""

    def __init__(self, host, port, delay=0.2):
        self.delay = delay
        self.lock = threading.Lock()
        self.connections = 0
        self.transactions = []
        self.stopping = False
        self.socks = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
                self.socks.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        c.settimeout(BOUND)
        buf = b""

        def line():
            nonlocal buf
            while b"\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    raise EOFError
                buf += chunk
            l, buf = buf.split(b"\r\n", 1)
            return l.decode("utf-8", "replace")

        def pending():
            return [l.decode() for l in buf.split(b"\r\n")[:-1]]

        try:
            c.sendall(b"220 witness ESMTP\r\n")
            while True:
                cmd = line()
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    c.sendall(b"250-witness\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    tx = {"connection": n, "mail": cmd, "same_read": pending(), "rcpts": []}
                    time.sleep(self.delay)
                    c.setblocking(False)  # (with a timeout, recv would wait for more)
                    try:
                        while chunk := c.recv(65536):
                            buf += chunk
                    except BlockingIOError:
                        pass
                    c.settimeout(BOUND)
                    tx["before_reply"] = pending()
                    c.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    tx["rcpts"].append(cmd)
                    c.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    c.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = []
                    while (l := line()) != ".":
                        data.append(l)
                    tx["data"] = "\r\n".join(data)
                    with self.lock:
                        self.transactions.append(tx)
                    c.sendall(b"250 2.0.0 Ok: witnessed\r\n")
                elif verb in ("RSET", "NOOP"):
                    c.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"502 5.5.2 Error: command not recognized\r\n")
        except (EOFError, OSError):
            return
        finally:
            c.close()

    def wait(self, count, timeout=BOUND):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.transactions) >= count:
                    return list(self.transactions)
            time.sleep(0.05)
        raise AssertionError(f"{count} transaction(s) not seen; have {len(self.transactions)}")

    def stop(self):
        self.stopping = True
        self.listener.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(5)


@pytest.fixture
def witness(port):
    w = PipelineWitness("127.0.0.9", port)
    yield w
    w.stop()


def test_one_pipelined_connection_carries_many_messages(tern_factory, nsd, port, witness):
    t = mx_tern(tern_factory, nsd, port)
    rcpts = ["ivan@pipe.mx.test", "judy@pipe.mx.test"]
    n = 5
    qids = []
    for i in range(n):
        qids.append(send(t, rcpts, body=f"Subject: m{i}\r\n\r\nmessage {i}\r\n".encode()))
        witness.wait(i + 1)  # one at a time: each finds the last one's idle connection
    txs = witness.wait(n)
    assert witness.connections == 1, witness.connections  # reused, not one per message
    for i, tx in enumerate(txs):
        assert tx["mail"] == f"MAIL FROM:<{SENDER}>", tx
        assert tx["rcpts"] == [f"RCPT TO:<{r}>" for r in rcpts], tx
        # RFC 2920: the RCPTs and DATA were sent without waiting for MAIL's reply, in one
        # write (they came in the same read as MAIL).
        expected = [f"RCPT TO:<{r}>" for r in rcpts] + ["DATA"]
        assert tx["before_reply"] == expected, tx
        assert tx["same_read"] == expected, tx
        assert f"message {i}" in tx["data"]
    for qid in qids:
        for r in rcpts:
            wait_log(t, line_for(qid, r, "mx.pipe.mx.test", port, "sent"))
        wait_gone(t, qid)


# --- 9: a restart while messages wait ------------------------------------------------

def test_deferred_mail_survives_a_restart(tern_factory, nsd, port, mx_hosts):
    t = mx_tern(tern_factory, nsd, port)
    rcpts = [f"kim{i}@restart.mx.test" for i in range(3)]
    qids = [send(t, [r]) for r in rcpts]
    for qid, r in zip(qids, rcpts):  # nothing listens on 127.0.0.10 yet
        line = wait_log(t, rf"{qid}: to=<{re.escape(r)}>, relay=none, .* status=deferred ")
        assert "dsn=4.4.1," in line, line
        assert f"(connect to mx.restart.mx.test[127.0.0.10]:{port}: Connection refused)" in line
    t.stop(signal.SIGTERM)
    assert sorted(e["queue_id"] for e in t.queue()) == sorted(qids)  # ternctl reads the spool
    host = mx_hosts("127.0.0.10", port)
    t.start()
    msgs = wait_captured([host], len(rcpts))
    assert sorted(m["to"][0] for m in msgs) == sorted(rcpts)
    for qid in qids:
        wait_gone(t, qid)
    assert host.count() == len(rcpts)  # each once
