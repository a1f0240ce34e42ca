"""Delivery status notifications end to end: a recipient refused by the next hop, or kept
past the queue lifetime, is reported to the sender in one RFC 3464 multipart/report from
MAILER-DAEMON with the null envelope sender; the sender here is a local mailbox, so the
report is read from its Maildir and parsed with Python's email package. No report for a
message from the null sender or with NOTIFY=NEVER; a delay warning when a recipient waits;
a "relayed" success report when asked for and the next hop has no DSN."""

import email
import email.policy
import time

from test_relay_out import capture, send  # noqa: F401 (fixture)


def start(tern_factory, port, queue=""):
    return tern_factory(extra=f"[queue]\nfirst_retry = 1\n{queue}").start_with_smarthost(
        f"[127.0.0.2]:{port}")


def report_for(t, user="sender", count=1):
    msgs = t.wait_messages(user, count, timeout=15)
    return [email.message_from_bytes(m, policy=email.policy.compat32) for m in msgs]


def status_blocks(report):
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = report.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    return parts, parts[1].get_payload()  # [per-message fields, per-recipient fields...]



def test_refused_recipients_get_one_report(tern_factory, capture):
    capture.reply = "554 5.7.1 no thanks"
    t = start(tern_factory, capture.port)
    qid = send(t, ["x@remote.example", "y@remote.example"], sender="sender@example.test",
               body=b"Subject: original subject\r\nMessage-ID: <orig@example.test>\r\n\r\nbody\r\n")
    (report,) = report_for(t)
    assert report["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert report["To"] == "sender@example.test"
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    assert report["Auto-Submitted"] == "auto-replied"
    raw = t.messages("sender")[0]
    assert raw.startswith(b"Return-Path: <>\n")  # the null envelope sender
    parts, blocks = status_blocks(report)
    assert blocks[0]["Reporting-MTA"] == "dns; mx.example.test"
    rcpts = blocks[1:]
    assert [b["Final-Recipient"] for b in rcpts] == ["rfc822; x@remote.example",
                                                     "rfc822; y@remote.example"]
    for b in rcpts:
        assert b["Action"] == "failed"
        assert b["Status"] == "5.7.1"
        assert b["Remote-MTA"] == "dns; 127.0.0.2"
        assert "554 5.7.1 no thanks" in b["Diagnostic-Code"]
        assert b["Diagnostic-Code"].startswith("smtp;")
    returned = parts[2]
    assert returned.get_content_type() == "message/rfc822"  # RET absent: the full message
    original = returned.get_payload()[0]
    assert original["Subject"] == "original subject"
    assert f"{qid}: sender non-delivery notification:" in t.log()


def test_ret_hdrs_and_orcpt_envid(tern_factory, capture):
    capture.reply = "550 5.1.1 unknown user"
    t = start(tern_factory, capture.port)
    c = t.client()
    c.send(b"MAIL FROM:<sender@example.test> RET=HDRS ENVID=track+2B42\r\n"
           b"RCPT TO:<z@remote.example> ORCPT=rfc822;orig@remote.example\r\nDATA\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: hdrs\r\n\r\nsecret body\r\n.\r\n")
    assert c.code() == 250
    (report,) = report_for(t)
    parts, blocks = status_blocks(report)
    assert blocks[0]["Original-Envelope-Id"] == "track+42"
    assert blocks[1]["Original-Recipient"] == "rfc822; orig@remote.example"
    assert blocks[1]["Status"] == "5.1.1"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"secret body" not in parts[2].as_bytes()


def test_no_report_for_null_sender_or_notify_never(tern_factory, capture):
    capture.reply = "554 5.7.1 no thanks"
    t = start(tern_factory, capture.port)
    q1 = send(t, ["a@remote.example"], sender="")
    c = t.client()
    c.send(b"MAIL FROM:<sender@example.test>\r\nRCPT TO:<b@remote.example> NOTIFY=NEVER\r\nDATA\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: never\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    q2 = lines[0].split()[-1]
    t.wait_log(f"{q1}: removed")
    t.wait_log(f"{q2}: removed")
    time.sleep(0.3)
    assert "notification" not in t.log()
    assert t.messages("sender") == []


def test_expired_message_is_returned(tern_factory):
    # The default smarthost of the harness is a dead port: every attempt is deferred.
    t = tern_factory(extra="[queue]\nfirst_retry = 1\nlifetime = 0\n").start()
    qid = send(t, ["late@remote.example"], sender="sender@example.test")
    (report,) = report_for(t)
    _, blocks = status_blocks(report)
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"].startswith("4.4.")
    assert "delivery time expired" in blocks[1]["Diagnostic-Code"]
    t.wait_log(f"{qid}: removed")
    assert f"{qid}: to=<late@remote.example>, status=expired, returned to sender" in t.log()


def test_delay_warning_then_still_queued(tern_factory):
    t = tern_factory(extra="[queue]\nfirst_retry = 1\ndelay_warning = 1\n").start()
    qid = send(t, ["slow@remote.example"], sender="sender@example.test")
    (report,) = report_for(t)
    assert report["Subject"] == "Delayed Mail (still being retried)"
    _, blocks = status_blocks(report)
    assert blocks[1]["Action"] == "delayed"
    assert blocks[1]["Will-Retry-Until"]
    assert [e["queue_id"] for e in t.queue()] == [qid]  # still queued
    time.sleep(2.5)  # more retries: the warning is sent once only
    assert len(t.messages("sender")) == 1


def test_success_report_when_asked_and_next_hop_has_no_dsn(tern_factory, capture):
    t = start(tern_factory, capture.port)
    c = t.client()
    c.send(b"MAIL FROM:<sender@example.test>\r\nRCPT TO:<ok@remote.example> NOTIFY=SUCCESS\r\nDATA\r\n")
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: ok\r\n\r\nx\r\n.\r\n")
    assert c.code() == 250
    (report,) = report_for(t)
    assert report["Subject"] == "Successful Mail Delivery Report"
    _, blocks = status_blocks(report)
    assert blocks[1]["Action"] == "relayed"
    assert blocks[1]["Status"].startswith("2.")
