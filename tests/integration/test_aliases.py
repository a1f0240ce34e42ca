"""Aliases, virtual alias maps and the users of the mailbox domains ([route], domains.users):
`ternd --check` reads the tables and reports their mistakes as file:line; a SIGHUP with a
broken table keeps the running configuration and tables. At RCPT time, recipients of the
mailbox domains are expanded: an unknown user gets Postfix's 550 5.1.1, an alias loop 5.4.6,
an error: alias its own reply; an alias delivers to the other user's Maildir, +ext to the
base user (Delivered-To keeping the address with the extension), and a virtual alias to a
remote address is relayed even for a client that may not relay."""

import os
import pwd
import signal
import subprocess
import time

import pytest

from conftest import TERNCTL, TERND, send_message
from test_local_transports import pipe_dir, wait_file  # noqa: F401 (the fixture)
from test_relay_out import SINK_HOST, capture  # noqa: F401 (the fixture)



def route_config(t, aliases=None, virtual=None, users=None, extra=""):
    """Rewrites t's configuration with [route] tables written next to it."""
    text = t.config.read_text()
    route = "\n[route]\n" + extra
    if aliases is not None:
        (t.root / "aliases").write_text(aliases)
        route += f'aliases = ["{t.root / "aliases"}"]\n'
    if virtual is not None:
        (t.root / "virtual").write_text(virtual)
        route += f'virtual_alias_maps = ["{t.root / "virtual"}"]\n'
    if users is not None:
        (t.root / "users").write_text(users)
        text = text.replace('local = ["localhost", "example.test"]\ncatch_all = true',
                            f'local = ["localhost", "example.test"]\nusers = "{t.root / "users"}"')
    t.config.write_text(text + route)
    return t


def check(t):
    return subprocess.run([str(TERND), "--check", "--config", str(t.config)],
                          capture_output=True, text=True, timeout=20)


def test_check_reads_the_tables(tern_factory):
    t = route_config(tern_factory(), aliases="postmaster: root\nroot: alice\n",
                     virtual="info@example.test alice@example.test\n", users="alice\nroot\n")
    r = check(t)
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stdout


def test_check_reports_alias_and_map_errors_as_file_line(tern_factory):
    t = route_config(tern_factory(), aliases="root: alice\n\nno colon here\n",
                     virtual="info@example.test\n")
    r = check(t)
    assert r.returncode == 1
    assert f"{t.root / 'aliases'}:3:" in r.stderr, r.stderr
    assert f"{t.root / 'virtual'}:1:" in r.stderr, r.stderr
    assert not (t.root / "spool").exists()


def test_check_reports_a_missing_alias_file(tern_factory):
    t = tern_factory()
    t.config.write_text(t.config.read_text() + f'\n[route]\naliases = ["{t.root / "none"}"]\n')
    r = check(t)
    assert r.returncode == 1 and str(t.root / "none") in r.stderr, r.stderr


def test_sighup_with_a_broken_alias_file_keeps_the_old_tables(tern_factory):
    t = route_config(tern_factory(), aliases="root: alice\n", users="alice\nbob\n").start()
    (t.root / "aliases").write_text("root: alice\nbroken\nsupport: bob\n")
    t.proc.send_signal(signal.SIGHUP)
    t.wait_log("reload failed; keeping the running configuration")
    assert f"{t.root / 'aliases'}:2:" in t.log()
    assert t.proc.poll() is None
    # The old table answers still: root exists, support (only in the broken file) does not.
    assert rcpt(t, "root@example.test")[0] == 250
    assert rcpt(t, "support@example.test")[0] == 550
    (t.root / "aliases").write_text("root: bob\n")
    t.proc.send_signal(signal.SIGHUP)
    t.wait_log("reloaded configuration")


def rcpt(t, address):
    c = t.client()
    c.command("MAIL FROM:<sender@example.org>")
    return c.command(f"RCPT TO:<{address}>")


