"""limits.receive_memory: while sessions hold more message text in memory than the budget,
new transactions get 452 4.3.1 (try later); once it drains, mail is accepted again."""

import time

from conftest import RawClient


def test_new_transactions_wait_while_memory_is_full(tern_factory):
    t = tern_factory(extra='[limits]\nreceive_memory = "4k"\n').start()
    a = RawClient(t.host, t.port)
    b = RawClient(t.host, t.port)
    try:
        for c in (a, b):
            assert c.code() == 220
            c.send(b"EHLO client.example\r\n")
            assert c.code() == 250
        a.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<dave@example.test>\r\nDATA\r\n")
        assert [a.code(), a.code(), a.code()] == [250, 250, 354]
        a.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 1 + (b"y" * 78 + b"\r\n") * 100)

        deadline = time.monotonic() + 5
        while True:
            b.send(b"MAIL FROM:<b@example.org>\r\n")
            code, lines = b.reply()
            if code == 452:
                assert lines[0].startswith("452 4.3.1")
                break
            assert code == 250
            b.send(b"RSET\r\n")
            assert b.code() == 250
            assert time.monotonic() < deadline, "the budget never filled"
            time.sleep(0.05)

        a.send(b".\r\n")
        assert a.code() == 250
        b.send(b"MAIL FROM:<b@example.org>\r\n")
        assert b.code() == 250
        t.wait_messages("dave")
    finally:
        a.close()
        b.close()
