"""Shared helpers for Tern's benchmarks (bench/ingest, bench/relay, ...).

Standard library only; runs under Debian's /usr/bin/python3.

What is here:
  * free_port(), wait_for_port()          -- loopback ports
  * make_tempdir()                         -- mktemp -d, removed on cleanup
  * on_cleanup(), install_signal_handlers() -- ensure daemons die on Ctrl-C/SIGTERM
  * run_smtp_source()                      -- timed Postfix smtp-source run, checked
  * TernDaemon                             -- ternd with a generated TOML config
  * PostfixInstance                        -- a private Postfix instance with its own
                                              config_directory/queue_directory
  * report_line(), ratio_line()            -- output formatting

Every address used is on 127.0.0.0/8.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LOOPBACK = "127.0.0.1"

SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTFIX_DAEMON_DIR = "/usr/lib/postfix/sbin"

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchError(Exception):
    """A run failed (daemon did not start, client error, ...): exit non-zero."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Cleanup: callables run in reverse order on normal exit, error or signal.

_cleanups = []


def on_cleanup(fn):
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up the rest
            log(f"cleanup: {e}")


def _signal_exit(signum, _frame):
    # Turn the signal into an exception so that `finally` blocks and
    # run_cleanups() get to stop the daemons.
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _signal_exit)


