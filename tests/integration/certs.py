"""Test certificates, made by the tests with the openssl command (never committed): a CA
and leaf certificates it signed, each with its subjectAltName DNS names (and 127.0.0.1), so
clients can verify Tern's certificate against the CA file."""

import subprocess
from pathlib import Path


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A CA in `root` and leaves made on demand: leaf(name) -> (chain_path, key_path)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = root / "ca.pem"
        self.ca_key = root / "ca.key"
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Tern Test CA",
             cwd=root)
        self._serial = 0

    def leaf(self, name, *more_names, tag=""):
        """A certificate for `name` (and `more_names`), its chain file holding the leaf then
        the CA; returns (chain, key). `tag` makes a different certificate for the same name."""
        self._serial += 1
        base = f"{name}{tag}"
        sans = ",".join([f"DNS:{n}" for n in (name, *more_names)] + ["IP:127.0.0.1"])
        ext = self.root / f"{base}.ext"
        ext.write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{base}.key", "-out", f"{base}.csr", "-subj", f"/CN={name}{tag}",
             cwd=self.root)
        _run("x509", "-req", "-in", f"{base}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", str(1000 + self._serial), "-days", "2", "-extfile", ext.name,
             "-out", f"{base}.crt", cwd=self.root)
        chain = self.root / f"{base}.pem"
        chain.write_bytes((self.root / f"{base}.crt").read_bytes() + self.ca.read_bytes())
        return chain, self.root / f"{base}.key"
