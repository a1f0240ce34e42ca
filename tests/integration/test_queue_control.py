"""ternctl queue flush / hold / release, with the daemon running and without it: a held
message is not delivered until released; flush tries deferred mail at once instead of
waiting for its back-off; queue list shows state, attempts, next attempt and last error."""

import time

from test_relay_out import capture, send  # noqa: F401 (fixture)


def wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_flush_tries_deferred_mail_now(tern_factory, capture):
    capture.reply = "451 4.3.0 not now"
    # A long back-off: without flush the retry would be an hour away.
    t = tern_factory(extra="[queue]\nfirst_retry = 3600\n").start_with_smarthost(
        f"[127.0.0.2]:{capture.port}")
    qid = send(t, ["f@remote.example"])
    wait(lambda: t.queue() and t.queue()[0]["recipients"][0]["attempts"] == 1)
    (entry,) = t.queue()
    r = entry["recipients"][0]
    assert r["state"] == "pending" and r["next_attempt"] > time.time() + 1000
    assert "451 4.3.0 not now" in r["last_error"]
    text = t.ctl("queue", "list").stdout
    assert qid in text and "f@remote.example" in text and "attempts 1" in text
    assert "451 4.3.0 not now" in text

    capture.reply = "250 2.0.0 Ok: captured"
    out = t.ctl("queue", "flush").stdout
    assert "flushed: 1 message" in out
    capture.wait(1)
    wait(lambda: t.queue() == [])


def test_flush_by_domain_and_id(tern_factory, capture):
    capture.reply = "451 4.3.0 not now"
    t = tern_factory(extra="[queue]\nfirst_retry = 3600\n").start_with_smarthost(
        f"[127.0.0.2]:{capture.port}")
    q1 = send(t, ["a@one.example"])
    q2 = send(t, ["b@two.example"])
    wait(lambda: len(t.queue()) == 2 and all(e["recipients"][0]["attempts"] == 1 for e in t.queue()))
    capture.reply = "250 2.0.0 Ok: captured"
    assert "flushed: 1 message" in t.ctl("queue", "flush", "--domain", "two.example").stdout
    capture.wait(1)
    wait(lambda: [e["queue_id"] for e in t.queue()] == [q1])
    assert "flushed: 1 message" in t.ctl("queue", "flush", q1).stdout
    capture.wait(2)
    wait(lambda: t.queue() == [])
    r = t.ctl("queue", "flush", q2, check=False)
    assert r.returncode == 67  # gone: EX_NOUSER


def test_hold_and_release(tern_factory, capture):
    capture.reply = "451 4.3.0 not now"
    t = tern_factory(extra="[queue]\nfirst_retry = 3\n").start_with_smarthost(
        f"[127.0.0.2]:{capture.port}")
    qid = send(t, ["h@remote.example"])
    # Hold between attempts: after the first one was deferred, before its 3-second retry.
    wait(lambda: t.queue() and t.queue()[0]["recipients"][0]["attempts"] >= 1, timeout=5)
    assert "held: 1 message" in t.ctl("queue", "hold", qid).stdout
    capture.reply = "250 2.0.0 Ok: captured"
    t.ctl("queue", "flush")
    time.sleep(2.5)  # retries would have run by now
    assert capture.messages == []
    (entry,) = t.queue()
    assert entry["held"] is True
    assert f"{qid}!" in t.ctl("queue", "list").stdout  # mailq marks held messages with '!'
    assert "released: 1 message" in t.ctl("queue", "release", qid).stdout
    capture.wait(1)
    wait(lambda: t.queue() == [])


def test_hold_without_daemon_survives_restart(tern_factory, capture):
    t = tern_factory(extra="[queue]\nfirst_retry = 1\n").start()  # dead smarthost: deferred
    qid = send(t, ["x@remote.example"])
    t.stop()
    assert "held: 1 message" in t.ctl("queue", "hold", qid).stdout
    r = t.ctl("queue", "flush", check=False)
    assert r.returncode == 69 and "not running" in r.stderr
    t.start()
    (entry,) = t.queue()
    assert entry["held"] is True
    t.stop()
    assert "released: 1 message" in t.ctl("queue", "release", qid).stdout
    assert t.queue()[0]["held"] is False