def make_tempdir(prefix):
    """mktemp -d; world-traversable so that Postfix's unprivileged daemons
    (which chdir into a queue directory below it) can get in. Removed by
    run_cleanups(), unless BENCH_KEEP_TMP=1 is set (for debugging)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    if os.environ.get("BENCH_KEEP_TMP") == "1":
        on_cleanup(lambda: log(f"kept {d}"))
    else:
        on_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


# --------------------------------------------------------------------------
# Ports

def free_port(host=LOOPBACK):
    """A TCP port on host that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host, port, timeout=15.0, alive=None, what="server"):
    """Wait until host:port accepts TCP connections. `alive` is an optional
    callable returning False once the server process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if alive is not None and not alive():
            raise BenchError(f"{what} exited before listening on {host}:{port}")
        time.sleep(0.05)
    raise BenchError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


# --------------------------------------------------------------------------
# smtp-source

def run_smtp_source(host, port, messages, sessions, size,
                    sender="bench@example.test", recipient="user@bench.test",
                    reuse_connections=True, extra_args=(), timeout=900):
    """Run smtp-source against host:port; return wall-clock seconds.

    Raises BenchError if smtp-source exits non-zero, prints a warning or
    fatal error (it aborts on any unexpected SMTP reply), or times out."""
    cmd = [SMTP_SOURCE, "-4",
           "-s", str(sessions), "-l", str(size), "-m", str(messages),
           "-f", sender, "-t", recipient, "-M", "bench-client.test"]
    if reuse_connections:
        cmd.append("-d")  # keep each session open: the N sessions send all messages
    cmd += list(extra_args)
    cmd.append(f"{host}:{port}")
    log("+ " + " ".join(cmd))
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"smtp-source did not finish within {timeout} s")
    elapsed = time.monotonic() - start
    out = (p.stdout + p.stderr).strip()
    bad = [l for l in out.splitlines()
           if re.search(r"\b(fatal|error|warning|panic)\b", l, re.I)]
    if p.returncode != 0 or bad:
        raise BenchError(f"smtp-source failed (exit {p.returncode}):\n{out}")
    return elapsed


# --------------------------------------------------------------------------
# Processes

def _pids_in_session(sid):
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # fields after the ")" of comm: state ppid pgrp session ...
        rest = stat.rsplit(")", 1)[1].split()
        if int(rest[3]) == sid:
            pids.append(int(name))
    return pids


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(_pid_alive(p) for p in pids)


# --------------------------------------------------------------------------
# Tern

class TernDaemon:
    """ternd on a loopback port with a temporary TOML config.

    transports: {domain: transport} written to [transport], e.g.
    {"bench.test": "discard"}. smarthost: written as [relay] smarthost, e.g.
    "[127.0.0.1]:2526" (all non-local mail goes there). extra_toml: appended
    verbatim (e.g. a [delivery.smtp] table)."""

    def __init__(self, ternd, transports=None, extra_toml="", smarthost=None):
        self.ternd = ternd
        self.transports = transports or {}
        self.extra_toml = extra_toml
        self.smarthost = smarthost
        self.proc = None
        self.port = None
        self.dir = None

    def config_text(self):
        d = self.dir
        lines = [
            "[server]",
            'hostname = "bench.tern.test"',
            "[spool]",
            f'path = "{d}/spool"',
            "[[listener]]",
            f'address = "{LOOPBACK}:{self.port}"',
            "[domains]",
            'local = ["localhost"]',
            "catch_all = true",
            "[delivery.maildir]",
            f'root = "{d}/mail"',
            "[relay]",
            'networks = ["127.0.0.0/8"]',
        ]
        if self.smarthost:
            lines.append(f'smarthost = "{self.smarthost}"')
        if self.transports:
            lines.append("[transport]")
            for dom, t in self.transports.items():
                lines.append(f'"{dom}" = "{t}"')
        return "\n".join(lines) + "\n" + self.extra_toml

    def start(self):
        if not os.access(self.ternd, os.X_OK):
            raise BenchError(f"ternd not found or not executable: {self.ternd} "
                             "(build it, pass --ternd PATH, or use --only postfix)")
        self.dir = make_tempdir("tern-bench.")
        self.port = free_port()
        self.config = os.path.join(self.dir, "tern.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text())
        self.logfile = os.path.join(self.dir, "ternd.log")
        logf = open(self.logfile, "w")
        log(f"+ {self.ternd} --config {self.config}  (log: {self.logfile})")
        self.proc = subprocess.Popen([self.ternd, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        logf.close()
        on_cleanup(self.stop)
        try:
            wait_for_port(LOOPBACK, self.port, timeout=15,
                          alive=lambda: self.proc.poll() is None, what="ternd")
        except BenchError as e:
            raise BenchError(f"{e}\n--- {self.logfile} ---\n{self.log_tail()}")
        return self

    def log_tail(self, n=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def count_log(self, pattern):
        """Lines of ternd.log matching the regular expression pattern."""
        try:
            with open(self.logfile, errors="replace") as f:
                return sum(1 for line in f if re.search(pattern, line))
        except OSError:
            return 0

    def stop(self):
        """SIGTERM, wait up to 10 s, then SIGKILL. Returns ternd's exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log("ternd did not exit within 10 s of SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()
        # anything it started in its own session
        for pid in _pids_in_session(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return self.proc.returncode


# --------------------------------------------------------------------------
# Postfix

POSTFIX_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

# Services in master.cf. Nothing is chrooted (the temporary queue directory
# has no chroot files) and only smtpd listens on the network.
_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen} inet n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    """A private Postfix instance: config_directory, queue_directory and
    data_directory in a temporary directory, smtpd on 127.0.0.1:port,
    logging to a file (postlogd) instead of syslog.

    transports: {domain: transport}, e.g. {"bench.test": "discard:"} or
    {"bench.test": "smtp:[127.0.0.1]:2526"} for a relay benchmark. Every
    domain in it is also a relay domain.
    extra_main: {param: value} added to main.cf last (they win).

    Postfix's cleanup(8) fsyncs the queue file before smtpd answers 250;
    nothing here changes that."""

    def __init__(self, transports, extra_main=None):
        self.transports = dict(transports)
        self.extra_main = dict(extra_main or {})
        self.dir = None
        self.port = None
        self.master_pid = None
        self.started = False

    # -- configuration -----------------------------------------------------

    def main_cf(self):
        d = self.dir
        tmap = " ".join(f"{dom}={t}" for dom, t in self.transports.items())
        params = {
            "compatibility_level": "3.6",
            "queue_directory": f"{d}/queue",
            "data_directory": f"{d}/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "bench.postfix.test",
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": LOOPBACK,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": ", ".join(self.transports),
            "relay_recipient_maps": "",
            "transport_maps": "inline:{ " + tmap + " }" if tmap else "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            # no DNS anywhere
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP",
            "default_process_limit": "100",
            # log to a file via postlogd, no syslog needed
            "maillog_file": f"{d}/maillog",
            "maillog_file_prefixes": d,
        }
        params.update(self.extra_main)
        return "".join(f"{k} = {v}\n" for k, v in params.items())

    def master_cf(self):
        return _MASTER_CF.format(listen=f"{LOOPBACK}:{self.port}")

    # -- lifecycle ---------------------------------------------------------

    def _postfix(self, *args, check=True):
        cmd = [POSTFIX, "-c", self.confdir] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        if check and p.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout}")
        return p.stdout

    def start(self):
        self.dir = make_tempdir("postfix-bench.")
        self.confdir = os.path.join(self.dir, "etc")
        self.queuedir = os.path.join(self.dir, "queue")
        os.mkdir(self.confdir, 0o755)
        os.mkdir(self.queuedir, 0o755)
        os.mkdir(os.path.join(self.dir, "data"), 0o700)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        self.port = free_port()
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(self.master_cf())
        on_cleanup(self.stop)
        log(f"+ postfix -c {self.confdir} start  (log: {self.dir}/maillog)")
        out = self._postfix("start")
        self.started = True
        if re.search(r"\b(fatal|panic)\b", out):
            raise BenchError(f"postfix start:\n{out}")
        pidfile = os.path.join(self.queuedir, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while self.master_pid is None and time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master_pid = int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        if self.master_pid is None:
            raise BenchError(f"postfix master did not write {pidfile}\n{out}\n{self.log_tail()}")
        try:
            wait_for_port(LOOPBACK, self.port, timeout=15,
                          alive=lambda: _pid_alive(self.master_pid), what="postfix")
        except BenchError as e:
            raise BenchError(f"{e}\n--- {self.dir}/maillog ---\n{self.log_tail()}")
        return self

    def queued(self):
        """Number of queue files in maildrop/incoming/active/deferred/hold/corrupt."""
        n = 0
        for q in POSTFIX_QUEUES:
            for _root, _dirs, files in os.walk(os.path.join(self.queuedir, q)):
                n += len(files)
        return n

    def wait_queue_empty(self, timeout=600):
        """Wait until every queue is empty; return seconds waited."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            n = self.queued()
            if n == 0:
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise BenchError(f"postfix queue still holds {n} messages after {timeout} s")
            time.sleep(0.1)

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def count_log(self, pattern):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return sum(1 for line in f if re.search(pattern, line))
        except OSError:
            return 0

    def stop(self):
        """postfix stop; wait for every process of this instance (they all share
        the master's session) to exit, SIGKILL after 10 s."""
        if not self.started:
            return
        self.started = False
        try:
            self._postfix("stop", check=False)
        except Exception as e:
            log(f"postfix stop: {e}")
        if self.master_pid is None:
            # start failed before we learned the pid: try the pid file once more
            try:
                with open(os.path.join(self.queuedir, "pid", "master.pid")) as f:
                    self.master_pid = int(f.read().strip())
            except (OSError, ValueError):
                return
        pids = _pids_in_session(self.master_pid) or [self.master_pid]
        if not _wait_gone(pids, 10):
            log("postfix did not stop within 10 s; killing it")
        for pid in set(_pids_in_session(self.master_pid) + pids):
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        _wait_gone(pids, 5)


# --------------------------------------------------------------------------
# Output

def report_line(name, messages, seconds):
    rate = messages / seconds if seconds > 0 else float("inf")
    print(f"{name + ':':<9}{messages} messages in {seconds:.2f} s = {rate:.0f} msg/s",
          flush=True)
    return rate


def ratio_line(label, a, b, target):
    r = a / b if b else float("inf")
    print(f"ratio {label}: {r:.2f} (target >= {target:g})", flush=True)
    return r
