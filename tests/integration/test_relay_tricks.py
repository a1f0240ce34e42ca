"""No open relay: the classic tricks that fooled MTAs into relaying, sent by a client that
neither authenticated nor connects from relay.networks. Each is refused, or taken as mail for
a local part of OUR domain; none is ever queued for another domain (ternd's smarthost is a
dead port, so relayed mail would sit in the queue where `ternctl queue list` shows it)."""

import smtplib
import time

import pytest

TRICKS = [
    "user%remote.example@example.test",        # percent hack
    "remote.example!user@example.test",        # UUCP bang path
    '"user@remote.example"@example.test',      # quoted '@'
    "@example.test:user@remote.example",       # source route (RFC 5321 §4.1.1.3: ignored)
    "@example.test,@mx.example.test:user@remote.example",
    "user@remote.example.",                    # trailing dot
    "user@example.test.remote.example",        # our name as a prefix
    "user@remote.example@example.test",        # two '@'
    "user%remote.example",                     # no domain at all
    "remote.example!user",
    "user@[127.0.0.1]",                        # address literals
    "user@[IPv6:::1]",
    "USER@REMOTE.EXAMPLE",                     # case
    "user@xn--bcher-kva.example",              # IDN as A-label ...
    "user@bücher.example",                     # ... and as U-label (needs SMTPUTF8)
    "user@remote.example\\@example.test",
]


@pytest.fixture
def outsider(tern_factory):
    t = tern_factory(relay=[]).start()
    return t


def test_no_trick_relays(outsider):
    taken = []
    for rcpt in TRICKS:
        with smtplib.SMTP(outsider.host, outsider.port, timeout=10) as s:
            s.ehlo("attacker.example")
            options = ["SMTPUTF8"] if not rcpt.isascii() else []
            assert s.mail("attacker@example.org", options)[0] == 250
            code, text = s.docmd("RCPT", f"TO:<{rcpt}>")
            if code == 250:
                # Taken: then it must be one of our local parts, delivered here.
                assert s.data(b"Subject: trick\r\n\r\nx\r\n")[0] == 250
                taken.append(rcpt)
            else:
                assert 500 <= code < 600, (rcpt, code, text)
    # Whatever happened, nothing waits for a remote domain.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        queued = outsider.queue()
        assert not queued, queued
        time.sleep(0.2)
    log = outsider.log()
    assert "relay=127.0.0.1" not in log and "status=deferred" not in log, log
    # Only local parts of example.test were taken.
    assert all(r.endswith("@example.test") for r in taken), taken


def test_local_parts_with_tricks_land_in_our_mailboxes(outsider):
    with smtplib.SMTP(outsider.host, outsider.port, timeout=10) as s:
        s.ehlo("attacker.example")
        s.sendmail("attacker@example.org", ["user%remote.example@example.test"],
                   b"Subject: percent\r\n\r\nx\r\n")
    # The whole local part is the mailbox name: nothing was forwarded to remote.example.
    outsider.wait_messages("user%remote.example")


def test_relay_refusal_uses_postfix_words(outsider):
    with smtplib.SMTP(outsider.host, outsider.port, timeout=10) as s:
        s.ehlo("attacker.example")
        s.mail("attacker@example.org")
        code, text = s.rcpt("victim@remote.example")
        assert (code, text) == (554, b"5.7.1 <victim@remote.example>: Relay access denied")
    log = outsider.wait_log("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 554 5.7.1")
    assert "to=<victim@remote.example>" in log
