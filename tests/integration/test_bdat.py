"""CHUNKING (RFC 3030): BDAT chunks of exact octet counts, pipelined or not, land in the
Maildir byte for byte (a chunk boundary may split a CRLF); BDAT 0 LAST ends a message; a
BDAT that fails still has its chunk read, so the session stays in step, and one without a
valid size ends the session; DATA after BDAT is refused; chunks over the size limit are
refused with 552 5.3.4. The text gets DATA's rules (a bare CR or LF, NUL, an overlong line
is refused, as Postfix's smtpd_forbid_bare_newline does for BDAT too): CHUNKING changes
how a message is framed, not what it may hold (RFC 3030 §2, RFC 6152)."""

from conftest import queue_id


def bdat(n, last=False):
    return f"BDAT {n}{' LAST' if last else ''}\r\n".encode()


def start(c, rcpt):
    c.send(f"MAIL FROM:<s@example.org>\r\nRCPT TO:<{rcpt}>\r\n".encode())
    assert [code for code, _ in c.replies(2)] == [250, 250]


def test_several_chunks_then_last(tern):
    c = tern.client()
    start(c, "alice@example.test")
    chunks = [b"Subject: chunked\r\n\r\n", b"first part, ", b"second part\r\nthird line\r\n"]
    for chunk in chunks[:-1]:
        c.send(bdat(len(chunk)) + chunk)
        assert c.reply() == (250, [f"250 2.0.0 {len(chunk)} octets received"])
    c.send(bdat(len(chunks[-1]), last=True) + chunks[-1])
    code, lines = c.reply()
    assert code == 250, lines
    qid = queue_id(lines)
    (msg,) = tern.wait_messages("alice")
    assert f"id {qid}".encode() in msg
    assert msg.endswith(b"Subject: chunked\n\nfirst part, second part\nthird line\n")


def test_pipelined_chunks_and_bdat_0_last(tern):
    c = tern.client()
    start(c, "bob@example.test")
    c.send(bdat(5) + b"Subj:" + bdat(12) + b" pipelined\r\n" + bdat(0, last=True))
    got = c.replies(3)
    assert [code for code, _ in got] == [250, 250, 250], got
    queue_id(got[2][1])
    (msg,) = tern.wait_messages("bob")
    assert msg.endswith(b"Subj: pipelined\n")


def test_dots_8bit_and_crlf_split_across_chunks(tern):
    """Dots at line starts and 8-bit octets arrive as sent (BDAT is never dot-stuffed;
    only CRLF becomes LF in the Maildir); a CRLF split by a chunk boundary is one line end."""
    c = tern.client()
    start(c, "carol@example.test")
    body = (b"Subject: chunked\r\n\r\n.leading dot\r\n.\r\n..two\r\n"
            b"high \xff\xfe octets\r\nsplit here\r")
    tail = b"\nend\r\n"
    c.send(bdat(len(body)) + body)
    assert c.code() == 250
    c.send(bdat(len(tail), last=True) + tail)
    assert c.code() == 250
    (msg,) = tern.wait_messages("carol")
    assert msg.endswith(b".leading dot\n.\n..two\nhigh \xff\xfe octets\nsplit here\nend\n")


def test_bare_line_ends_and_nul_in_chunks_are_refused(tern):
    c = tern.client()
    cases = [(b"bare cr\rhere\r\n", "550 5.5.2"), (b"bare lf\n.\r\n", "550 5.5.2"),
             (b"nul\x00byte\r\n", "550 5.6.0")]
    for text, reply in cases:
        start(c, "carol@example.test")
        c.send(bdat(len(text), last=True) + text)
        code, lines = c.reply()
        assert lines[0].startswith(reply), (text, lines)
    c.send(b"NOOP\r\n")
    assert c.code() == 250  # still in step
    assert tern.messages("carol") == []


