"""The AUTH backends other than a crypt(3) password file, for real: Dovecot's auth socket
(the protocol of Postfix's smtpd_sasl_type = dovecot) with a Dovecot started by the test,
and SCRAM-SHA-256 (RFC 7677) for a user whose password-file entry `doveadm pw -s
SCRAM-SHA-256` wrote. Python has no SCRAM client for SMTP, so the test speaks the RFC 5802
exchange itself, with the standard library's PBKDF2 and HMAC."""

import base64
import hashlib
import hmac
import os
import subprocess

import pytest

from dovecot import PASSWORD, Dovecot
from secure import start_secure, tls_session


@pytest.fixture
def dovecot():
    d = Dovecot({"carol@example.test": None}).start()
    yield d
    d.stop()


def test_dovecot_auth_socket(tern_factory, certs, tmp_path, dovecot):
    secure = start_secure(tern_factory, certs, tmp_path,
                          backend=f'backend = "dovecot"\ndovecot_socket = "{dovecot.auth_socket}"\n')
    with tls_session(secure, certs) as s:
        s.login("carol@example.test", PASSWORD)
        s.sendmail("carol@example.test", ["alice@example.test"], b"Subject: via dovecot\r\n\r\nx\r\n")
    (msg,) = secure.tern.wait_messages("alice")
    assert b"Subject: via dovecot" in msg
    with tls_session(secure, certs) as s:
        token = base64.b64encode(b"\0carol@example.test\0not-it").decode()
        code, text = s.docmd("AUTH", "PLAIN " + token)
        assert code == 535, text
    assert "SASL PLAIN authentication failed" in secure.tern.log()



def test_dovecot_unreachable_is_a_temporary_failure(tern_factory, certs, tmp_path):
    secure = start_secure(tern_factory, certs, tmp_path,
                          backend=f'backend = "dovecot"\ndovecot_socket = "{tmp_path}/no-auth"\n')
    with tls_session(secure, certs) as s:
        token = base64.b64encode(b"\0carol@example.test\0" + PASSWORD.encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + token)
        assert code == 454 and text.startswith(b"4.7.0"), text
    log = secure.tern.wait_log("SASL PLAIN authentication backend failed")
    assert "SASL PLAIN authentication failed" not in log  # not counted against the client


def scram_login(s, user, password):
    """RFC 5802 §3 client side over AUTH (RFC 4954); returns the final (code, text)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    code, text = s.docmd("AUTH", "SCRAM-SHA-256 " + base64.b64encode(f"n,,{first_bare}".encode()).decode())
    if code != 334:
        return code, text
    server_first = base64.b64decode(text).decode()
    fields = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert fields["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]),
                                 int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{final_bare},p={base64.b64encode(proof).decode()}"
    code, text = s.docmd(base64.b64encode(final.encode()).decode())
    if code != 334:
        return code, text
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64decode(text).decode() == "v=" + base64.b64encode(expected).decode()
    return s.docmd("")


def test_scram_sha_256_with_a_doveadm_entry(tern_factory, certs, tmp_path):
    entry = subprocess.run(["doveadm", "pw", "-s", "SCRAM-SHA-256", "-p", "pencil"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    secure = start_secure(tern_factory, certs, tmp_path, passwd_lines=f"dave:{entry}\n")
    with tls_session(secure, certs) as s:
        assert b"AUTH PLAIN LOGIN SCRAM-SHA-256" in s.ehlo_resp
        assert scram_login(s, "dave", "pencil") == (235, b"2.7.0 Authentication successful")
        s.sendmail("dave@example.test", ["alice@example.test"], b"Subject: scram\r\n\r\nx\r\n")
    secure.tern.wait_messages("alice")
    with tls_session(secure, certs) as s:
        code, _ = scram_login(s, "dave", "crayon")
        assert code == 535
    with tls_session(secure, certs) as s:
        # PLAIN works for the same entry: the password is checked against the SCRAM keys.
        s.login("dave", "pencil")
    assert "SASL SCRAM-SHA-256 authentication failed" in secure.tern.log()