def test_unknown_user_is_rejected_at_rcpt(tern_factory):
    t = route_config(tern_factory(), aliases="postmaster: alice\n", users="alice\nbob\n").start()
    code, lines = rcpt(t, "mallory@example.test")
    assert code == 550, lines
    assert lines[-1] == ("550 5.1.1 <mallory@example.test>: Recipient address rejected: "
                         "User unknown in local recipient table"), lines
    assert rcpt(t, "bob@example.test")[0] == 250
    assert rcpt(t, "postmaster@example.test")[0] == 250
    assert rcpt(t, "Alice+news@example.test")[0] == 250
    assert rcpt(t, "mallory@remote.example")[0] == 250  # relayed: not ours to check


def test_alias_delivers_to_the_other_users_maildir(tern_factory):
    t = route_config(tern_factory(), aliases="sales: bob\nteam: alice, bob\n").start()
    code, lines = send_message(t.client(), ["sales@example.test"])
    assert code == 250, lines
    (msg,) = t.wait_messages("bob")
    assert b"Delivered-To: bob@example.test\n" in msg
    assert not t.maildir("sales").exists()
    code, lines = send_message(t.client(), ["team@example.test", "bob@example.test"])
    assert code == 250, lines
    t.wait_messages("alice")
    time.sleep(0.3)
    assert len(t.wait_messages("bob", 2)) == 2  # bob once for the second message


def test_extension_delivers_to_the_base_user(tern_factory):
    t = route_config(tern_factory(), users="alice\n").start()
    code, lines = send_message(t.client(), ["alice+news@example.test"])
    assert code == 250, lines
    (msg,) = t.wait_messages("alice")
    assert b"Delivered-To: alice+news@example.test\n" in msg
    assert not t.maildir("alice+news").exists()


def test_alias_loop_gets_5_4_6(tern_factory):
    t = route_config(tern_factory(), aliases="a: b\nb: a\n").start()
    code, lines = rcpt(t, "a@example.test")
    assert code == 550 and lines[-1].startswith("550 5.4.6 <a@example.test>: "), lines


def test_error_alias_gives_its_reply(tern_factory):
    t = route_config(tern_factory(), aliases="gone: error:550 5.1.6 moved away\n").start()
    code, lines = rcpt(t, "gone@example.test")
    assert code == 550, lines
    assert lines[-1] == ("550 5.1.6 <gone@example.test>: Recipient address rejected: "
                         "moved away"), lines


def test_virtual_alias_to_a_remote_address_is_relayed(tern_factory, capture):  # noqa: F811
    t = tern_factory(relay=["192.0.2.0/24"], extra="[queue]\nfirst_retry = 1\n")
    route_config(t, virtual="info@example.test  carol@remote.example\n")
    t.start_with_smarthost(f"[{SINK_HOST}]:{capture.port}")
    assert rcpt(t, "x@remote.example")[0] == 554  # this client may not relay
    code, lines = send_message(t.client(), ["info@example.test"])
    assert code == 250, lines
    (m,) = capture.wait(1)
    assert m["to"] == ["carol@remote.example"]
    assert m["from"] == "sender@example.org"


def test_alias_to_a_file_appends_to_it(tern_factory):
    t = tern_factory()
    box = t.root / "archive.mbox"
    route_config(t, aliases=f"archive: {box}, alice\n").start()
    code, lines = send_message(t.client(), ["archive@example.test"])
    assert code == 250, lines
    t.wait_messages("alice")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (box.exists() and b"hello" in box.read_bytes()):
        time.sleep(0.05)
    text = box.read_bytes()
    assert text.startswith(b"From sender@example.org "), text
    assert b"Delivered-To: archive@example.test\n" in text and b"\nhello\n" in text
    # Created for route.default_privs (the alias file belongs to root).
    assert box.stat().st_uid == pwd.getpwnam("nobody").pw_uid


