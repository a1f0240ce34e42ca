"""PIPELINING (RFC 2920): a client may send a whole group of commands in one write and
read the replies afterwards. Tern answers every command of the group, in order; the message
and QUIT may follow the 354 in one write; one connection carries several transactions."""

from conftest import envelope, queue_id


def test_whole_transaction_in_one_send(tern):
    c = tern.client(ehlo=None)
    c.send(b"EHLO client.example\r\n" + envelope(
        ["alice@example.test", "bob@example.test", "carol@example.test"]))
    got = c.replies(6)
    assert [code for code, _ in got] == [250, 250, 250, 250, 250, 354], got
    assert "250-PIPELINING" in got[0][1]
    assert [lines[-1] for _, lines in got[1:5]] == ["250 2.1.0 Ok"] + ["250 2.1.5 Ok"] * 3
    c.send(b"Subject: pipelined\r\n\r\nthree recipients\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    qid = queue_id(lines)
    for user in ("alice", "bob", "carol"):
        (msg,) = tern.wait_messages(user)
        assert f"id {qid}".encode() in msg and msg.endswith(b"three recipients\n")


def test_message_and_quit_after_354_in_one_send(tern):
    c = tern.client()
    c.send(envelope(["dave@example.test"]))
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: x\r\n\r\nbody and quit together\r\n.\r\nQUIT\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    assert c.reply() == (221, ["221 2.0.0 Bye"])
    assert c.closed()
    (msg,) = tern.wait_messages("dave")
    assert msg.endswith(b"body and quit together\n")


def test_several_transactions_on_one_connection(tern):
    c = tern.client()
    ids = []
    for i in range(5):
        c.send(envelope(["erin@example.test"]))
        assert [code for code, _ in c.replies(3)] == [250, 250, 354]
        c.send(f"Subject: n{i}\r\n\r\nmessage {i}\r\n.\r\n".encode())
        code, lines = c.reply()
        assert code == 250, lines
        ids.append(queue_id(lines))
    assert len(set(ids)) == 5
    msgs = tern.wait_messages("erin", 5)
    assert len(msgs) == 5
    bodies = sorted(m.rsplit(b"\n\n", 1)[-1] for m in msgs)
    assert bodies == [f"message {i}\n".encode() for i in range(5)]


def test_replies_to_a_mixed_group_all_arrive_in_order(tern):
    """Accepted and refused commands mixed in one group: one reply each, in order, none
    lost or merged; the group is answered even though no command in it ends a group."""
    c = tern.client()
    c.send(b"RSET\r\n"
           b"MAIL FROM:<a@example.org>\r\n"
           b"RCPT TO:<frank@example.test>\r\n"
           b"RCPT TO:<bad address>\r\n"
           b"RCPT TO:<\"a/b\"@example.test>\r\n"
           b"RCPT TO:<grace@example.test>\r\n"
           b"MAIL FROM:<b@example.org>\r\n"
           b"RCPT TO:<heidi@example.test>\r\n")
    got = c.replies(8)
    assert [code for code, _ in got] == [250, 250, 250, 553, 550, 250, 503, 250], got
    assert got[6][1] == ["503 5.5.1 Error: nested MAIL command"]
    assert c.silent()
    c.send(b"DATA\r\n")
    assert c.code() == 354
    c.send(b"Subject: mixed\r\n\r\nx\r\n.\r\nNOOP\r\nNOOP\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 250]
    assert c.silent()
    for user in ("frank", "grace", "heidi"):
        (msg,) = tern.wait_messages(user)
        assert b"Return-Path: <a@example.org>" in msg
