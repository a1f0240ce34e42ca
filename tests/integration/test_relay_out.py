"""Outbound delivery through a smarthost ([relay] smarthost = "[127.0.0.x]:port"): the
message reaches a real SMTP server (aiosmtpd capturing the envelope and content, Postfix's
smtp-sink dumping the ESMTP parameters) with its envelope and parameters intact; one
connection carries many messages; a server's 4xx defers and a later success delivers; a
5xx fails the recipient."""

import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port, wait_port

SINK_HOST = "127.0.0.2"


class Capture:
    """An aiosmtpd handler that keeps every envelope and counts connections."""

    def __init__(self):
        self.messages = []
        self.connections = 0
        self.lock = threading.Lock()
        self.reply = "250 2.0.0 Ok: captured"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.reply.startswith("250"):
                self.messages.append({
                    "host": server.transport.get_extra_info("sockname")[0],
                    "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                    "mail_options": list(envelope.mail_options),
                    "data": envelope.original_content or envelope.content,
                    "helo": session.host_name,
                })
            return self.reply

    def wait(self, count, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) not captured; have {len(self.messages)}")


@pytest.fixture
def capture():
    handler = Capture()
    port = free_port(SINK_HOST)
    controller = Controller(handler, hostname=SINK_HOST, port=port, enable_SMTPUTF8=True)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


def smarthost_tern(tern_factory, port, extra=""):
    return tern_factory(extra=f'[queue]\nfirst_retry = 1\n{extra}').start_with_smarthost(
        f"[{SINK_HOST}]:{port}")


