"""TLS on the server (RFC 3207 STARTTLS, RFC 8314 implicit TLS) with real clients: Python's
smtplib and ssl, `openssl s_client -starttls smtp`, swaks. Checks what a client sees: the
certificate chosen by SNI, TLS 1.2+ only, STARTTLS no longer offered once TLS is on, the
Received header naming the cipher and ESMTPS; that plaintext pipelined behind STARTTLS is
thrown away (CVE-2011-0411); that unreadable certificates are clear errors at --check; and
that SIGHUP swaps the certificate without dropping a connection."""

import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import TERND, RawClient
from secure import client_context, start_secure, starttls


def s_client(port, *args, starttls=True, timeout=20):
    """openssl s_client's output for a handshake with 127.0.0.1:port."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief", *args]
    if starttls:
        cmd[2:2] = ["-starttls", "smtp"]
    r = subprocess.run(cmd, input="QUIT\r\n", capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def peer_subject(port, server_name, certs):
    """The CN of the certificate Tern shows for `server_name` (SNI) over STARTTLS."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.example")
        starttls(s, certs, server_name, verify=False)
        cert = s.sock.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


@pytest.fixture
def secure(tern_factory, certs, tmp_path):
    return start_secure(tern_factory, certs, tmp_path)


def test_starttls_with_smtplib_then_mail_records_tls(secure, certs):
    with smtplib.SMTP("127.0.0.1", secure.smtp, timeout=10) as s:
        code, text = s.ehlo("client.example")
        assert b"STARTTLS" in text
        assert b"AUTH" not in text  # port-25 listener: no AUTH unless configured
        code, _ = starttls(s, certs)
        assert code == 220
        code, text = s.ehlo("client.example")
        assert b"STARTTLS" not in text  # RFC 3207 §4.2
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.sendmail("someone@example.org", ["alice@example.test"], b"Subject: tls\r\n\r\nhi\r\n")
    (msg,) = secure.tern.wait_messages("alice")
    head = msg.split(b"\r\n\r\n")[0].decode()
    assert "(using TLSv1.3 with cipher TLS_" in head
    assert "with ESMTPS id" in head
    log = secure.tern.wait_log("Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3")
    assert "with cipher" in log


def test_sni_selects_the_certificate(secure, certs):
    assert peer_subject(secure.smtp, "mx.example.test", certs) == "mx.example.test"
    assert peer_subject(secure.smtp, "other.example.test", certs) == "other.example.test"
    # A name no certificate carries gets the default one.
    assert peer_subject(secure.smtp, "unknown.example.net", certs) == "mx.example.test"