@pytest.mark.parametrize("owner", ["root", "daemon"])
def test_alias_to_a_command_runs_it_as_the_alias_files_owner(tern_factory, pipe_dir, owner):
    # pipe_dir/prog.sh records its stdin, environment and uid there (test_local_transports).
    t = route_config(tern_factory(), aliases=f'bug: "|{pipe_dir / "prog.sh"} -q"\n')
    os.chown(t.root / "aliases", pwd.getpwnam(owner).pw_uid, -1)
    t.start()
    code, lines = send_message(t.client(), ["bug+urgent@example.test"])
    assert code == 250, lines
    wait_file(pipe_dir / "uid")
    assert b"hello" in (pipe_dir / "stdin").read_bytes(), t.log()[-2000:]
    # A root-owned alias file runs commands as route.default_privs (nobody).
    want = "nobody" if owner == "root" else owner
    assert int((pipe_dir / "uid").read_text()) == pwd.getpwnam(want).pw_uid
    env = dict(line.split("=", 1) for line in (pipe_dir / "env").read_text().splitlines()
               if "=" in line)
    assert env["SENDER"] == "sender@example.org"
    assert env["RECIPIENT"] == "bug+urgent@example.test"
    assert env["USER"] == "bug" and env["EXTENSION"] == "urgent"
    assert env["DOMAIN"] == "example.test"


def test_error_member_of_a_list_bounces_alone(tern_factory):
    t = route_config(tern_factory(), aliases="team: alice, error:550 5.1.1 left the team\n").start()
    code, lines = send_message(t.client(), ["team@example.test"], sender="carol@example.test")
    assert code == 250, lines
    t.wait_messages("alice")
    (dsn,) = t.wait_messages("carol")
    assert b"5.1.1" in dsn and b"left the team" in dsn


def test_sighup_applies_a_changed_alias_file(tern_factory):
    t = route_config(tern_factory(), aliases="sales: alice\n", users="alice\nbob\n").start()
    assert rcpt(t, "support@example.test")[0] == 550
    (t.root / "aliases").write_text("sales: alice\nsupport: bob\n")
    t.proc.send_signal(signal.SIGHUP)
    t.wait_log("reloaded configuration")
    assert rcpt(t, "support@example.test")[0] == 250


