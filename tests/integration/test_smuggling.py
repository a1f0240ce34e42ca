"""SMTP smuggling (CVE-2023-51764/51765/51766): only CR LF "." CR LF ends a message. A
message whose text holds a bare-LF or bare-CR look-alike of the end marker, followed by a
second transaction, is answered with ONE 550 5.5.2 once the real end marker arrives; the
smuggled commands are never executed and nothing is delivered. A NUL octet is refused too.
With smtp.bare_line_endings = "normalize" the same input is ONE message that contains the
smuggled text."""

import pytest

from conftest import send_message

SMUGGLED = (b"MAIL FROM:<evil@example.org>\r\n"
            b"RCPT TO:<victim@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nforged\r\n")

# Look-alikes of the end marker that some receivers took for one.
FAKE_ENDS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r.\r", b".\n",
             b"\r\n.\r\r\n", b"\n.\r"]
IDS = [e.decode().replace("\r", "CR").replace("\n", "LF") for e in FAKE_ENDS]


def smuggling_body(fake_end):
    return b"Subject: innocent\r\n\r\nhello" + fake_end + SMUGGLED


@pytest.mark.parametrize("fake_end", FAKE_ENDS, ids=IDS)
def test_fake_end_of_data_is_refused_whole(tern, fake_end):
    c = tern.client()
    code, lines = send_message(c, ["alice@example.test"], smuggling_body(fake_end))
    assert code == 550 and lines[0].startswith("550 5.5.2 "), lines
    assert c.silent()  # exactly one reply: no 250/354 for the smuggled commands
    assert "NOQUEUE: reject: DATA from unknown[127.0.0.1]: 550 5.5.2" in tern.log()
    # in step: the next transaction is a fresh one and is the only thing delivered
    code, lines = send_message(c, ["alice@example.test"], b"Subject: real\r\n\r\nreal\r\n")
    assert code == 250, lines
    (msg,) = tern.wait_messages("alice")
    assert msg.endswith(b"\nreal\n")
    assert tern.messages("victim") == []
    assert b"evil@example.org" not in tern.log().encode()


def test_whole_attack_in_one_send(tern):
    """The attack as a pipelining client sends it: everything in one write."""
    c = tern.client()
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
           smuggling_body(b"\n.\n") + b".\r\nNOOP\r\n")
    got = c.replies(5)
    assert [code for code, _ in got] == [250, 250, 354, 550, 250], got
    assert c.silent()
    assert tern.messages("alice") == [] and tern.messages("victim") == []
    assert tern.queue() == []


def test_nul_octet_is_refused(tern):
    c = tern.client()
    code, lines = send_message(c, ["alice@example.test"], b"Subject: nul\r\n\r\na\x00b\r\n")
    assert code == 550, lines
    assert c.command("NOOP")[0] == 250
    assert tern.messages("alice") == []


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r\n", b"\r\n.\n"],
                         ids=["LF.LF", "CR.CRLF", "CRLF.LF"])
def test_normalize_makes_one_message_with_the_smuggled_text(tern_factory, fake_end):
    t = tern_factory(extra='[smtp]\nbare_line_endings = "normalize"\n').start()
    c = t.client()
    code, lines = send_message(c, ["alice@example.test"], smuggling_body(fake_end))
    assert code == 250, lines
    assert c.silent()
    (msg,) = t.wait_messages("alice")
    assert b"Subject: innocent" in msg
    assert msg.endswith(b"\nhello\n.\nMAIL FROM:<evil@example.org>\nRCPT TO:<victim@example.test>\n"
                        b"DATA\nSubject: smuggled\n\nforged\n")
    assert b"\r" not in msg
    assert c.command("NOOP")[0] == 250
    assert t.messages("victim") == []
