"""Submission (RFC 6409) and SMTP AUTH (RFC 4954) with real clients: swaks (-tls,
--tls-on-connect, --auth PLAIN/LOGIN), Python's smtplib (starttls + login) and msmtp, the
mail client Debian users script. Checks what users and admins see: AUTH only inside TLS,
MAIL refused before TLS and AUTH on the submission ports, wrong passwords answered 535 and
then 421 with fail2ban-readable log lines, senders the login does not own refused (553
5.7.1 for MAIL, 550 5.7.1 for From:), authenticated clients relaying and others not."""

import base64
import re
import smtplib
import subprocess
import time

import pytest

from secure import USERS, start_secure, starttls, tls_session

# fail2ban's filter.d/postfix.conf (mode "auth"/"aggressive"), the part after the prefix.
# Anchored as fail2ban anchors it: the line's prefix (time, "tern/smtpd[pid]:"), then the text.
FAIL2BAN = re.compile(r"^\S+ \S+: warning: [-._\w]+\[(?P<host>[^\]]+)\]: SASL ((?i:LOGIN)|PLAIN|(?:CRAM|DIGEST)-MD5) "
                      r"authentication failed(: [ A-Za-z0-9+/:]*={0,2})?\s*$", re.M)


@pytest.fixture
def secure(tern_factory, certs, tmp_path):
    return start_secure(tern_factory, certs, tmp_path, auth_extra="max_failures = 3")


def swaks(*args, timeout=30):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--timeout", "15", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def auth_plain(s, user, password):
    """One AUTH PLAIN (smtplib's login() would try LOGIN after a failed PLAIN)."""
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return s.docmd("AUTH", "PLAIN " + token)


def submit(secure, certs, user, password, sender, rcpts, body):
    with tls_session(secure, certs) as s:
        s.login(user, password)
        return s.sendmail(sender, rcpts, body)