def test_newaliases_makes_the_running_ternd_take_the_new_aliases(tern_factory, tmp_path):
    t = route_config(tern_factory(), aliases="sales: alice\n", users="alice\nbob\n").start()
    assert rcpt(t, "support@example.test")[0] == 550
    (t.root / "aliases").write_text("sales: alice\nsupport: bob\n")
    # What an admin types after editing /etc/aliases: newaliases (ternctl by another name).
    newaliases = tmp_path / "newaliases"
    newaliases.symlink_to(TERNCTL)
    r = subprocess.run([str(newaliases)], env={**os.environ, "TERN_CONFIG": str(t.config)},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "2 aliases, 0 virtual aliases, users: 2\nternd reloaded its configuration and tables\n"
    assert rcpt(t, "support@example.test")[0] == 250
    # A broken file: newaliases says where, and ternd keeps the tables it had.
    (t.root / "aliases").write_text("sales: alice\nbroken\n")
    r = t.ctl("aliases", "check", check=False)
    assert r.returncode == 78 and f"{t.root / 'aliases'}:2:" in r.stderr, r.stderr
    assert rcpt(t, "support@example.test")[0] == 250
    # ternctl reload asks the same of ternd, and reports a refusal.
    r = t.ctl("reload", check=False)
    assert r.returncode == 78 and "reload refused" in r.stderr and ":2:" in r.stderr, r.stderr
    t.stop()
    r = t.ctl("reload", check=False)
    assert r.returncode == 69 and "ternd is not running" in r.stderr, r.stderr


def test_ternctl_aliases_check_and_expand(tern_factory):
    t = route_config(tern_factory(), aliases="sales: alice, bob\n",
                     virtual="info@example.test  carol@remote.example\n", users="alice\nbob\n")
    r = t.ctl("aliases", "check")
    assert r.stdout == "1 aliases, 1 virtual aliases, users: 2\n", r.stdout
    r = t.ctl("aliases", "expand", "sales+x@example.test")
    # aliases do not pass the extension on (Postfix propagate_unmatched_extensions)
    assert r.stdout == "mailbox alice@example.test\nmailbox bob@example.test\n", r.stdout
    assert t.ctl("aliases", "expand", "alice+x@example.test").stdout == \
        "mailbox alice@example.test extension x\n"
    assert t.ctl("aliases", "expand", "info@example.test").stdout == \
        "address carol@remote.example\n"
    r = t.ctl("aliases", "expand", "mallory@example.test", check=False)
    assert r.returncode != 0 and "5.1.1" in r.stdout
    (t.root / "aliases").write_text("sales alice\n")
    r = t.ctl("aliases", "check", check=False)
    assert r.returncode == 78 and f"{t.root / 'aliases'}:1:" in r.stderr, r.stderr


def test_virtual_alias_applies_to_relayed_recipients(tern_factory, capture):  # noqa: F811
    t = tern_factory(extra="[queue]\nfirst_retry = 1\n")
    route_config(t, virtual="bob@remote.example  carol@other.example\n")
    t.start_with_smarthost(f"[{SINK_HOST}]:{capture.port}")
    code, lines = send_message(t.client(), ["bob@remote.example", "dave@remote.example"])
    assert code == 250, lines
    (m,) = capture.wait(1)
    assert sorted(m["to"]) == ["carol@other.example", "dave@remote.example"]


def test_virtual_alias_does_not_open_a_relay(tern_factory):
    t = tern_factory(relay=["192.0.2.0/24"])
    route_config(t, virtual="bob@remote.example  alice@example.test\n").start()
    assert rcpt(t, "bob@remote.example")[0] == 554  # the relay check sees the given address


def test_users_with_a_domain_and_users_with_a_maildir(tern_factory):
    t = route_config(tern_factory(), users="alice\nbob@example.test\n")
    t.config.write_text(t.config.read_text().replace(
        'local = ["localhost", "example.test"]\n',
        'local = ["localhost", "example.test"]\nusers_maildirs = true\n', 1))
    (t.mail / "localhost" / "dave").mkdir(parents=True)  # a Maildir made by an admin tool
    t.start()
    assert rcpt(t, "alice@localhost")[0] == 250  # a bare local part: every mailbox domain
    assert rcpt(t, "bob@example.test")[0] == 250
    code, lines = rcpt(t, "bob@localhost")  # bob@example.test only
    assert code == 550 and "5.1.1" in lines[-1], lines
    assert rcpt(t, "dave+x@localhost")[0] == 250
    assert rcpt(t, "dave@example.test")[0] == 550


def test_owner_alias_is_the_sender_for_the_lists_recipients(tern_factory, capture):  # noqa: F811
    t = tern_factory(extra="[queue]\nfirst_retry = 1\n")
    route_config(t, aliases="list: alice, bob@remote.example, error:550 5.1.1 left the list\n"
                            "owner-list: alice\n")
    t.start_with_smarthost(f"[{SINK_HOST}]:{capture.port}")
    code, lines = send_message(t.client(), ["list@example.test", "carol@remote.example"])
    assert code == 250, lines
    got = capture.wait(2)
    # One transaction per sender, though both go to the same smarthost.
    assert sorted((m["from"], tuple(m["to"])) for m in got) == [
        ("owner-list@example.test", ("bob@remote.example",)),
        ("sender@example.org", ("carol@remote.example",))]
    # alice gets the message with the owner as Return-Path, and the report about the
    # member that left: it goes to the owner (alice), not to the message's sender.
    msgs = t.wait_messages("alice", 2)
    post = next(m for m in msgs if b"hello" in m and b"multipart/report" not in m)
    assert post.startswith(b"Return-Path: <owner-list@example.test>\n"), post[:200]
    dsn = next(m for m in msgs if b"multipart/report" in m)
    assert b"left the list" in dsn and b"To: owner-list@example.test" in dsn, dsn[:600]
    time.sleep(0.5)
    assert len(capture.messages) == 2  # no report went to sender@example.org


def test_queue_shows_a_recipients_own_sender(tern_factory):
    # The dead smarthost keeps the remote member queued.
    t = route_config(tern_factory(), aliases="list: bob@remote.example\nowner-list: alice\n")
    t.start()
    code, lines = send_message(t.client(), ["list@example.test", "carol@remote.example"])
    assert code == 250, lines
    t.wait_log("status=deferred")
    (entry,) = t.queue()
    senders = {r["address"]: r.get("sender") for r in entry["recipients"]}
    assert senders == {"bob@remote.example": "owner-list@example.test",
                       "carol@remote.example": None}, entry
    assert "sender: <owner-list@example.test>" in t.ctl("queue", "show", entry["queue_id"]).stdout
