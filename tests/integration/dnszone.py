"""A real authoritative DNS server for integration tests: NSD (Debian package nsd) on
127.0.0.1 at a free high port, serving zones the test writes, with its configuration, zone
files and logs in a temporary directory. The Python twin of tests/unit/dns/nsd_server.hpp:
started in the foreground (nsd -d) as a child process that dies with the test process
(PR_SET_PDEATHSIG), waited for until it answers a query, stopped with SIGTERM (SIGKILL past
a bound). Also a DNS server that never answers, for the timeout case.

Tern's configuration points a zone at these servers with
`[dns] stub_zones = { "zone" = ["127.0.0.1@PORT"] }`."""

import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

NSD = "/usr/sbin/nsd"
# NSD loads its zones and answers in well under a second.
START_BOUND = 10.0
STOP_BOUND = 5.0
# Another process may take the free port before NSD binds it: tries this often.
START_ATTEMPTS = 3

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the child before exec: SIGTERM when the test process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_udp_tcp_port():
    """A port free for UDP and TCP on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", port))
    return port


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def query(port, name, qtype=6, timeout=0.2, host="127.0.0.1"):
    """One UDP question (default SOA); the answer's (rcode, ancount), or None on no answer."""
    qid = os.getpid() & 0xFFFF
    packet = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        try:
            data = s.recv(4096)
        except (TimeoutError, socket.timeout, ConnectionRefusedError):
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    flags, _, ancount = struct.unpack(">HHH", data[2:8])
    return flags & 0xF, ancount


class Nsd:
    """NSD serving `zones` (zone name → zone file text) on 127.0.0.1:port."""

    def __init__(self, zones: dict):
        self.zones = zones
        self.dir = None
        self.port = None
        self.proc = None

    @property
    def address(self):
        """The server as libunbound (and [dns] stub_zones) names one: "127.0.0.1@PORT"."""
        return f"127.0.0.1@{self.port}"

    def log(self):
        out = ""
        for name in ("nsd.log", "nsd.out"):
            p = Path(self.dir) / name
            if p.exists() and p.stat().st_size:
                out += f"\n--- {name}:\n" + p.read_text(errors="replace")
        return out

    def start(self):
        error = ""
        for _ in range(START_ATTEMPTS):
            try:
                self._launch()
                return self
            except RuntimeError as e:
                error = str(e)
                self.stop()
        raise RuntimeError(error)

    def _launch(self):
        self.dir = tempfile.mkdtemp(prefix="tern-nsd-")
        self.port = _free_udp_tcp_port()
        d = self.dir
        conf = f"""server:
  ip-address: 127.0.0.1
  port: {self.port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{d}"
  database: ""
  zonelistfile: "{d}/zone.list"
  xfrdfile: "{d}/xfrd.state"
  xfrdir: "{d}"
  pidfile: "{d}/nsd.pid"
  logfile: "{d}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
"""
        for name, text in self.zones.items():
            conf += f'zone:\n  name: "{name}"\n  zonefile: "{name}.zone"\n'
            (Path(d) / f"{name}.zone").write_text(text)
        (Path(d) / "nsd.conf").write_text(conf)
        out = open(Path(d) / "nsd.out", "wb")
        try:
            self.proc = subprocess.Popen([NSD, "-d", "-c", f"{d}/nsd.conf"], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        finally:
            out.close()
        first = next(iter(self.zones))
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nsd exited at start (status {self.proc.returncode})"
                                   + self.log())
            if query(self.port, first, timeout=0.1) is not None:
                return
            time.sleep(0.05)
        raise RuntimeError(f"nsd did not answer on 127.0.0.1:{self.port} within "
                           f"{START_BOUND} s" + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_BOUND)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_BOUND)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class SilentDns:
    """A UDP socket on 127.0.0.1 that receives questions and never answers: the server of
    a zone whose name service is down. (Nothing listens on TCP at that port.)"""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def address(self):
        return f"127.0.0.1@{self.port}"

    def close(self):
        self.sock.close()