def send(t, rcpts, body=b"Subject: out\r\n\r\nhello remote\r\n", sender="a@example.org",
         mail_params=""):
    c = t.client()
    c.send(f"MAIL FROM:<{sender}>{mail_params}\r\n".encode())
    assert c.code() == 250
    for r in rcpts:
        c.send(f"RCPT TO:<{r}>\r\n".encode())
        assert c.code() == 250
    c.send(b"DATA\r\n")
    assert c.code() == 354
    c.send(body + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    return lines[0].split()[-1]


def test_message_reaches_the_smarthost_with_its_envelope(tern_factory, capture):
    t = smarthost_tern(tern_factory, capture.port)
    qid = send(t, ["bob@remote.example", "carol@other.example"],
               mail_params=" BODY=8BITMIME")
    (msg,) = capture.wait(1)
    assert msg["from"] == "a@example.org"
    assert msg["to"] == ["bob@remote.example", "carol@other.example"]  # one transaction
    assert "BODY=8BITMIME" in msg["mail_options"]
    assert any(o.startswith("SIZE=") for o in msg["mail_options"])
    assert msg["helo"] == "mx.example.test"
    assert b"hello remote" in msg["data"] and f"id {qid}".encode() in msg["data"]
    deadline = time.monotonic() + 10
    while t.queue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.queue() == []
    log = t.log()
    assert f"{qid}: to=<bob@remote.example>, relay={SINK_HOST}[{SINK_HOST}]:{capture.port}" in log
    assert "status=sent (250 2.0.0 Ok: captured)" in log
    assert f"{qid}: removed" in log


def test_one_connection_carries_many_messages(tern_factory, capture):
    t = smarthost_tern(tern_factory, capture.port)
    for i in range(10):
        send(t, [f"user{i}@remote.example"])
        capture.wait(i + 1)  # one at a time: each finds the last one's idle connection
    assert capture.connections == 1, capture.connections  # reused, not one per message


def test_dot_lines_are_stuffed(tern_factory, capture):
    t = smarthost_tern(tern_factory, capture.port)
    # On the wire to Tern, stuffed: "..leading" is the line ".leading".
    send(t, ["dot@remote.example"], body=b"Subject: dots\r\n\r\n..leading\r\n...two\r\n")
    (msg,) = capture.wait(1)
    assert msg["data"].endswith(b"\r\n.leading\r\n..two\r\n")


def test_temporary_failure_is_retried(tern_factory, capture):
    capture.reply = "451 4.3.0 try again later"
    t = smarthost_tern(tern_factory, capture.port)
    qid = send(t, ["later@remote.example"])
    deadline = time.monotonic() + 10
    while "status=deferred" not in t.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"{qid}: to=<later@remote.example>" in t.log() and "status=deferred" in t.log()
    (entry,) = t.queue()
    assert entry["recipients"][0]["attempts"] >= 1
    assert "451 4.3.0 try again later" in entry["recipients"][0]["last_error"]
    capture.reply = "250 2.0.0 Ok: captured"
    capture.wait(1, timeout=10)  # first_retry = 1 s
    deadline = time.monotonic() + 10
    while t.queue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.queue() == []


def test_permanent_failure_fails_the_recipient(tern_factory, capture):
    capture.reply = "554 5.7.1 no thanks"
    t = smarthost_tern(tern_factory, capture.port)
    qid = send(t, ["never@remote.example"])
    deadline = time.monotonic() + 10
    while f"{qid}: removed" not in t.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = t.log()
    assert "status=bounced (host 127.0.0.2[127.0.0.2] said: 554 5.7.1 no thanks (in reply to end of DATA command))" in log


def test_dsn_parameters_reach_a_dsn_server(tern_factory, tmp_path):
    """smtp-sink offers DSN; its dump shows the MAIL and RCPT parameters we passed on."""
    port = free_port(SINK_HOST)
    dump = tmp_path / "dump"
    dump.mkdir()
    sink = subprocess.Popen(["smtp-sink", "-D", str(dump / "%Q"), "-u", "root",
                             f"{SINK_HOST}:{port}", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(SINK_HOST, port)
        t = smarthost_tern(tern_factory, port)
        c = t.client()
        c.send(b"MAIL FROM:<a@example.org> RET=HDRS ENVID=env+2B1\r\n"
               b"RCPT TO:<d@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;d+40remote.example\r\n"
               b"DATA\r\n")
        assert [code for code, _ in c.replies(3)] == [250, 250, 354]
        c.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
        assert c.code() == 250
        deadline = time.monotonic() + 10
        while not list(dump.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        text = "".join(p.read_text(errors="replace") for p in dump.iterdir())
        assert "RET=HDRS" in text and "ENVID=env+2B1" in text, text
        assert "NOTIFY=SUCCESS,FAILURE" in text and "ORCPT=rfc822;d@remote.example" in text, text  # "@" needs no xtext escape
    finally:
        sink.terminate()
        sink.wait(5)


def test_smtputf8_message_to_a_server_without_it_bounces(tern_factory):
    """RFC 6531 §3.2: a message that needs SMTPUTF8 is not downgraded: it fails with 5.6.7."""
    handler = Capture()
    port = free_port(SINK_HOST)
    controller = Controller(handler, hostname=SINK_HOST, port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        t = smarthost_tern(tern_factory, port)
        qid = send(t, ["jörg@remote.example"], mail_params=" SMTPUTF8",
                   body="Subject: grüße\r\n\r\nx\r\n".encode())
        deadline = time.monotonic() + 10
        while f"{qid}: removed" not in t.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "dsn=5.6.7, status=bounced (SMTPUTF8 is required, but was not offered" in t.log()
        # Only the report to the sender reached the server, never the message itself.
        assert all(m["from"] == "<>" for m in handler.messages), handler.messages
    finally:
        controller.stop()


def test_tern_to_tern_uses_bdat_and_pipelining(tern_factory):
    """Tern offers CHUNKING and PIPELINING, so a Tern relaying to a Tern sends BDAT."""
    # far.example is a mailbox domain of the inner Tern only; the outer one relays it.
    inner = tern_factory(extra='[transport]\n"far.example" = "maildir"\n').start()
    relay = tern_factory(extra="[queue]\nfirst_retry = 1\n")
    relay.start_with_smarthost(f"[{inner.host}]:{inner.port}")
    qid = send(relay, ["zoe@far.example"], body=b"Subject: chunked\r\n\r\n..dot line\r\n")
    (msg,) = inner.wait_messages("zoe", domain="far.example")
    assert msg.endswith(b"\n.dot line\n")
    assert f"id {qid}".encode() in msg  # the outer Received header travelled along
    deadline = time.monotonic() + 5
    while "bdat=1" not in inner.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "bdat=1" in inner.log() and "data=" not in inner.log().split("bdat=1")[0].splitlines()[-1]


def test_large_message_arrives_intact(tern_factory, capture):
    """A 3 MiB message crosses in many data blocks (each under its own deadline)."""
    t = smarthost_tern(tern_factory, capture.port)
    lines = b"".join(b"line %07d " % i + b"x" * 60 + b"\r\n" for i in range(40000))
    send(t, ["big@remote.example"], body=b"Subject: big\r\n\r\n" + lines)
    (msg,) = capture.wait(1, timeout=30)
    assert msg["data"].endswith(lines)
