"""Relay control and the queue: a client outside relay.networks gets 554 5.7.1 for a
non-local recipient (and the Postfix-shaped NOQUEUE log line) while local recipients are
still accepted; from inside, the message is queued and ternctl lists it (mailq text and
JSON), shows its envelope and headers, and deletes it with ternd running or stopped."""

import re

from conftest import queue_id, send_message


def test_relay_denied_outside_relay_networks(tern_factory):
    t = tern_factory(relay=["192.0.2.0/24"]).start()
    c = t.client()
    c.send(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<x@remote.example>\r\n"
           b"RCPT TO:<alice@example.test>\r\nRCPT TO:<y@[192.0.2.7]>\r\nDATA\r\n")
    got = c.replies(5)
    assert got[1] == (554, ["554 5.7.1 <x@remote.example>: Relay access denied"])
    assert got[2][0] == 250
    assert got[3][0] == 554  # an address literal is not ours either
    assert got[4][0] == 354
    c.send(b"Subject: local only\r\n\r\nhi\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    (msg,) = t.wait_messages("alice")
    assert b"\tfor <alice@example.test>;" in msg
    assert t.queue() == []
    log = t.log()
    assert ("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 554 5.7.1 <x@remote.example>: Relay "
            "access denied; from=<s@example.org> to=<x@remote.example> proto=ESMTP "
            "helo=<client.example>") in log


def queue_remote(t, rcpts=("bob@remote.example",), body=b"Subject: queued\r\n\r\nwaits\r\n"):
    code, lines = send_message(t.client(), list(rcpts), body)
    assert code == 250, lines
    return queue_id(lines)


def test_relayed_message_is_queued_listed_and_shown(tern):
    qid = queue_remote(tern, ["bob@remote.example", "carol@other.example"])
    text = tern.ctl("queue", "list").stdout
    assert re.search(rf"^{qid} +\d+ .* sender@example\.org$", text, re.M), text
    assert re.search(r"^ +bob@remote\.example\b", text, re.M), text
    assert re.search(r"^ +carol@other\.example\b", text, re.M), text
    assert "-- 1 Kbytes in 1 Request." in text

    (entry,) = tern.queue()
    assert entry["queue_id"] == qid and entry["sender"] == "sender@example.org"
    assert entry["client"] == "127.0.0.1" and entry["held"] is False
    assert [r["address"] for r in entry["recipients"]] == ["bob@remote.example",
                                                          "carol@other.example"]
    assert all(r["state"] == "pending" for r in entry["recipients"])

    show = tern.ctl("queue", "show", qid).stdout
    assert f"Queue ID:  {qid}\n" in show
    assert "Sender:    <sender@example.org>\n" in show
    assert "Client:    client.example [127.0.0.1]\n" in show
    assert "  <bob@remote.example>  pending" in show and "  <carol@other.example>  pending" in show
    headers = show.split("Headers:\n", 1)[1]
    assert headers.startswith("Received: from client.example ([127.0.0.1])\n\tby mx.example.test "
                              f"(Tern) with ESMTP id {qid};")
    assert "Subject: queued\n" in headers and "waits" not in headers

    r = tern.ctl("queue", "show", "0000000000000000", check=False)
    assert r.returncode == 67 and "no message 0000000000000000 in the queue" in r.stderr


def test_delete_while_running(tern):
    keep = queue_remote(tern)
    gone = queue_remote(tern)
    r = tern.ctl("queue", "delete", gone)
    assert r.stdout == f"{gone}: deleted\n"
    assert [e["queue_id"] for e in tern.queue()] == [keep]
    assert f"{gone}: removed (deleted by the administrator)" in tern.log()
    r = tern.ctl("queue", "delete", gone, check=False)
    assert r.returncode == 67
    r = tern.ctl("queue", "delete", "not-an-id", check=False)
    assert r.returncode == 64 and "is not a queue ID" in r.stderr
    # the deletion is durable: still gone after a restart
    tern.stop()
    tern.start()
    assert [e["queue_id"] for e in tern.queue()] == [keep]


def test_delete_while_stopped(tern):
    keep = queue_remote(tern)
    gone = queue_remote(tern)
    tern.stop()
    r = tern.ctl("queue", "delete", gone)
    assert r.stdout == f"{gone}: deleted\n"
    assert [e["queue_id"] for e in tern.queue()] == [keep]
    tern.start()
    assert [e["queue_id"] for e in tern.queue()] == [keep]
    assert "recovered 1 queued messages from the spool" in tern.log()
