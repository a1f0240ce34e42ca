"""Outbound STARTTLS and AUTH against real servers on loopback: aiosmtpd with STARTTLS (a
certificate made here with the `openssl` command, in tmp_path, never committed), with an
authenticator (AUTH PLAIN and LOGIN), without STARTTLS, and a small server whose STARTTLS
leads to garbage instead of a handshake.

Policies (RFC 3207; Postfix smtp_tls_security_level): "may" uses TLS when offered and falls
back to plaintext when the handshake fails; "encrypt" and "verify" defer without TLS;
credentials (RFC 4954) are sent only inside TLS and never logged."""

import socket
import ssl
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import Tern, free_port
from test_relay_out import Capture

HOST = "127.0.0.2"
USER = "relayuser"
PASSWORD = "s3cret-Pa55word"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA and two server certificates it signed: one for the address HOST, one for
    a name that is not HOST."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Tern Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("good", f"IP:{HOST}"), ("wrong", "DNS:other.example")):
        openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)
    return d


def server_context(pki, name="good"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
    return ctx


class Handler(Capture):
    """Keeps every message with whether it came inside TLS, and who logged in."""

    def __init__(self):
        super().__init__()
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "tls": session.ssl is not None,
                                  "data": envelope.original_content or envelope.content})
        return "250 2.0.0 Ok: captured"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        with self.lock:
            self.logins.append((mechanism, auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd then replies 535


@pytest.fixture
def smtpd():
    """Starts aiosmtpd servers on HOST: smtpd(**SMTP keyword arguments) -> Handler."""
    controllers = []

    def start(**kw):
        handler = Handler()
        port = free_port(HOST)
        if kw.pop("auth", False):
            kw.update(authenticator=handler.authenticator, auth_required=True)
        c = Controller(handler, hostname=HOST, port=port, **kw)
        c.start()
        controllers.append(c)
        handler.port = port
        return handler

    yield start
    for c in controllers:
        c.stop()


def relay_tern(tern_factory, port, relay="", extra=""):
    """A Tern whose smarthost is [HOST]:port, with more [relay] settings in `relay`."""
    t = tern_factory(extra=f"[queue]\nfirst_retry = 1\n{extra}")
    text = t.config.read_text().replace(f'smarthost = "{Tern.DEAD_SMARTHOST}"',
                                        f'smarthost = "[{HOST}]:{port}"\n{relay}', 1)
    t.config.write_text(text)
    return t.start()


def send(t, rcpt="bob@remote.example"):
    c = t.client()
    c.send(f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
    assert [code for code, _ in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: tls\r\n\r\nhello over TLS\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    return lines[0].split()[-1]



def wait_empty(t, timeout=10.0):
    deadline = time.monotonic() + timeout
    while t.queue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.queue() == []


def test_opportunistic_starttls_is_used_when_offered(tern_factory, smtpd, pki):
    server = smtpd(tls_context=server_context(pki))
    t = relay_tern(tern_factory, server.port)
    qid = send(t)
    (msg,) = server.wait(1)
    assert msg["tls"] and b"hello over TLS" in msg["data"]
    log = t.wait_log("status=sent")
    # Postfix's line; "Untrusted": the test CA is not in the system store, and "may"
    # accepts any certificate.
    assert f"Untrusted TLS connection established to {HOST}[{HOST}]:{server.port}: TLSv1." in log
    assert " with cipher " in log and " bits)" in log
    assert f"{qid}: to=<bob@remote.example>, relay={HOST}[{HOST}]:{server.port}" in log
    wait_empty(t)


def test_none_never_says_starttls(tern_factory, smtpd, pki):
    server = smtpd(tls_context=server_context(pki))
    t = relay_tern(tern_factory, server.port, relay='smarthost_tls = "none"')
    send(t)
    (msg,) = server.wait(1)
    assert not msg["tls"]
    assert "TLS connection established" not in t.log()


def test_encrypt_without_starttls_defers(tern_factory, smtpd):
    server = smtpd()  # no tls_context: no STARTTLS in EHLO
    t = relay_tern(tern_factory, server.port, relay='smarthost_tls = "encrypt"')
    qid = send(t)
    log = t.wait_log("status=deferred")
    assert (f"{qid}: to=<bob@remote.example>, relay={HOST}[{HOST}]:{server.port}" in log
            and "dsn=4.7.4" in log), log
    assert f"TLS is required, but was not offered by host {HOST}[{HOST}]" in log
    (entry,) = t.queue()  # stays queued for a later try
    assert "TLS is required" in entry["recipients"][0]["last_error"]
    assert server.messages == []


def test_verify_accepts_a_certificate_for_the_host(tern_factory, smtpd, pki, monkeypatch):
    # The test CA stands in for the system store: OpenSSL reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    server = smtpd(tls_context=server_context(pki))
    t = relay_tern(tern_factory, server.port, relay='smarthost_tls = "verify"')
    send(t)
    (msg,) = server.wait(1)
    assert msg["tls"]
    assert f"Verified TLS connection established to {HOST}[{HOST}]:{server.port}" in t.log()


def test_verify_refuses_a_certificate_for_another_name(tern_factory, smtpd, pki, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    server = smtpd(tls_context=server_context(pki, "wrong"))
    t = relay_tern(tern_factory, server.port, relay='smarthost_tls = "verify"')
    send(t)
    log = t.wait_log("status=deferred")
    assert "dsn=4.7.5" in log and "Cannot start TLS: handshake failure" in log, log
    assert "certificate verify failed" in log
    assert server.messages == [] and len(t.queue()) == 1


def test_may_reports_a_trusted_certificate_for_another_name(tern_factory, smtpd, pki,
                                                            monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    server = smtpd(tls_context=server_context(pki, "wrong"))
    t = relay_tern(tern_factory, server.port)
    send(t)
    server.wait(1)
    assert f"Trusted TLS connection established to {HOST}[{HOST}]:{server.port}" in t.log()


def password_file(tmp_path, password=PASSWORD):
    p = tmp_path / "smarthost.password"
    p.write_text(password + "\n")
    p.chmod(0o600)
    return p


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_with_the_right_password_delivers(tern_factory, smtpd, pki, tmp_path, mechanism):
    exclude = ["LOGIN"] if mechanism == "PLAIN" else ["PLAIN"]
    server = smtpd(tls_context=server_context(pki), auth=True, auth_exclude_mechanism=exclude)
    pw = password_file(tmp_path)
    t = relay_tern(tern_factory, server.port,
                   relay=f'smarthost_user = "{USER}"\nsmarthost_password_file = "{pw}"')
    send(t)
    (msg,) = server.wait(1)
    assert msg["tls"]
    assert server.logins == [(mechanism, USER, True)]
    t.wait_log("status=sent")
    assert PASSWORD not in t.log()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_with_a_wrong_password_defers(tern_factory, smtpd, pki, tmp_path, mechanism):
    exclude = ["LOGIN"] if mechanism == "PLAIN" else ["PLAIN"]
    server = smtpd(tls_context=server_context(pki), auth=True, auth_exclude_mechanism=exclude)
    wrong = "not-" + PASSWORD
    t = relay_tern(tern_factory, server.port,
                   relay=f'smarthost_user = "{USER}"\nsmarthost_password = "{wrong}"')
    qid = send(t)
    log = t.wait_log("status=deferred")
    assert f"{qid}: to=<bob@remote.example>" in log and "dsn=4.7.0" in log, log
    assert (f"SASL authentication failed; server {HOST}[{HOST}] said: 535 5.7.8 "
            "Authentication credentials invalid") in log
    assert "authentication failed" in log
    assert wrong not in log and PASSWORD not in log
    assert server.messages == [] and len(t.queue()) == 1
    assert server.logins and server.logins[0] == (mechanism, USER, False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_never_go_in_plaintext(tern_factory, smtpd, tmp_path):
    server = smtpd(auth=True, auth_require_tls=False)  # AUTH offered without STARTTLS
    pw = password_file(tmp_path)
    t = relay_tern(tern_factory, server.port,
                   relay=f'smarthost_user = "{USER}"\nsmarthost_password_file = "{pw}"')
    send(t)
    log = t.wait_log("status=deferred")
    assert "TLS is required for AUTH" in log and "dsn=4.7.0" in log, log
    assert server.logins == [] and server.messages == []


class BrokenTlsServer:
    """Offers STARTTLS, answers it with 220 and then garbage instead of a handshake; takes
    mail in plaintext otherwise, and closes after each message so the next one needs a new
    connection. Counts STARTTLS commands."""

    def __init__(self):
        self.port = free_port(HOST)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.starttls = 0
        self.messages = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")

        def say(text):
            conn.sendall(text.encode() + b"\r\n")

        try:
            say("220 broken.example ESMTP")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line.decode(errors="replace").strip().upper()
                if verb.startswith("EHLO"):
                    say("250-broken.example\r\n250-PIPELINING\r\n250 STARTTLS")
                elif verb == "STARTTLS":
                    self.starttls += 1
                    say("220 2.0.0 Ready to start TLS")
                    conn.sendall(b"this is not a TLS server hello\r\n" * 4)
                    return
                elif verb.startswith("MAIL") or verb.startswith("RCPT"):
                    say("250 2.0.0 Ok")
                elif verb == "DATA":
                    say("354 go ahead")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = f.readline()
                        if not chunk:
                            return
                        data += chunk
                    self.messages.append(data)
                    say("250 2.0.0 Ok: taken")
                    return  # one message per connection
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("502 5.5.1 not here")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.running = False
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def broken():
    s = BrokenTlsServer()
    yield s
    s.stop()


def test_a_failed_handshake_falls_back_to_plaintext(tern_factory, broken):
    t = relay_tern(tern_factory, broken.port)
    send(t, "first@remote.example")
    log = t.wait_log("status=sent")
    assert "Cannot start TLS: handshake failure with host" in log
    assert f"trying {HOST}[{HOST}]:{broken.port} again without TLS" in log
    assert len(broken.messages) == 1 and b"hello over TLS" in broken.messages[0]
    # The host is remembered: the next message goes in plaintext at once.
    send(t, "second@remote.example")
    deadline = time.monotonic() + 15
    while len(broken.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(broken.messages) == 2
    assert broken.starttls == 1
    wait_empty(t)


def test_encrypt_does_not_fall_back(tern_factory, broken):
    t = relay_tern(tern_factory, broken.port, relay='smarthost_tls = "encrypt"')
    send(t)
    log = t.wait_log("status=deferred")
    assert "dsn=4.7.5" in log and "Cannot start TLS: handshake failure" in log, log
    assert broken.messages == [] and len(t.queue()) == 1


def test_no_plaintext_fallback_with_credentials(tern_factory, broken, tmp_path):
    pw = password_file(tmp_path)
    t = relay_tern(tern_factory, broken.port,
                   relay=f'smarthost_user = "{USER}"\nsmarthost_password_file = "{pw}"')
    send(t)
    log = t.wait_log("status=deferred")
    assert "dsn=4.7.5" in log and "Cannot start TLS: handshake failure" in log, log
    assert "again without TLS" not in log
    assert broken.messages == [] and PASSWORD not in log
