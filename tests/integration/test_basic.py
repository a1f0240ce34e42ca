"""Sending with smtplib and swaks to the real ternd: the message lands in the Maildir
with Return-Path, Delivered-To and our Received header; the 250 names the queue ID."""

import re
import smtplib
import subprocess


def test_smtplib_delivers_to_maildir(tern):
    with smtplib.SMTP(tern.host, tern.port, timeout=10) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("chunking") and s.has_extn("dsn")
        assert s.has_extn("smtputf8") and s.has_extn("8bitmime")
        assert int(s.esmtp_features["size"]) == 50 * 1024 * 1024
        s.mail("sender@example.org")
        s.rcpt("alice@example.test")
        code, text = s.data(b"Subject: hi\r\n\r\nHello Alice\r\n.dot\r\n")
        assert code == 250
        m = re.search(rb"queued as ([0-9A-Z]{16})", text)
        assert m, text
        qid = m.group(1).decode()
    (msg,) = tern.wait_messages("alice")
    assert msg.startswith(b"Return-Path: <sender@example.org>\nDelivered-To: alice@example.test\n")
    assert b"Received: from client.example ([127.0.0.1])\n\tby mx.example.test (Tern) with ESMTP id " + qid.encode() in msg
    assert b"\n\tfor <alice@example.test>;" in msg
    assert msg.endswith(b"Hello Alice\n.dot\n")
    assert b"\r" not in msg
    log = tern.log()
    assert f"{qid}: from=<sender@example.org>, size=" in log
    assert f"{qid}: to=<alice@example.test>, relay=local" in log


def test_swaks_delivers(tern):
    r = subprocess.run(["swaks", "--server", f"{tern.host}:{tern.port}", "--from", "s@example.org",
                        "--to", "bob@example.test", "--header", "Subject: swaks test",
                        "--body", "swaks body"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    (msg,) = tern.wait_messages("bob")
    assert b"Subject: swaks test" in msg and b"swaks body" in msg
