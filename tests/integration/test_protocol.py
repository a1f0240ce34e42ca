"""The SMTP dialogue (RFC 5321) as a client sees it: commands out of order (503), garbage
(500 5.5.2), bad syntax (501), unknown parameters (555), the small commands (VRFY 252, HELP
214, NOOP/RSET 250, EXPN 502, STARTTLS 502 without a certificate, AUTH 503 without a
backend), and after every refusal the session still delivers. Every reply carries an enhanced status code (RFC 2034) except the greeting, the
HELO/EHLO replies and 354. A connection lost inside DATA delivers nothing. An HTTP request
is answered 421 and closed. HELO offers no extensions (555) and is traced "with SMTP";
SMTPUTF8 (RFC 6531) and DSN (RFC 3461) parameters are accepted, stored and shown by
ternctl."""

import re
import time

import pytest

from conftest import envelope, queue_id, send_message

ENHANCED = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


def check_enhanced(got):
    """Every line of every reply in `got` ((code, lines) pairs) has an enhanced code."""
    for code, lines in got:
        for line in lines:
            assert ENHANCED.match(line), f"no enhanced status code: {line!r}"


def delivers(t, c, user):
    """A valid transaction on c after whatever came before it: the session is in step."""
    code, lines = send_message(c, [f"{user}@example.test"], b"Subject: ok\r\n\r\nin sync\r\n")
    assert code == 250, lines
    (msg,) = t.wait_messages(user)
    assert msg.endswith(b"in sync\n")


# (commands, "code enhanced-code" of the last reply, whether EHLO comes first)
OUT_OF_ORDER = [
    (["MAIL FROM:<a@example.org>"], "503 5.5.1", False),
    (["RCPT TO:<alice@example.test>"], "503 5.5.1", True),
    (["DATA"], "503 5.5.1", True),
    (["MAIL FROM:<a@example.org>", "DATA"], "554 5.5.1", True),
    (["MAIL FROM:<a@example.org>", "MAIL FROM:<b@example.org>"], "503 5.5.1", True),
]


@pytest.mark.parametrize("commands,expected,ehlo", OUT_OF_ORDER,
                         ids=["mail-before-ehlo", "rcpt-before-mail", "data-before-mail",
                              "data-before-rcpt", "nested-mail"])
def test_commands_out_of_order(tern, commands, expected, ehlo):
    c = tern.client(ehlo="client.example" if ehlo else None)
    got = [c.command(cmd) for cmd in commands]
    assert got[-1][1][0].startswith(expected + " "), got
    check_enhanced(got)
    if not ehlo:
        c.ehlo()
    c.command("RSET")
    delivers(tern, c, "alice")


REFUSED = [
    ("FOO BAR", "500 5.5.2"),
    ("MAILX FROM:<a@example.org>", "500 5.5.2"),
    ("\x01\x02\xff garbage", "500 5.5.2"),
    ("", "500 5.5.2"),
    ("MAIL TO:<a@example.org>", "501 5.5.2"),
    ("MAIL FROM:a@example.org", "501 5.5.2"),
    ("MAIL FROM:<a@example.org> FOO=bar", "555 5.5.4"),
    ("MAIL FROM:<a@example.org> BODY=BINARYMIME", "555 5.5.4"),
    ("MAIL FROM:<a@example.org> SIZE=big", "501 5.5.4"),
    ("MAIL FROM:<a@@example.org>", "553 5.1.7"),
    ("EXPN staff", "502 5.5.1"),
    ("STARTTLS", "502 5.5.1"),
    ("AUTH PLAIN AGFAAGI=", "503 5.5.1"),
    ("EHLO", "501 5.5.4"),
    ("DATA now", "501 5.5.4"),
]


@pytest.mark.parametrize("line,expected", REFUSED, ids=[r[0][:24] or "empty" for r in REFUSED])
def test_refused_commands_leave_the_session_in_step(tern, line, expected):
    c = tern.client()
    c.send(line.encode("latin-1") + b"\r\n")
    got = c.reply()
    assert got[1][0].startswith(expected + " "), got
    check_enhanced([got])
    assert c.silent()
    delivers(tern, c, "bob")


def test_small_commands(tern):
    c = tern.client()
    got = []
    for cmd, expected in [("VRFY alice@example.test", "252 2.5.0"), ("HELP", "214 2.0.0"),
                          ("NOOP", "250 2.0.0"), ("noop with text", "250 2.0.0"),
                          ("RSET", "250 2.0.0"), ("rset", "250 2.0.0")]:
        r = c.command(cmd)
        assert r[1][-1].startswith(expected), (cmd, r)
        got.append(r)
    assert len(got[1][1]) > 1  # HELP: a multi-line reply, every line coded
    check_enhanced(got)
    # RSET in the middle of a transaction forgets it
    c.send(b"MAIL FROM:<x@example.org>\r\nRCPT TO:<carol@example.test>\r\nRSET\r\nDATA\r\n")
    assert [code for code, _ in c.replies(4)] == [250, 250, 250, 503]
    delivers(tern, c, "carol")
    assert c.command("QUIT") == (221, ["221 2.0.0 Bye"])
    assert c.closed()