def test_submission_needs_tls_then_auth(secure, certs):
    with smtplib.SMTP("127.0.0.1", secure.submission, timeout=10) as s:
        code, text = s.ehlo("laptop.example")
        assert b"STARTTLS" in text and b"AUTH" not in text  # no AUTH in plaintext
        assert s.docmd("AUTH", "PLAIN AGFsaWNlAHg=")[0] == 538
        assert s.docmd("MAIL", "FROM:<alice@example.test>") == (
            530, b"5.7.0 Must issue a STARTTLS command first")
        starttls(s, certs)
        code, text = s.ehlo("laptop.example")
        assert b"AUTH PLAIN LOGIN" in text
        assert s.docmd("MAIL", "FROM:<alice@example.test>") == (530, b"5.7.0 Authentication required")
        s.login("alice@example.test", USERS["alice@example.test"])
        s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: hi\r\n\r\nhello\r\n")
    (msg,) = secure.tern.wait_messages("bob")
    assert b"with ESMTPSA id" in msg
    log = secure.tern.log()
    assert re.search(r": client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                     r"sasl_username=alice@example\.test", log), log


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth(secure, certs, mech):
    rc, out = swaks("--port", str(secure.submission), "-tls", "--tls-ca-path", str(certs.ca),
                    "--auth", mech, "--auth-user", "bob", "--auth-password", USERS["bob"],
                    "--from", "bob@example.test", "--to", "alice@example.test",
                    "--header", f"Subject: swaks {mech}")
    assert rc == 0, out
    assert "235 2.7.0 Authentication successful" in out
    (msg,) = secure.tern.wait_messages("alice")
    assert f"Subject: swaks {mech}".encode() in msg


def test_swaks_implicit_tls_auth(secure, certs):
    rc, out = swaks("--port", str(secure.submissions), "--tls-on-connect", "--auth", "LOGIN",
                    "--auth-user", "alice@example.test",
                    "--auth-password", USERS["alice@example.test"],
                    "--from", "alice@example.test", "--to", "bob@example.test")
    assert rc == 0, out
    secure.tern.wait_messages("bob")


def test_msmtp_submits_over_587(secure, certs, tmp_path):
    conf = tmp_path / "msmtprc"
    conf.write_text(f"""defaults
tls on
tls_starttls on
tls_trust_file {certs.ca}
account tern
host mx.example.test
port {secure.submission}
source_ip 127.0.0.1
auth on
user bob
password {USERS["bob"]}
from bob@example.test
account default : tern
""")
    conf.chmod(0o600)
    # mx.example.test must reach 127.0.0.1 without DNS: msmtp connects to the name given,
    # so give it the address and keep the certificate check on the name it verifies.
    text = conf.read_text().replace("host mx.example.test", "host 127.0.0.1\ntls_host_override mx.example.test")
    conf.write_text(text)
    msg = b"From: bob@example.test\nTo: alice@example.test\nSubject: from msmtp\n\nhello\n"
    r = subprocess.run(["msmtp", "-C", str(conf), "alice@example.test"], input=msg,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    (got,) = secure.tern.wait_messages("alice")
    assert b"Subject: from msmtp" in got and b"with ESMTPSA id" in got


def test_wrong_password_is_refused_then_the_client_is_dropped(secure, certs):
    with tls_session(secure, certs) as s:
        for _ in range(2):
            code, text = auth_plain(s, "bob", "hunter2-guess")
            assert code == 535 and text.startswith(b"5.7.8 "), text
        # The third failure (max_failures = 3) is answered 535, then 421, and the end.
        assert auth_plain(s, "bob", "hunter2-guess")[0] == 535
        code, text = s.getreply()
        assert code == 421 and b"too many failed authentications" in text
    log = secure.tern.wait_log("too many failed authentications; connection closed")
    hits = FAIL2BAN.findall(log)
    assert len(hits) == 3, log  # every failure in the shape fail2ban's filter reads
    assert "hunter2" not in log  # passwords are never logged
    # A new connection from the same address is refused at AUTH, even with the right password.
    with tls_session(secure, certs) as s:
        code, text = auth_plain(s, "bob", USERS["bob"])
        assert code == 421 and b"too many failed authentications" in text


def test_user_names_cannot_forge_log_lines(secure, certs):
    forged = "x\nwarning: unknown[203.0.113.9]: SASL LOGIN authentication failed"
    with tls_session(secure, certs) as s:
        assert auth_plain(s, forged, "hunter2-guess")[0] == 535
    log = secure.tern.wait_log("SASL PLAIN authentication failed for sasl_username=x?warning")
    assert {m.group("host") for m in FAIL2BAN.finditer(log)} == {"127.0.0.1"}


def test_auth_command_rules(secure, certs):
    with tls_session(secure, certs) as s:
        assert s.docmd("AUTH")[0] == 501                        # no mechanism
        assert s.docmd("AUTH", "CRAM-MD5")[0] == 504            # not offered
        assert s.docmd("AUTH", "PLAIN not*base64")[0] == 501    # RFC 4954 §4
        code, _ = s.docmd("AUTH", "LOGIN")
        assert code == 334
        assert s.docmd("*")[0] == 501                           # cancelled
        code, text = s.docmd("AUTH", "PLAIN " + "A" * 13000)
        assert (code, text[:5]) == (500, b"5.5.6"), text
        assert auth_plain(s, "bob", USERS["bob"])[0] == 235
        assert auth_plain(s, "bob", USERS["bob"])[0] == 503     # already authenticated
        # A pipelined command after the AUTH exchange's last line is not lost.
        token = base64.b64encode(b"bob").decode()
    with tls_session(secure, certs) as s:
        assert s.docmd("AUTH", "LOGIN")[0] == 334
        assert s.docmd(token)[0] == 334
        pw = base64.b64encode(USERS["bob"].encode()).decode()
        s.send(f"{pw}\r\nMAIL FROM:<bob@example.test>\r\n".encode())
        assert s.getreply()[0] == 235
        assert s.getreply()[0] == 250
        assert s.docmd("MAIL", "FROM:<bob@example.test>")[0] == 503
        assert auth_plain(s, "bob", USERS["bob"])[0] == 503    # inside a transaction


def test_reasons_with_user_names_cannot_forge_log_lines(secure, certs):
    # PLAIN with an authorization identity other than the user: refused, and the reason
    # (which names both) goes into the log made printable.
    forged = "x\nwarning: unknown[203.0.113.9]: SASL LOGIN authentication failed"
    with tls_session(secure, certs) as s:
        token = base64.b64encode(f"other\0{forged}\0pw".encode()).decode()
        assert s.docmd("AUTH", "PLAIN " + token)[0] >= 500
    log = secure.tern.wait_log("SASL PLAIN exchange ended")
    assert "203.0.113.9" not in {m.group("host") for m in FAIL2BAN.finditer(log)}
    assert "\nwarning: unknown[203.0.113.9]" not in log


def test_starttls_forgets_a_plaintext_login(tern_factory, certs, tmp_path):
    secure = start_secure(tern_factory, certs, tmp_path, auth_extra="allow_plaintext = true")
    with smtplib.SMTP("127.0.0.1", secure.submission, timeout=10) as s:
        s.ehlo("laptop.example")
        s.login("bob", USERS["bob"])
        starttls(s, certs)
        s.ehlo("laptop.example")
        assert s.docmd("MAIL", "FROM:<bob@example.test>") == (530, b"5.7.0 Authentication required")


def test_failures_slow_down(tern_factory, certs, tmp_path):
    secure = start_secure(tern_factory, certs, tmp_path, auth_extra="max_failures = 5")
    # failure_delay = 0 in start_secure; set it to 1 s here and reload.
    t = secure.tern
    t.config.write_text(t.config.read_text().replace("failure_delay = 0", "failure_delay = 1"))
    t.proc.send_signal(1)
    t.wait_log("reloaded configuration")
    with tls_session(secure, certs) as s:
        took = []
        for _ in range(2):
            start = time.monotonic()
            assert auth_plain(s, "bob", "wrong")[0] == 535
            took.append(time.monotonic() - start)
    assert took[0] >= 0.9 and took[1] >= 1.9, took  # 1 s, then 2 s


def test_sender_must_belong_to_the_login(secure, certs):
    with tls_session(secure, certs) as s:
        s.login("bob", USERS["bob"])
        code, text = s.docmd("MAIL", "FROM:<alice@example.test>")
        assert code == 553 and text == (b"5.7.1 <alice@example.test>: Sender address rejected: "
                                        b"not owned by user bob")
        # Their own address (login bob without a domain: bob@ any of our domains) is fine,
        # and so is the null sender.
        assert s.docmd("MAIL", "FROM:<bob@localhost>")[0] == 250
        s.rset()
        assert s.docmd("MAIL", "FROM:<>")[0] == 250
        s.rset()
        # From: must be theirs too.
        s.mail("bob@example.test")
        s.rcpt("alice@example.test")
        code, text = s.data(b"From: Alice <alice@example.test>\r\nSubject: forged\r\n\r\nx\r\n")
        assert code == 550 and b"5.7.1 From: address <alice@example.test> not owned by user bob" in text
        s.mail("bob@example.test")
        s.rcpt("alice@example.test")
        code, _ = s.data(b"From: \"Bob (home)\" <bob@example.test>\r\nSubject: ok\r\n\r\nx\r\n")
        assert code == 250


def test_from_fields_a_client_could_read_otherwise_are_refused(secure, certs):
    bodies = [
        b"From: bob@example.test\r\nFrom: alice@example.test\r\n\r\nx\r\n",
        b"X-A: a\r\n From: bob@example.test\r\nFrom: alice@example.test\r\n\r\nx\r\n",
        b"From: alice@example.test (\r\n\r\nx\r\n",
        b"From: <alice@example.test\r\n\r\nx\r\n",
        b"From: bob@example.test, <alice@example.test\r\n\r\nx\r\n",
        b"From: alice@example.test <bob@example.test>\r\n\r\nx\r\n",
        b"From: undisclosed:;\r\n\r\nx\r\n",
        b"From: \"Bob\" <\"alice\"@example.test>\r\n\r\nx\r\n",
        b"From: Bob <alice+x@EXAMPLE.test>\r\n\r\nx\r\n",
    ]
    with tls_session(secure, certs) as s:
        s.login("bob", USERS["bob"])
        for body in bodies:
            s.mail("bob@example.test")
            s.rcpt("alice@example.test")
            code, text = s.data(body)
            assert code == 550 and text.startswith(b"5."), (body, code, text)
        # A bare CR in the header section hides a field from one reader but not another:
        # BDAT carries it past the DATA decoder, so the From: check refuses it.
        s.mail("bob@example.test")
        s.rcpt("alice@example.test")
        chunk = b"X: y\rFrom: alice@example.test\r\nFrom: bob@example.test\r\n\r\nx\r\n"
        s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, text = s.getreply()
        assert code == 550 and b"bare <CR>" in text, text
    assert secure.tern.messages("alice") == []


def test_sender_login_map_and_aliases_grant_addresses(tern_factory, certs, tmp_path):
    logins = tmp_path / "sender_logins"
    logins.write_text("# address  logins\nsales@example.test  alice@example.test, bob\n"
                      "@example.org  bob\n")
    aliases = tmp_path / "aliases"
    aliases.write_text("postmaster: bob\nrobert: bob\n")
    secure = start_secure(tern_factory, certs, tmp_path,
                          auth_extra=f'sender_login_map = "{logins}"',
                          extra=f'[route]\naliases = ["{aliases}"]\n')
    for sender in ["sales@example.test", "anyone@example.org", "robert@example.test",
                   "postmaster@example.test"]:
        submit(secure, certs, "bob", USERS["bob"], sender, ["alice@example.test"],
               f"From: {sender}\r\nSubject: as {sender}\r\n\r\nx\r\n".encode())
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        submit(secure, certs, "alice@example.test", USERS["alice@example.test"],
               "anyone@example.org", ["bob@example.test"], b"Subject: no\r\n\r\nx\r\n")
    assert e.value.smtp_code == 553
    # The map decides for sales@, however the address is written: an extension, quotes or
    # case do not get carol... er, robert's alias route around it.
    aliases.write_text("postmaster: bob\nrobert: bob\nsales: bob\n")
    logins.write_text("sales@example.test  alice@example.test\n")
    secure.tern.proc.send_signal(1)
    secure.tern.wait_log("reloaded configuration")
    for sender in ["sales@example.test", "sales+x@example.test", '"sales"@example.test',
                   "SALES@Example.Test"]:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            submit(secure, certs, "bob", USERS["bob"], sender, ["alice@example.test"],
                   b"Subject: no\r\n\r\nx\r\n")
        assert e.value.smtp_code == 553, sender
    assert len(secure.tern.wait_messages("alice", count=4)) == 4


def test_authenticated_clients_relay_others_do_not(secure, certs):
    # Not in relay.networks (start_secure sets none): a remote recipient is refused ...
    with smtplib.SMTP("127.0.0.1", secure.smtp, timeout=10) as s:
        s.ehlo("mx.example.org")
        s.mail("someone@example.org")
        code, text = s.rcpt("victim@remote.example")
        assert code == 554 and b"Relay access denied" in text
    # ... and taken after AUTH (queued for the dead smarthost, so it stays in the queue).
    submit(secure, certs, "bob", USERS["bob"], "bob@example.test", ["friend@remote.example"],
           b"Subject: out\r\n\r\nx\r\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not secure.tern.queue():
        time.sleep(0.1)
    (entry,) = secure.tern.queue()
    assert entry["sender"] == "bob@example.test"


def test_auth_is_not_offered_without_tls_unless_allowed(tern_factory, certs, tmp_path):
    secure = start_secure(tern_factory, certs, tmp_path, auth_extra="allow_plaintext = true")
    with smtplib.SMTP("127.0.0.1", secure.submission, timeout=10) as s:
        code, text = s.ehlo("laptop.example")
        assert b"AUTH PLAIN LOGIN" in text
        s.login("bob", USERS["bob"])
        s.sendmail("bob@example.test", ["alice@example.test"], b"Subject: plain\r\n\r\nx\r\n")
    secure.tern.wait_messages("alice")
