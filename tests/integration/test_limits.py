"""Limits a client runs into, each with its reply, and the session still usable where the
RFC lets it go on: SIZE= over the limit (552 at MAIL), a message over the limit (552
5.3.4, nothing delivered), the recipient limit (452 4.5.3 for the extra ones), command
lines over 512 octets, text lines over 1000 octets, too many errors (421 and close),
too many connections from one address (421 4.7.0) and the command and data timeouts (421
4.4.2)."""

import time

from conftest import RawClient, envelope, send_message


def test_declared_size_over_the_limit_is_refused_at_mail(tern_factory):
    t = tern_factory(extra='[limits]\nmessage_size = "64k"\n').start()
    c = t.client()
    assert "250-SIZE 65536" in c.ehlo()
    assert c.command("MAIL FROM:<s@example.org> SIZE=65537") == (
        552, ["552 5.3.4 Message size exceeds fixed limit of 65536 octets"])
    assert c.command("MAIL FROM:<s@example.org> SIZE=65536")[0] == 250


def test_message_over_the_limit_is_refused_and_nothing_delivered(tern_factory):
    t = tern_factory(extra='[limits]\nmessage_size = "64k"\n').start()
    c = t.client()
    big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n"
    code, lines = send_message(c, ["alice@example.test"], big * 70)
    assert lines == ["552 5.3.4 Message size exceeds fixed limit of 65536 octets"]
    assert "NOQUEUE: reject: DATA from unknown[127.0.0.1]: 552 5.3.4" in t.log()
    # in sync: the next transaction on the same connection works
    code, lines = send_message(c, ["alice@example.test"], b"Subject: small\r\n\r\nsmall\r\n")
    assert code == 250, lines
    msgs = t.wait_messages("alice")
    assert len(msgs) == 1 and msgs[0].endswith(b"\nsmall\n")
    assert t.queue() == []


def test_message_size_limit_is_exact(tern_factory):
    """message_size octets of text (as sent, before dot-unstuffing) pass; one more does not."""
    t = tern_factory(extra='[limits]\nmessage_size = "1k"\n').start()
    c = t.client()
    for size, expected in ((1024, 250), (1025, 552)):
        body = b"Subject: x\r\n\r\n" + (b"y" * 98 + b"\r\n") * 10
        body += b"z" * (size - len(body) - 2) + b"\r\n"
        assert send_message(c, ["grace@example.test"], body)[0] == expected, size
        assert len(body) == size
        c.send(f"MAIL FROM:<s@example.org>\r\nRCPT TO:<grace@example.test>\r\n"
               f"BDAT {size} LAST\r\n".encode() + body)  # lines, as BDAT text must have
        assert [code for code, _ in c.replies(3)] == [250, 250, expected], size
    assert len(t.wait_messages("grace", 2)) == 2


def test_recipient_limit(tern_factory):
    """The 101st RCPT gets 452; a pipelining client sends the whole list before it reads a
    reply, so the 452s past the limit do not count as errors that end the session."""
    t = tern_factory(extra="[limits]\nrecipients = 100\nerrors = 5\n").start()
    c = t.client()
    rcpts = [f"u{i}@example.test" for i in range(110)]
    c.send(envelope(rcpts))
    got = c.replies(112)
    assert [code for code, _ in got[:101]] == [250] * 101
    assert got[101:111] == [(452, ["452 4.5.3 Error: too many recipients"])] * 10
    assert got[111][0] == 354
    c.send(b"Subject: many\r\n\r\nto a hundred\r\n.\r\n")
    assert c.code() == 250
    for i in range(100):
        assert len(t.wait_messages(f"u{i}")) == 1
    assert t.messages("u100") == [] and t.messages("u109") == []


def test_command_line_over_512_octets(tern):
    c = tern.client()
    # 510 octets + CRLF = 512: the longest line allowed
    assert c.command("NOOP " + "x" * 505) == (250, ["250 2.0.0 Ok"])
    code, lines = c.command("NOOP " + "x" * 506)
    assert code == 500 and lines[0].startswith("500 5.5.2 Line too long"), lines
    # a very long line, arriving in pieces, is skipped as one
    c.send(b"MAIL FROM:<" + b"a" * 40000)
    time.sleep(0.05)
    c.send(b"a" * 40000 + b"@example.org>\r\nNOOP\r\n")
    assert c.code() == 500
    assert c.code() == 250
    assert c.silent()
    code, lines = send_message(c, ["bob@example.test"])
    assert code == 250, lines


def test_text_line_over_1000_octets_in_data(tern):
    c = tern.client()
    body = b"Subject: long\r\n\r\n" + b"y" * 999 + b"\r\n"
    code, lines = send_message(c, ["carol@example.test"], body)
    assert code == 550 and lines[0].startswith("550 5.") and "line" in lines[0], lines
    body = b"Subject: long\r\n\r\n" + b"y" * 998 + b"\r\n"  # 1000 with CRLF: allowed
    code, lines = send_message(c, ["carol@example.test"], body)
    assert code == 250, lines
    (msg,) = tern.wait_messages("carol")
    assert msg.endswith(b"\n" + b"y" * 998 + b"\n")


def test_too_many_errors_closes_the_connection(tern_factory):
    t = tern_factory(extra="[limits]\nerrors = 5\n").start()
    c = t.client()
    c.send(b"BOGUS\r\n" * 4)
    assert [code for code, _ in c.replies(4)] == [500] * 4
    assert c.command("NOOP")[0] == 250  # good commands do not count
    c.send(b"BOGUS\r\nNOOP\r\n")
    assert c.code() == 500
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.7.0 Too many errors"), lines
    assert c.closed()
    assert "too many errors after unknown from unknown[127.0.0.1]" in t.log()


def test_connections_per_client(tern_factory):
    t = tern_factory(extra="[limits]\nconnections_per_client = 3\n").start()
    first = [t.client() for _ in range(3)]
    fourth = RawClient(t.host, t.port)
    try:
        code, lines = fourth.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0 mx.example.test Error: too many "
                                                   "connections from your address"), lines
        assert fourth.closed()
    finally:
        fourth.close()
    assert "refused connection from unknown[127.0.0.1]: 421 4.7.0" in t.log()
    # the three admitted sessions work, and a slot freed is a slot available
    assert first[0].command("QUIT")[0] == 221
    assert first[0].closed()
    deadline = time.monotonic() + 5
    while True:
        again = RawClient(t.host, t.port)
        code, _ = again.reply()
        if code == 220 or time.monotonic() > deadline:
            break
        again.close()
        time.sleep(0.05)
    assert code == 220
    again.close()
    assert send_message(first[1], ["dave@example.test"])[0] == 250


def test_idle_client_times_out(tern_factory):
    """command_timeout between commands, data_timeout inside a message: 421 4.4.2, close."""
    t = tern_factory(extra="[limits]\ncommand_timeout = 2\ndata_timeout = 2\n").start()
    idle = t.client()
    in_data = t.client()
    in_data.send(envelope(["erin@example.test"]) + b"Subject: cut\r\n\r\npartial")
    assert [code for code, _ in in_data.replies(3)] == [250, 250, 354]
    started = time.monotonic()
    for c in (idle, in_data):
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2 "), lines
        assert c.closed()
    assert 1.5 < time.monotonic() - started < 5
    log = t.log()
    assert "timeout after EHLO from unknown[127.0.0.1]" in log
    assert "timeout after DATA from unknown[127.0.0.1]" in log
    assert t.messages("erin") == [] and t.queue() == []
