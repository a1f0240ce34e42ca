"""The daemon's edges: a listener on IPv6 loopback [::1] takes mail (traced with an IPv6
address literal), and `ternd --check` validates a configuration: 0 and "configuration is
valid" for a good file; 1 and one "file:line: problem" per mistake (unknown keys, bad values,
TOML syntax) for a bad one, without starting anything."""

import socket
import subprocess

import pytest

from conftest import TERND, Tern, send_message


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback address ::1")
def test_ipv6_listener(tern_factory):
    t = tern_factory(host="::1").start()
    c = t.client()
    code, lines = send_message(c, ["alice@example.test", "bob@remote.example"])
    assert code == 250, lines  # ::1/128 is in relay.networks
    (msg,) = t.wait_messages("alice")
    assert b"Received: from client.example ([IPv6:::1])\n" in msg
    assert "listening on [::1]:" in t.log() and "connect from unknown[::1]" in t.log()
    (entry,) = t.queue()
    assert entry["client"] == "::1"


def check(tmp_path, text):
    path = tmp_path / "tern.toml"
    path.write_text(text)
    r = subprocess.run([str(TERND), "--check", "--config", str(path)], capture_output=True,
                       text=True, timeout=20)
    return path, r


def test_check_accepts_the_harness_config(tmp_path):
    t = Tern(tmp_path)
    r = subprocess.run([str(TERND), "--check", "--config", str(t.config)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{t.config}: configuration is valid\n"
    assert not (tmp_path / "spool").exists()  # checking starts nothing


BAD = """\
[server]
hostname = "mx.example.test"
colour = "blue"
[spool]
path = "/nonexistent/spool"
[[listener]]
address = "127.0.0.1"
[limits]
recipients = 10
message_size = "lots"
[smtp]
bare_line_endings = "maybe"
[bogus]
x = 1
"""


def test_check_reports_every_problem_with_file_and_line(tmp_path):
    path, r = check(tmp_path, BAD)
    assert r.returncode == 1 and r.stdout == ""
    problems = r.stderr.splitlines()
    expected = [
        (3, "unknown setting 'server.colour'"),
        (7, "listener.address '127.0.0.1' is not IP:port or [IPv6]:port"),
        (9, "limits.recipients must be at least 100"),
        (10, "limits.message_size must be a size"),
        (12, 'smtp.bare_line_endings must be "reject" or "normalize"'),
        (13, "unknown setting 'bogus'"),
    ]
    for line, text in expected:
        assert any(p.startswith(f"{path}:{line}: {text}") for p in problems), (line, problems)
    assert all(p.startswith(f"{path}:") for p in problems), problems


def test_check_reports_a_single_unknown_key(tmp_path):
    good = Tern(tmp_path).config.read_text()
    path, r = check(tmp_path, good + "[limits]\nmesage_size = \"10M\"\n")
    lines = good.count("\n") + 2
    assert r.returncode == 1
    assert r.stderr == f"{path}:{lines}: unknown setting 'limits.mesage_size'\n"


def test_check_reports_toml_syntax_errors(tmp_path):
    path, r = check(tmp_path, '[server]\nhostname = "mx.example.test"\nio_threads = = 2\n')
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:3: ")
