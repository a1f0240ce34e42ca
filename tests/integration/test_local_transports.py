"""[transport] pipe: and mbox, and the "*" default transport, through a real ternd over SMTP
on loopback: a pipe program gets the message on stdin, SENDER/RECIPIENT/EXTENSION/DOMAIN in
its environment and ${macros} in its argv, and runs as delivery.pipe.user (ternd runs as
root here); its exit status decides: 75 (EX_TEMPFAIL) keeps the message queued and deferred,
67 (EX_NOUSER) bounces with the program's output in the report. mbox appends to
delivery.mbox.directory/USER with a From_ line, mode 0600. A "*" mbox transport accepts
every domain from any client and delivers it here."""

import os
import pwd
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Tern, send_message
from test_relay_out import SINK_HOST, capture  # noqa: F401 (the fixture)

SCRIPT = """#!/bin/sh
# Records its stdin, environment, argv and uid; exits with the code in {d}/exit (0 if none).
cat > {d}/stdin
env > {d}/env
echo "$@" > {d}/argv
id -u > {d}/uid
code=$(cat {d}/exit 2>/dev/null || echo 0)
echo "list-post: member refused (code $code)"
exit $code
"""


@pytest.fixture
def pipe_dir():
    """A directory the pipe program (run as nobody) can reach and write: pytest's tmp_path
    is private to root."""
    d = Path(tempfile.mkdtemp(prefix="tern-pipe-"))
    d.chmod(0o777)
    script = d / "prog.sh"
    script.write_text(SCRIPT.format(d=d))
    script.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def wait_file(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            time.sleep(0.1)  # the program may still be writing
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written in {timeout}s")


def pipe_tern(tern_factory, pipe_dir):
    extra = f"""
[queue]
first_retry = 3600
[delivery.pipe]
user = "nobody"
[transport]
"lists.test" = "pipe:{pipe_dir / 'prog.sh'} --from ${{sender}} --to ${{user}} --ext=${{extension}}"
"""
    return tern_factory(extra=extra).start()


def test_pipe_transport_gets_the_message_env_and_macros(tern_factory, pipe_dir):
    t = pipe_tern(tern_factory, pipe_dir)
    code, lines = send_message(t.client(), ["dev+urgent@lists.test"],
                               body=b"Subject: pipe\r\n\r\nto the program\r\n")
    assert code == 250, lines
    stdin = wait_file(pipe_dir / "uid") and (pipe_dir / "stdin").read_text()
    assert "Delivered-To: dev+urgent@lists.test\n" in stdin
    assert "Return-Path: <sender@example.org>\n" in stdin
    assert "\nto the program\n" in stdin and "\r" not in stdin
    env = dict(l.split("=", 1) for l in (pipe_dir / "env").read_text().splitlines() if "=" in l)
    assert env["SENDER"] == "sender@example.org"
    assert env["RECIPIENT"] == "dev+urgent@lists.test"
    assert env["EXTENSION"] == "urgent"
    assert env["DOMAIN"] == "lists.test"
    assert (pipe_dir / "argv").read_text() == "--from sender@example.org --to dev --ext=urgent\n"
    assert int((pipe_dir / "uid").read_text()) == pwd.getpwnam("nobody").pw_uid
    t.wait_log("status=sent")


def test_pipe_exit_75_defers_and_keeps_the_message(tern_factory, pipe_dir):
    (pipe_dir / "exit").write_text("75\n")
    t = pipe_tern(tern_factory, pipe_dir)
    code, lines = send_message(t.client(), ["dev@lists.test"])
    assert code == 250, lines
    log = t.wait_log("status=deferred")
    assert "to=<dev@lists.test>" in log and "dsn=4.3.0, status=deferred" in log, log
    (entry,) = t.queue()
    assert entry["recipients"][0]["address"] == "dev@lists.test", entry
    assert "status=bounced" not in t.log()


def test_pipe_exit_67_bounces_with_the_program_output(tern_factory, pipe_dir):
    (pipe_dir / "exit").write_text("67\n")
    t = pipe_tern(tern_factory, pipe_dir)
    code, lines = send_message(t.client(), ["dev@lists.test"], sender="carol@example.test")
    assert code == 250, lines
    t.wait_log("status=bounced")
    (dsn,) = t.wait_messages("carol")
    assert b"5.1.1" in dsn
    assert b"list-post: member refused (code 67)" in dsn, dsn.decode(errors="replace")


def mbox_tern(t, transports):
    """Starts `t` with delivery.mbox.directory under its root and these [transport] lines;
    returns the directory."""
    spool = t.root / "varmail"
    spool.mkdir()
    t.config.write_text(t.config.read_text() +
                        f'\n[delivery.mbox]\ndirectory = "{spool}"\n[transport]\n{transports}')
    t.start()
    return spool


def test_mbox_transport_appends_with_a_from_line(tern_factory):
    t = tern_factory()
    spool = mbox_tern(t, '"users.test" = "mbox"\n')
    for n in range(2):
        code, lines = send_message(t.client(), ["Alice+lists@users.test"],
                                   body=f"Subject: m{n}\r\n\r\nbody {n}\r\nFrom here\r\n".encode())
        assert code == 250, lines
    box = spool / "alice"
    deadline = time.monotonic() + 10
    # The two messages are delivered in parallel, in either order: wait for both.
    while time.monotonic() < deadline and not (
            box.exists() and b"body 0" in box.read_bytes() and b"body 1" in box.read_bytes()):
        time.sleep(0.05)
    text = box.read_bytes()
    assert text.startswith(b"From sender@example.org "), text
    assert text.count(b"\nFrom sender@example.org ") == 1  # the second message's From_ line
    assert b"Delivered-To: alice+lists@users.test\n" in text  # the user lower-cased
    assert b"\n>From here\n" in text  # mboxrd quoting
    assert stat.S_IMODE(box.stat().st_mode) == 0o600
    assert box.stat().st_uid == 0  # no system user alice: root's (ternd runs as root here)
    assert not (spool / "alice+lists").exists()
    # A system user's new mailbox is given to that user.
    code, lines = send_message(t.client(), ["daemon@users.test"])
    assert code == 250, lines
    t.wait_log("to=<daemon@users.test>")
    assert (spool / "daemon").stat().st_uid == pwd.getpwnam("daemon").pw_uid


def test_star_mbox_transport_takes_every_domain_from_anyone(tern_factory):
    t = tern_factory(relay=["192.0.2.0/24"])  # this client may not relay
    spool = mbox_tern(t, '"*" = "mbox"\n"blocked.test" = "error:550 5.7.1 not here"\n')
    code, lines = send_message(t.client(), ["bob@anywhere.example"])
    assert code == 250, lines
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (spool / "bob").exists():
        time.sleep(0.05)
    assert b"Delivered-To: bob@anywhere.example\n" in (spool / "bob").read_bytes()
    # domains.local still go to their Maildirs
    code, lines = send_message(t.client(), ["alice@example.test"])
    assert code == 250, lines
    t.wait_messages("alice")
    # A domain listed with another transport keeps it.
    code, lines = send_message(t.client(), ["eve@blocked.test"])
    assert code == 250, lines
    assert "to=<eve@blocked.test>, relay=none" in t.wait_log("5.7.1, status=bounced")
    assert not (spool / "eve").exists()
    c = t.client()
    c.command("MAIL FROM:<sender@example.org>")
    assert c.command("RCPT TO:<x@[192.0.2.1]>")[0] == 554  # a literal is never ours


def test_discard_and_smtp_host_transports(tern_factory, capture):  # noqa: F811
    # The smarthost is a dead port; [transport] sends one domain to the capture host
    # itself and drops another's mail.
    extra = (f'[transport]\n"fixed.example" = "smtp:[{SINK_HOST}]:{capture.port}"\n'
             '"void.example" = "discard"\n')
    t = tern_factory(extra=extra).start()
    c = t.client()
    code, lines = send_message(c, ["x@void.example"])
    assert code == 250, lines
    code, lines = send_message(t.client(), ["bob@fixed.example"])
    assert code == 250, lines
    (msg,) = capture.wait(1)
    assert msg["to"] == ["bob@fixed.example"]
    log = t.wait_log("to=<x@void.example>, relay=none")
    assert "status=sent (discarded)" in log
    assert f"relay={SINK_HOST}[{SINK_HOST}]:{capture.port}" in t.wait_log("to=<bob@fixed.example>")
    assert not (t.mail / "void.example").exists()
