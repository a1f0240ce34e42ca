"""A ternd with TLS and AUTH set up the way an admin would: a certificate for
mx.example.test (and one for other.example.test, chosen by SNI) from the test CA, a
password file with SHA-512-crypt hashes (as `doveadm pw -s SHA512-CRYPT` or
`mkpasswd -m sha-512` write them), and three listeners: the main one (kind smtp, port 25's
job), a submission one (587's) and a submissions one (465's)."""

import smtplib
import ssl
import subprocess

from conftest import free_port

USERS = {"alice@example.test": "correct horse", "bob": "battery staple"}


def crypt_sha512(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                       capture_output=True, check=True, timeout=30)
    return r.stdout.strip()


def client_context(certs):
    """What a careful client uses: verification against the test CA, names checked."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    return ctx


def starttls(smtp, certs, name="mx.example.test", verify=True):
    """smtplib's starttls() toward `name` (SNI and the name checked): smtplib takes the name
    from the host it connected to, 127.0.0.1 here, so it is set first."""
    ctx = client_context(certs)
    if not verify:
        ctx.check_hostname = False
    smtp._host = name
    return smtp.starttls(context=ctx)


def tls_session(secure, certs, port=None):
    """An smtplib session on the submission port (or `port`), past STARTTLS and the second
    EHLO: what every mail client does before it logs in."""
    s = smtplib.SMTP("127.0.0.1", port or secure.submission, timeout=30)
    s.ehlo("laptop.example")
    starttls(s, certs)
    s.ehlo("laptop.example")
    return s


class Secure:
    """Ports and files of one TLS+AUTH ternd (see start_secure)."""

    def __init__(self, tern, submission, submissions, chain, key):
        self.tern = tern
        self.host = tern.host
        self.smtp = tern.port
        self.submission = submission
        self.submissions = submissions
        self.chain = chain
        self.key = key


def start_secure(tern_factory, certs, tmp_path, auth_extra="", relay=None, extra="",
                 backend=None, passwd_lines=""):
    """Starts ternd with TLS and AUTH; `auth_extra` adds lines to [auth], `backend` replaces
    the password-file backend lines, `passwd_lines` adds entries to the password file,
    `extra` adds whole tables."""
    chain, key = certs.leaf("mx.example.test", "localhost")
    other_chain, other_key = certs.leaf("other.example.test")
    passwd = tmp_path / "passwd"
    passwd.write_text("".join(f"{u}:{crypt_sha512(p)}\n" for u, p in USERS.items()) + passwd_lines)
    passwd.chmod(0o600)
    submission, submissions = free_port(), free_port()
    backend = backend or f'backend = "file"\npassword_file = "{passwd}"\n'
    text = f"""
[[listener]]
address = "127.0.0.1:{submission}"
kind = "submission"
[[listener]]
address = "127.0.0.1:{submissions}"
kind = "submissions"
[[tls.certificate]]
chain = "{chain}"
key = "{key}"
[[tls.certificate]]
chain = "{other_chain}"
key = "{other_key}"
[auth]
{backend}failure_delay = 0
{auth_extra}
{extra}"""
    t = tern_factory(relay=relay if relay is not None else [], extra=text).start()
    return Secure(t, submission, submissions, chain, key)
