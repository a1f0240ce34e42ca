"""Secure by default: started as root, ternd binds its port and then runs as the
unprivileged user `tern` (created by scripts/install-deps), owning its spool and mail root;
mail still arrives. A missing user is a clear error at start."""

import os
import pwd
import smtplib
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Tern


def uid_of(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drops_to_tern_user_and_delivers():
    tern_uid = pwd.getpwnam("tern").pw_uid
    root = Path(tempfile.mkdtemp(prefix="tern-priv-"))
    root.chmod(0o755)  # the tern user must reach its directories
    t = Tern(root, user="tern")
    try:
        t.start()
        # The port is bound before root is dropped: wait for the daemon to be up.
        deadline = time.monotonic() + 10
        while "daemon started" not in t.log():
            assert time.monotonic() < deadline, t.log()
            time.sleep(0.02)
        assert uid_of(t.proc.pid) == [tern_uid] * 4  # real, effective, saved, filesystem
        assert t.spool.stat().st_uid == tern_uid and t.mail.stat().st_uid == tern_uid
        assert t.spool.stat().st_mode & 0o777 == 0o700  # queued mail is private
        with smtplib.SMTP(t.host, t.port, timeout=10) as s:
            s.sendmail("a@example.org", ["carol@example.test"], b"Subject: x\r\n\r\nhi\r\n")
        (msg,) = t.wait_messages("carol")
        assert b"hi" in msg
        box = t.maildir("carol")
        assert all(p.stat().st_uid == tern_uid for p in box.iterdir())
        assert all(p.stat().st_mode & 0o077 == 0 for p in box.iterdir())  # mail is private
    finally:
        t.stop()
        import shutil
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_unknown_user_is_a_clear_error(tmp_path):
    t = Tern(tmp_path, user="no-such-user-here")
    import subprocess
    from conftest import TERND
    r = subprocess.run([str(TERND), "--config", str(t.config)], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1
    assert "server.user 'no-such-user-here' does not exist" in r.stderr
