"""A real Dovecot on loopback for the LMTP and AUTH tests: its own directory under /tmp
(base_dir, state_dir, mail, log), LMTP on a unix socket and on a high TCP port, IMAP on
another, an auth client socket (as Postfix's smtpd_sasl_type = dovecot uses), virtual
users from a passwd-file, the quota plugin (a user may get a tiny quota), no TLS. It never
touches a system Dovecot: nothing under /etc or /run is used.

The directory is not pytest's tmp_path: that lies under a 0700 directory which the mail
user (nobody) could not enter."""

import imaplib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import free_port, wait_port

# Seconds Dovecot gets to start listening, and to stop after SIGTERM.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PASSWORD = "secret"


class Dovecot:
    """users: {address: quota rule or None}, e.g. {"bob@x.test": "*:storage=1K"}.
    quota_tempfail: quota_full_tempfail (no: 552 5.2.2, yes: 452 4.2.2)."""

    def __init__(self, users, quota_tempfail=False):
        self.root = Path(tempfile.mkdtemp(prefix="tern-dovecot-"))
        os.chmod(self.root, 0o755)
        self.mail = self.root / "mail"
        self.mail.mkdir()
        shutil.chown(self.mail, "nobody", "nogroup")
        self.base = self.root / "base"
        self.socket = self.base / "lmtp"
        self.auth_socket = self.base / "auth-tern"  # what Postfix's smtpd_sasl_path names
        self.lmtp_port = free_port()
        self.imap_port = free_port()
        self.log_path = self.root / "dovecot.log"
        self.proc = None
        lines = []
        for address, quota in users.items():
            extra = f"userdb_quota_rule={quota}" if quota else ""
            lines.append(f"{address}:{{PLAIN}}{PASSWORD}::::::{extra}\n")
        (self.root / "users").write_text("".join(lines))
        self.config = self.root / "dovecot.conf"
        self.config.write_text(f"""
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {self.base}
state_dir = {self.root}/state
instance_name = tern-test-{self.lmtp_port}
log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_uid = nobody
mail_gid = nogroup
mail_location = maildir:{self.mail}/%d/%n
mail_plugins = quota
quota_full_tempfail = {"yes" if quota_tempfail else "no"}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.root}/users
}}
plugin {{
  quota = maildir:User quota
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  unix_listener auth-tern {{
    mode = 0666
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
""")

    def start(self):
        check = subprocess.run(["dovecot", "-n", "-c", str(self.config)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_port("127.0.0.1", self.lmtp_port, START_TIMEOUT)
        wait_port("127.0.0.1", self.imap_port, START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            assert time.monotonic() < deadline, "Dovecot's LMTP socket did not appear"
            time.sleep(0.05)
        return self

    def stop(self):
        """Stops the master (it takes its children along) and removes the directory."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        # Children log out on their own after the master goes; wait until none is left.
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._children() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)

    def _children(self):
        """Pids of processes still running with our configuration (ps shows the instance)."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        name = f"tern-test-{self.lmtp_port}"
        return [l.split()[0] for l in out.splitlines() if name in l]

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def inbox(self, user, timeout=10.0):
        """The messages in user's INBOX over IMAP, as bytes, oldest first."""
        with imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=timeout) as imap:
            imap.login(user, PASSWORD)
            imap.select("INBOX", readonly=True)
            typ, data = imap.search(None, "ALL")
            assert typ == "OK", data
            out = []
            for num in data[0].split():
                typ, parts = imap.fetch(num, "(RFC822)")
                assert typ == "OK", parts
                out.append(parts[0][1])
            imap.logout()
            return out