def test_bdat_without_mail_is_refused_and_its_chunk_skipped(tern):
    c = tern.client()
    chunk = b"NOOP\r\nQUIT\r\n"  # would be commands if the server did not skip the chunk
    c.send(bdat(len(chunk)) + chunk + b"NOOP\r\n")
    assert c.reply() == (503, ["503 5.5.1 Error: need MAIL command"])
    assert c.reply() == (250, ["250 2.0.0 Ok"])
    assert c.silent()
    start(c, "dave@example.test")
    c.send(bdat(4, last=True) + b"ok\r\n")
    assert c.code() == 250
    (msg,) = tern.wait_messages("dave")
    assert msg.endswith(b"ok\n")


def test_bdat_without_recipients_is_refused_in_sync(tern):
    c = tern.client()
    c.send(b"MAIL FROM:<s@example.org>\r\n" + bdat(6, last=True) + b"RSET\r\n" + b"NOOP\r\n")
    got = c.replies(3)
    assert [code for code, _ in got] == [250, 554, 250], got
    assert c.silent()


def test_bdat_without_a_valid_size_ends_the_session(tern):
    """Without a chunk size the server cannot skip the chunk, so it cannot stay in step."""
    c = tern.client()
    start(c, "grace@example.test")
    c.send(bdat("x") + b"NOOP\r\n")
    code, lines = c.reply()
    assert code == 501 and lines[0].startswith("501 5.5.4 Syntax: BDAT"), lines
    assert c.closed()


def test_data_after_bdat_is_refused(tern):
    c = tern.client()
    start(c, "erin@example.test")
    c.send(bdat(5) + b"abc\r\n" + b"DATA\r\n")
    assert c.code() == 250
    assert c.reply() == (503, ["503 5.5.1 Error: DATA not allowed after BDAT"])
    c.send(bdat(5, last=True) + b"def\r\n")  # the BDAT transaction goes on
    assert c.code() == 250
    (msg,) = tern.wait_messages("erin")
    assert msg.endswith(b"abc\ndef\n")


def test_chunks_over_the_size_limit(tern_factory):
    t = tern_factory(extra='[limits]\nmessage_size = "1k"\n').start()
    c = t.client()
    start(c, "frank@example.test")
    c.send(bdat(600) + b"a" * 600)
    assert c.code() == 250
    c.send(bdat(600) + b"b" * 600)
    assert c.reply()[1] == ["552 5.3.4 Message size exceeds fixed limit of 1024 octets"]
    assert c.command("DATA")[0] == 503  # no way around the refusal with DATA
    c.send(bdat(10, last=True) + b"c" * 10)
    assert c.reply()[1][0].startswith("552 5.3.4")
    c.send(b"NOOP\r\n")
    assert c.reply() == (250, ["250 2.0.0 Ok"])
    # one chunk over the limit from the start; then a message that fits
    start(c, "frank@example.test")
    c.send(bdat(2000, last=True) + b"x" * 2000 + b"NOOP\r\n")
    assert c.code() == 552
    assert c.code() == 250
    start(c, "frank@example.test")
    c.send(bdat(2000) + b"x" * 2000 + b"DATA\r\n")
    assert [code for code, _ in c.replies(2)] == [552, 503]
    c.command("RSET")
    start(c, "frank@example.test")
    c.send(bdat(6, last=True) + b"fits\r\n")
    assert c.code() == 250
    msgs = t.wait_messages("frank")
    assert len(msgs) == 1 and msgs[0].endswith(b"\nfits\n")


def test_bdat_after_helo_is_refused_and_skipped(tern):
    """CHUNKING is an extension: after HELO, BDAT is refused, its chunk still read."""
    c = tern.client(ehlo=False)
    c.send(b"HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<eve@example.test>\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 250]
    c.send(b"BDAT 12 LAST\r\nNOOP\r\nNOOP\r\n")
    code, lines = c.reply()
    assert code == 503 and "EHLO" in lines[0]
    c.send(b"NOOP\r\n")
    assert c.code() == 250  # the 12 octets "NOOP\r\nNOOP\r\n" were the chunk, not commands
