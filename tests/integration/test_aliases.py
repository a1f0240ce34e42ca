"""Aliases, virtual alias maps and the users of the mailbox domains ([route], domains.users):
`ternd --check` reads the tables and reports their mistakes as file:line; a SIGHUP with a
broken table keeps the running configuration and tables."""

import signal
import subprocess
import time

from conftest import TERND


def wait_log(tern, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in tern.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{tern.log()[-2000:]}")


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
        text = text.replace('local = ["localhost", "example.test"]',
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
    t = route_config(tern_factory(), aliases="root: alice\n").start()
    (t.root / "aliases").write_text("root: alice\nbroken\n")
    t.proc.send_signal(signal.SIGHUP)
    wait_log(t, "reload failed; keeping the running configuration")
    assert f"{t.root / 'aliases'}:2:" in t.log()
    assert t.proc.poll() is None
    (t.root / "aliases").write_text("root: bob\n")
    t.proc.send_signal(signal.SIGHUP)
    wait_log(t, "reloaded configuration")
