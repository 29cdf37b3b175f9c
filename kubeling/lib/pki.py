"""The cluster's certificates and admin credentials, created once per data dir.

``ensure_pki(data_dir, hosts=...)`` makes (if missing) under ``<data-dir>/tls/``:

  ca.crt / ca.key              the cluster CA (EC P-256, 10 years)
  serving.crt / serving.key    the API server's certificate for ``hosts``
                               (re-issued when the host set changes; the CA stays)
  admin.crt / admin.key        the admin client certificate (CN system:admin, O system:masters)
  admin.token                  the admin bearer token

Private keys and the token are mode 0600. EC keys keep the first start fast.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import ipaddress
import os
import pathlib
import secrets
import ssl
import tempfile
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_NAMES = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
# The first address of the service CIDR: the `kubernetes` Service's cluster IP.
SERVICE_IP = "10.43.0.1"


@dataclasses.dataclass(frozen=True)
class PKI:
    dir: pathlib.Path
    admin_token: str

    @property
    def ca_cert(self) -> pathlib.Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> pathlib.Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> pathlib.Path:
        return self.dir / "serving.crt"

    @property
    def serving_key(self) -> pathlib.Path:
        return self.dir / "serving.key"

    @property
    def admin_cert(self) -> pathlib.Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> pathlib.Path:
        return self.dir / "admin.key"

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS server context; client certificates are verified against the CA when presented."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.serving_cert), str(self.serving_key))
        ctx.load_verify_locations(cafile=str(self.ca_cert))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def sign_client_cert(self, cn: str, orgs: list[str], *, days: int = 365) -> tuple[bytes, bytes]:
        """A client certificate and key (PEM) signed by the cluster CA."""
        ca_key = _load_key(self.ca_key)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name(cn, orgs), ca_key, ca_cert.subject, days=days,
                      usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _name(cn: str, orgs: list[str] | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs or []]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: pathlib.Path) -> Any:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _issue(
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    signer: Any,
    issuer: x509.Name,
    *,
    days: int,
    ca: bool = False,
    usage: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                          crl_sign=False, content_commitment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False, decipher_only=False),
                            critical=True)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(signer, hashes.SHA256())


def _write(path: pathlib.Path, data: bytes, *, private: bool) -> None:
    """Atomic write (temp file + rename) so a crash never leaves half a key."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _sans(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for h in [*hosts, SERVICE_IP, *SERVICE_NAMES]:
        if not h or h in seen:
            continue
        seen.add(h)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h.split("%")[0])))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _cert_hosts(path: pathlib.Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def ensure_pki(data_dir: pathlib.Path, *, hosts: list[str]) -> PKI:
    d = data_dir / "tls"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    p = PKI(d, "")
    if not p.ca_cert.exists() or not p.ca_key.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"kubeling-ca@{int(datetime.datetime.now().timestamp())}")
        ca = _issue(ca_key, subject, ca_key, subject, days=3650, ca=True)
        _write(p.ca_key, _key_pem(ca_key), private=True)
        _write(p.ca_cert, ca.public_bytes(serialization.Encoding.PEM), private=False)
        for stale in (p.serving_cert, p.admin_cert):
            stale.unlink(missing_ok=True)
    ca_key = _load_key(p.ca_key)
    ca_cert = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    sans = _sans(hosts)
    want = {str(s.value) for s in sans}
    if not p.serving_cert.exists() or not p.serving_key.exists() or _cert_hosts(p.serving_cert) != want:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name("kube-apiserver"), ca_key, ca_cert.subject, days=3650,
                      usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans)
        _write(p.serving_key, _key_pem(key), private=True)
        _write(p.serving_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    if not p.admin_cert.exists() or not p.admin_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name("system:admin", ["system:masters"]), ca_key, ca_cert.subject, days=3650,
                      usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        _write(p.admin_key, _key_pem(key), private=True)
        _write(p.admin_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    token_path = d / "admin.token"
    if not token_path.exists():
        _write(token_path, secrets.token_urlsafe(32).encode(), private=True)
    return PKI(d, token_path.read_text().strip())


def write_kubeconfig(
    path: pathlib.Path,
    *,
    server: str,
    pki: PKI,
    user: str = "default",
    cluster: str = "default",
    context: str = "default",
) -> None:
    """An admin kubeconfig with the CA and client certificate embedded (mode 0600)."""
    def b64(p: pathlib.Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(pki.admin_cert),
                                          "client-key-data": b64(pki.admin_key)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, yaml.safe_dump(doc, sort_keys=False).encode(), private=True)


def peer_identity(ssl_object: Any) -> tuple[str, list[str]] | None:
    """(user, groups) from a verified client certificate: CN is the user, O the groups."""
    try:
        cert = ssl_object.getpeercert()
    except (AttributeError, ValueError):
        return None
    if not cert:
        return None  # no certificate, or not verified (getpeercert() is {} then)
    user = ""
    groups: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return (user, groups) if user else None
