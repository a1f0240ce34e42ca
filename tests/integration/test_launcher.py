"""Privilege separation for local delivery: ternd started as root drops to `tern` after
binding its port, and its launcher (a helper forked before that, still root: see
delivery/launcher.hpp) runs commands and opens files as other users. A [transport] pipe runs
as delivery.pipe.user, an alias "|command" of a root-owned alias file as route.default_privs,
and an mbox in a Debian-style mail spool (root:mail 2775) is created for the recipient's
system user, mode 0600, its dot-lock taken with group mail. The helper shows in ps as
tern-launcher, as root, and goes when ternd stops; when it dies, deliveries defer."""

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Tern, send_message
from test_local_transports import SCRIPT, wait_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")


@pytest.fixture
def root_dir():
    """A root directory the tern user can reach (pytest's tmp_path is private to root),
    with a world-writable subdirectory the pipe program writes to, and the program."""
    d = Path(tempfile.mkdtemp(prefix="tern-launcher-"))
    d.chmod(0o755)
    out = d / "out"
    out.mkdir()
    out.chmod(0o777)
    script = d / "prog.sh"
    script.write_text(SCRIPT.format(d=out))
    script.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def launcher_pids(ternd_pid):
    """The pids of ternd's children named tern-launcher."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            status = dict(line.split(":\t", 1) for line in (p / "status").read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if status.get("Name", "").strip() == "tern-launcher" and \
                int(status["PPid"]) == ternd_pid:
            found.append((int(p.name), int(status["Uid"].split()[1])))
    return found


def start_tern(root, extra):
    t = Tern(root, user="tern", extra=extra)
    t.start()
    return t


def test_pipe_transport_runs_as_pipe_user_and_launcher_is_root(root_dir):
    extra = f'[transport]\n"lists.test" = "pipe:{root_dir / "prog.sh"}"\n'
    t = start_tern(root_dir, extra)
    try:
        (launcher,) = launcher_pids(t.proc.pid)
        assert launcher[1] == 0  # the helper keeps root; ternd itself does not
        code, lines = send_message(t.client(), ["dev@lists.test"])
        assert code == 250, lines
        # delivery.pipe.user defaults to nobody
        assert int(wait_file(root_dir / "out" / "uid")) == pwd.getpwnam("nobody").pw_uid
        log = t.wait_log("to=<dev@lists.test>")
        assert "status=sent" in t.wait_log("status=sent")
        assert "not running as root" not in log
    finally:
        t.stop()
    assert not launcher_pids_alive(launcher[0])  # gone with ternd


def launcher_pids_alive(pid):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return False
        time.sleep(0.05)
    return True


def test_alias_command_runs_as_default_privs(root_dir):
    aliases = root_dir / "aliases"
    aliases.write_text(f'bug: "|{root_dir / "prog.sh"}"\n')
    aliases.chmod(0o644)  # root-owned: commands run as route.default_privs
    t = start_tern(root_dir, f'[route]\ndefault_privs = "daemon"\naliases = ["{aliases}"]\n')
    try:
        code, lines = send_message(t.client(), ["bug@example.test"])
        assert code == 250, lines
        assert int(wait_file(root_dir / "out" / "uid")) == pwd.getpwnam("daemon").pw_uid
        t.wait_log("status=sent")
    finally:
        t.stop()


@pytest.fixture
def mail_user():
    """A throwaway ordinary account (uid 1000 and up, as the launcher allows for mailboxes),
    removed afterwards."""
    name = f"terntest{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


def test_mbox_in_a_debian_mail_spool_is_the_users(root_dir, mail_user):
    spool = root_dir / "varmail"
    spool.mkdir()
    os.chown(spool, 0, grp.getgrnam("mail").gr_gid)
    spool.chmod(0o2775)  # as Debian's /var/mail: only root and group mail may create here
    extra = f'[delivery.mbox]\ndirectory = "{spool}"\n[transport]\n"users.test" = "mbox"\n'
    t = start_tern(root_dir, extra)
    name = mail_user.pw_name
    try:
        for n in range(2):
            code, lines = send_message(t.client(), [f"{name}@users.test"],
                                       body=f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode())
            assert code == 250, lines
        box = spool / name
        deadline = time.monotonic() + 10
        # Delivered in parallel, in either order: wait for both, and for both log lines.
        while time.monotonic() < deadline and not (
                box.exists() and b"body 0" in box.read_bytes() and b"body 1" in box.read_bytes()
                and t.log().count("status=sent") == 2):
            time.sleep(0.05)
        text = box.read_bytes()
        assert text.startswith(b"From sender@example.org "), text
        st = box.stat()
        assert st.st_uid == mail_user.pw_uid
        assert st.st_gid == mail_user.pw_gid
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert not (spool / f"{name}.lock").exists()  # taken and released each time
        assert t.log().count("status=sent") == 2
        # A system account (daemon, uid 1) is no one the launcher acts as for a mailbox.
        code, lines = send_message(t.client(), ["daemon@users.test"])
        assert code == 250, lines
        log = t.wait_log("to=<daemon@users.test>, relay=local")
        assert "dsn=4.3.0, status=deferred (cannot open" in log, log
        assert not (spool / "daemon").exists()
    finally:
        t.stop()


def test_a_dead_launcher_defers_and_ternd_runs_on(root_dir):
    extra = f'[queue]\nfirst_retry = 3600\n[transport]\n"lists.test" = "pipe:{root_dir / "prog.sh"}"\n'
    t = start_tern(root_dir, extra)
    try:
        (launcher,) = launcher_pids(t.proc.pid)
        os.kill(launcher[0], signal.SIGKILL)
        t.wait_log("the launcher (pid")
        code, lines = send_message(t.client(), ["dev@lists.test"])
        assert code == 250, lines
        log = t.wait_log("status=deferred")
        assert "dsn=4.3.0" in log and "the launcher is gone" in log
        assert t.proc.poll() is None
        # Other mail still flows.
        code, lines = send_message(t.client(), ["carol@example.test"])
        assert code == 250, lines
        t.wait_messages("carol")
    finally:
        t.stop()
