"""A 250 after DATA is a promise: once the client has read it, ternd may be killed with
SIGKILL at any moment and, restarted on the same directories, still has the message and
delivers it. Checked for a queued (non-local) and a local message killed right after their
250, and for a burst of 200 messages on 4 concurrent connections.

Delivery is at-least-once (DESIGN.md), but a Maildir delivery repeated after a crash (the
file renamed into new/, the spool's record of it lost with the kill) finds its own file,
named by queue ID and recipient, and is not written twice: every accepted message is in the
Maildir exactly once, and nothing else is."""

import collections
import re
import threading
import time

from conftest import RawClient, envelope, queue_id

RECEIVED_ID = re.compile(rb"\(Tern\) with ESMTP id ([0-9A-Z]{16})")


def wait_queue_empty(t, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not t.queue():
            return
        time.sleep(0.05)
    raise AssertionError(f"queue not empty after {timeout}s: {t.queue()}")


def test_kill9_right_after_250(tern):
    c = tern.client()
    c.send(envelope(["remote@remote.example"]))
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: queued\r\n\r\nremote\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    remote_id = queue_id(lines)
    c.send(envelope(["alice@example.test"]))
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: local\r\n\r\nlocal\r\n.\r\n")
    code, lines = c.reply()
    tern.kill9()
    assert code == 250, lines
    local_id = queue_id(lines)

    tern.start()
    msg = tern.wait_messages("alice")[0]
    assert f"id {local_id}".encode() in msg and msg.endswith(b"\nlocal\n")
    deadline = time.monotonic() + 10
    while [e["queue_id"] for e in tern.queue()] != [remote_id] and time.monotonic() < deadline:
        time.sleep(0.05)  # the local message leaves the queue once delivered
    assert [e["queue_id"] for e in tern.queue()] == [remote_id]
    assert len(tern.messages("alice")) == 1


def test_kill9_after_a_burst(tern):
    connections, per_connection = 4, 50
    accepted = []  # queue IDs from the 250 replies
    errors = []
    lock = threading.Lock()
    done = threading.Barrier(connections + 1, timeout=60)

    def sender(n):
        try:
            c = RawClient(tern.host, tern.port)
            try:
                assert c.code() == 220
                c.ehlo()
                for i in range(per_connection):
                    c.send(envelope(["burst@example.test"]))
                    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
                    c.send(f"Subject: c{n} m{i}\r\n\r\nconnection {n} message {i}\r\n.\r\n"
                           .encode())
                    code, lines = c.reply()
                    assert code == 250, lines
                    with lock:
                        accepted.append(queue_id(lines))
            finally:
                done.wait()
                c.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(connections)]
    for th in threads:
        th.start()
    done.wait()  # every sender has read its last 250 (or failed)
    tern.kill9()
    for th in threads:
        th.join(30)
    assert not errors, errors
    assert len(accepted) == connections * per_connection == len(set(accepted))

    tern.start()
    tern.wait_messages("burst", len(accepted), timeout=30)
    wait_queue_empty(tern)
    msgs = tern.messages("burst")
    delivered = [RECEIVED_ID.search(m).group(1).decode() for m in msgs]
    assert set(delivered) == set(accepted)  # every one, and nothing else
    twice = {q for q, n in collections.Counter(delivered).items() if n > 1}
    assert not twice, f"delivered twice: {sorted(twice)}"