def test_openssl_s_client_starttls_verifies_and_old_protocols_fail(secure, certs):
    rc, out = s_client(secure.smtp, "-CAfile", str(certs.ca), "-verify_return_error",
                       "-servername", "mx.example.test", "-verify_hostname", "mx.example.test")
    assert rc == 0, out
    assert "Verification: OK" in out
    assert "Protocol version: TLSv1.3" in out
    # TLS 1.1 is refused (RFC 8996) even when the client would take any cipher: the server
    # says so in its log, so it is not the local OpenSSL that declined to try.
    rc, out = s_client(secure.smtp, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert rc != 0, out
    log = secure.tern.wait_log("SSL_accept error from unknown[127.0.0.1]")
    assert "unsupported protocol" in log, log
    rc, out = s_client(secure.smtp, "-tls1_2", "-CAfile", str(certs.ca))
    assert rc == 0 and "Protocol version: TLSv1.2" in out, out


def test_implicit_tls_listener_speaks_tls_before_the_greeting(secure, certs):
    with smtplib.SMTP_SSL("127.0.0.1", secure.submissions, timeout=10,
                          context=client_context(certs)) as s:
        code, text = s.ehlo("client.example")
        assert code == 250
        assert b"STARTTLS" not in text and b"AUTH PLAIN LOGIN" in text
    # A plaintext client on the implicit-TLS port gets no greeting, and Tern logs why.
    with socket.create_connection(("127.0.0.1", secure.submissions), timeout=10) as raw:
        raw.sendall(b"EHLO plain.example\r\n")
        raw.settimeout(10)
        assert b"220" not in raw.recv(100)
    secure.tern.wait_log("SSL_accept error from unknown[127.0.0.1]")


def starttls_with_injection(port, injected, certs):
    """Sends "STARTTLS\\r\\n" + injected in one packet, completes TLS, and returns the
    wrapped socket and the first reply read after the handshake to a NOOP."""
    c = RawClient("127.0.0.1", port)
    assert c.code() == 220
    c.ehlo("client.example")
    c.send(b"STARTTLS\r\n" + injected)
    assert c.reply()[0] == 220
    assert c.buf == b"", "Tern answered the injected command before TLS"
    ctx = client_context(certs)
    tls = ctx.wrap_socket(c.sock, server_hostname="mx.example.test")
    tls.sendall(b"NOOP\r\n")
    tls.settimeout(10)
    data = b""
    while not data.endswith(b"\r\n"):
        data += tls.recv(1000)
    return tls, data


def test_starttls_injection_is_never_run(secure, certs):
    # HELP in the same packet as STARTTLS: had it run, its 214 would come before NOOP's 250.
    tls, first = starttls_with_injection(secure.smtp, b"HELP\r\n", certs)
    assert first == b"250 2.0.0 Ok\r\n"
    tls.close()
    # MAIL FROM injected: after TLS there is no transaction (RCPT needs MAIL), and the
    # session forgot the EHLO from before TLS (MAIL needs EHLO again).
    tls, first = starttls_with_injection(secure.smtp, b"MAIL FROM:<evil@example.org>\r\n", certs)
    assert first == b"250 2.0.0 Ok\r\n"
    tls.sendall(b"RCPT TO:<alice@example.test>\r\nMAIL FROM:<a@example.org>\r\n")
    data = b""
    while data.count(b"\r\n") < 2:
        data += tls.recv(1000)
    lines = data.split(b"\r\n")
    assert lines[0].startswith(b"503 5.5.1"), lines
    assert lines[1].startswith(b"503 5.5.1"), lines  # "send HELO/EHLO first"
    tls.close()
    log = secure.tern.wait_log("discarding 30 octets sent after STARTTLS")
    assert "discarding 6 octets sent after STARTTLS" in log  # "HELP\r\n"
    assert "evil@example.org" not in log.split("discarding 30")[1]


def test_starttls_refused_in_the_wrong_places(secure, certs):
    c = RawClient("127.0.0.1", secure.smtp)
    assert c.code() == 220
    c.ehlo("client.example")
    c.send(b"STARTTLS now\r\nMAIL FROM:<a@example.org>\r\nSTARTTLS\r\nRSET\r\n")
    got = c.replies(4)
    assert got[0][1][0].startswith("501 5.5.4")
    assert got[2][1][0].startswith("503 5.5.1")  # inside a transaction
    assert got[3][0] == 250


def test_check_reports_unreadable_certificates(tern_factory, certs, tmp_path):
    chain, key = certs.leaf("mx.example.test")
    other_chain, other_key = certs.leaf("other.example.test")
    cases = [
        (f'chain = "{chain}"\nkey = "{tmp_path}/missing.key"',
         f"cannot read private key {tmp_path}/missing.key: No such file or directory"),
        (f'chain = "{tmp_path}/missing.pem"\nkey = "{key}"',
         f"cannot read certificate chain {tmp_path}/missing.pem: No such file or directory"),
        (f'chain = "{chain}"\nkey = "{other_key}"',
         f"private key {other_key} does not belong to the certificate in {chain}"),
        (f'chain = "{key}"\nkey = "{key}"', f"certificate chain {key} is not a PEM certificate"),
    ]
    for body, expected in cases:
        t = tern_factory(extra=f"[[tls.certificate]]\n{body}\n")
        r = subprocess.run([str(TERND), "--check", "--config", str(t.config)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r.stdout
        line = t.config.read_text().splitlines().index("[[tls.certificate]]") + 1
        assert f"{t.config}:{line}: {expected}" in r.stderr, r.stderr
    # The same problem stops ternd at start, before it listens.
    r = subprocess.run([str(TERND), "--config", str(t.config)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "is not a PEM certificate" in r.stderr, r.stderr
    # A submissions listener without any certificate is refused by --check as well.
    t = tern_factory(extra='[[listener]]\naddress = "127.0.0.1:4650"\nkind = "submissions"\n'
                           '[auth]\nbackend = "file"\npassword_file = "/dev/null"\n')
    r = subprocess.run([str(TERND), "--check", "--config", str(t.config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "speaks TLS from the start" in r.stderr, r.stderr


def test_sighup_swaps_the_certificate_without_dropping_sessions(secure, certs):
    old = smtplib.SMTP("127.0.0.1", secure.smtp, timeout=10)
    old.ehlo("client.example")
    starttls(old, certs)
    old.ehlo("client.example")
    # The admin renews the certificate in place (same paths) and reloads.
    chain, key = certs.leaf("mx.example.test", "localhost", tag="-renewed")
    secure.chain.write_bytes(chain.read_bytes())
    secure.key.write_bytes(key.read_bytes())
    secure.tern.proc.send_signal(1)
    secure.tern.wait_log("reloaded configuration")
    assert peer_subject(secure.smtp, "mx.example.test", certs) == "mx.example.test-renewed"
    # The session begun before the reload goes on, with its old certificate.
    old.sendmail("someone@example.org", ["alice@example.test"], b"Subject: old\r\n\r\nhi\r\n")
    old.quit()
    secure.tern.wait_messages("alice")


def test_sighup_with_a_broken_key_keeps_the_old_certificate(secure, certs):
    secure.key.write_text("not a key\n")
    secure.tern.proc.send_signal(1)
    log = secure.tern.wait_log("reload failed; keeping the running configuration")
    assert f"private key {secure.key} is not a PEM private key" in log
    assert peer_subject(secure.smtp, "mx.example.test", certs) == "mx.example.test"