def test_every_reply_of_a_dialogue_has_an_enhanced_code(tern):
    c = tern.client(ehlo=None)
    ehlo = c.ehlo()
    assert all(not ENHANCED.match(line) for line in ehlo)  # RFC 2034 §3: not in EHLO
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<dave@example.test>\r\nRCPT TO:<bad>\r\n"
           b"RCPT TO:<\"a/b\"@example.test>\r\nRSET\r\n")
    got = c.replies(5)
    assert [code for code, _ in got] == [250, 250, 553, 550, 250], got
    check_enhanced(got)
    rest = [c.command(cmd) for cmd in ("NOOP", "VRFY x", "HELP", "BOGUS", "MAIL FROM:<>",
                                       "RCPT TO:<dave@example.test>")]
    check_enhanced(rest)
    assert c.command("DATA")[0] == 354
    c.send(b"Subject: x\r\n\r\nx\r\n.\r\nQUIT\r\n")
    check_enhanced(c.replies(2))


def test_connection_lost_in_data_delivers_nothing(tern):
    """RFC 5321 §4.1.1.4: a message is only complete with its end marker."""
    c = tern.client()
    c.send(envelope(["heidi@example.test"]) + b"Subject: cut\r\n\r\nhalf a message\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.close()
    deadline = time.monotonic() + 5
    while "disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1" not in tern.log():
        assert time.monotonic() < deadline, tern.log()
        time.sleep(0.05)
    assert tern.messages("heidi") == [] and tern.queue() == []


def test_http_request_is_refused_and_closed(tern):
    c = tern.client(ehlo=None)
    c.send(b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n")
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0 "), lines
    assert c.closed()
    assert "non-SMTP command from unknown[127.0.0.1]: GET / HTTP/1.1" in tern.log()


def test_helo_offers_no_extensions(tern):
    c = tern.client(ehlo=None)
    assert c.command("HELO client.example") == (250, ["250 mx.example.test"])
    code, lines = c.command("MAIL FROM:<a@example.org> SIZE=100")
    assert code == 555 and lines[0].startswith("555 5.5.4 "), lines
    code, lines = c.command("MAIL FROM:<a@example.org> BODY=8BITMIME")
    assert code == 555, lines
    code, lines = send_message(c, ["erin@example.test"])
    assert code == 250, lines
    (msg,) = tern.wait_messages("erin")
    assert b"by mx.example.test (Tern) with SMTP id " + queue_id(lines).encode() in msg


def test_smtputf8_delivers_to_a_utf8_mailbox(tern):
    c = tern.client()
    c.send("MAIL FROM:<expéditeur@example.org> SMTPUTF8\r\nRCPT TO:<josé@example.test>\r\n"
           "DATA\r\n".encode())
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send("Subject: olé\r\n\r\nÜnïcödé\r\n.\r\n".encode())
    code, lines = c.reply()
    assert code == 250, lines
    (msg,) = tern.wait_messages("josé")
    assert msg.startswith("Return-Path: <expéditeur@example.org>\nDelivered-To: josé@example.test\n"
                          .encode())
    assert b"with UTF8SMTP id " + queue_id(lines).encode() in msg
    assert msg.endswith("Ünïcödé\n".encode())


def test_utf8_address_without_smtputf8_is_refused(tern):
    c = tern.client()
    code, lines = c.command("MAIL FROM:<expéditeur@example.org>")
    assert code == 553 and lines[0].startswith("553 5.6.7 "), lines
    assert c.command("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = c.command("RCPT TO:<josé@example.test>")
    assert code == 553 and lines[0].startswith("553 5.6.7 "), lines
    c.command("RSET")
    delivers(tern, c, "frank")
    assert not tern.maildir("josé").exists()


def test_dsn_parameters_are_stored(tern):
    c = tern.client()
    c.send(b"MAIL FROM:<s@example.org> RET=HDRS ENVID=env+2Bid-42\r\n"
           b"RCPT TO:<r1@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2B1@remote.example\r\n"
           b"RCPT TO:<r2@remote.example> NOTIFY=NEVER\r\n"
           b"DATA\r\n")
    assert [code for code, _ in c.replies(4)] == [250, 250, 250, 354]
    c.send(b"Subject: dsn\r\n\r\nwith DSN\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    qid = queue_id(lines)

    (entry,) = tern.queue()
    assert entry["queue_id"] == qid and entry["sender"] == "s@example.org"
    r1, r2 = entry["recipients"]
    assert r1["address"] == "r1@remote.example" and r1["orcpt"] == "rfc822;orig+1@remote.example"
    assert r2["address"] == "r2@remote.example" and "orcpt" not in r2
    assert r1["notify"] != r2["notify"] and r1["notify"] and r2["notify"]

    show = tern.ctl("queue", "show", qid).stdout
    assert "DSN RET:   HDRS" in show
    assert "DSN ENVID: env+id-42" in show
    assert "NOTIFY=SUCCESS,FAILURE" in show and "ORCPT=rfc822;orig+1@remote.example" in show
    assert "NOTIFY=NEVER" in show
