"""The cluster's certificates and admin credentials, created once per data dir.

``ensure_pki(data_dir, hosts=...)`` makes, when missing, under ``<data-dir>/tls/``:

  ca.crt / ca.key              the cluster CA (EC P-256, 10 years)
  serving.crt / serving.key    the API server's certificate: IP SANs for loopback and
                               every IP in ``hosts``, DNS SANs for ``localhost``, the
                               ``kubernetes.default.svc...`` names and every name in ``hosts``
  admin.crt / admin.key        the admin client certificate (CN system:admin, O system:masters)
  admin.token                  the admin bearer token (32 random bytes, urlsafe base64)

and returns a ``PKI`` naming them. A second call reuses everything; it re-issues a
leaf certificate (never the CA) when its names changed, when it is no longer signed
by the CA or does not match its key (a crash between two writes), or when it expires
within 30 days. Private keys, the token and kubeconfigs are mode 0600, and every
file is written atomically (temporary file, fsync, rename).

EC keys keep the first start at a few milliseconds (RSA-2048 would take ~100 ms).
``peer_identity`` reads the user and groups of a verified client certificate the way
kube-apiserver does: CN is the user name, each O a group.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hmac
import ipaddress
import os
import pathlib
import secrets
import socket
import ssl
import tempfile
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = ["127.0.0.1", "::1", "localhost"]
SERVICE_NAMES = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
# The first address of the service CIDR: the `kubernetes` Service's cluster IP,
# which pods use to reach the API server.
SERVICE_IP = "10.43.0.1"
CA_DAYS = 3650
LEAF_DAYS = 3650
# A leaf certificate this close to expiry is re-issued at the next start.
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class PKI:
    """Where the cluster's credentials live, plus the admin token itself."""

    dir: pathlib.Path
    ca_cert: pathlib.Path
    ca_key: pathlib.Path
    serving_cert: pathlib.Path
    serving_key: pathlib.Path
    admin_cert: pathlib.Path
    admin_key: pathlib.Path
    admin_token_file: pathlib.Path
    admin_token: str

    @classmethod
    def at(cls, tls_dir: pathlib.Path, *, admin_token: str = "") -> PKI:
        return cls(
            dir=tls_dir,
            ca_cert=tls_dir / "ca.crt",
            ca_key=tls_dir / "ca.key",
            serving_cert=tls_dir / "serving.crt",
            serving_key=tls_dir / "serving.key",
            admin_cert=tls_dir / "admin.crt",
            admin_key=tls_dir / "admin.key",
            admin_token_file=tls_dir / "admin.token",
            admin_token=admin_token,
        )

    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    def check_token(self, token: str) -> bool:
        """Whether ``token`` is the admin token (constant-time comparison)."""
        return bool(self.admin_token) and hmac.compare_digest(token.encode(), self.admin_token.encode())

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS server context; a client certificate, when presented, must chain to the CA."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.serving_cert), str(self.serving_key))
        ctx.load_verify_locations(cafile=str(self.ca_cert))
        # OPTIONAL: bearer-token and anonymous clients connect without a certificate.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def client_ssl_context(self, *, cert: pathlib.Path | None = None,
                           key: pathlib.Path | None = None) -> ssl.SSLContext:
        """TLS client context trusting the CA, presenting ``cert``/``key`` if given."""
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
        return ctx

    def sign_client_cert(self, cn: str, orgs: list[str], *, days: int = 365) -> tuple[bytes, bytes]:
        """A new client certificate and its key (both PEM) signed by the cluster CA."""
        ca_key, ca_cert = _load_ca(self)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name(cn, orgs), ca_key, ca_cert.subject, days=days,
                      usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def local_hosts() -> list[str]:
    """This machine's name and addresses, for ``ensure_pki(hosts=...)``."""
    hosts = {socket.gethostname()}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            hosts.add(str(info[4][0]))
    except OSError:
        pass  # an unresolvable hostname still gets a DNS SAN; loopback is always added
    return sorted(hosts)


def ensure_pki(data_dir: pathlib.Path, *, hosts: list[str]) -> PKI:
    """Create what is missing under ``<data_dir>/tls`` and return the ``PKI``."""
    d = data_dir / "tls"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    p = PKI.at(d)
    if not p.ca_cert.exists() or not p.ca_key.exists():
        # A new CA invalidates every leaf: remove them first so a crash cannot
        # leave old leaves beside a new CA (they would be re-issued anyway).
        for stale in (p.serving_cert, p.admin_cert):
            stale.unlink(missing_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"kubeling-ca@{int(datetime.datetime.now().timestamp())}")
        ca = _issue(ca_key, subject, ca_key, subject, days=CA_DAYS, ca=True)
        _write(p.ca_key, _key_pem(ca_key), private=True)
        _write(p.ca_cert, ca.public_bytes(serialization.Encoding.PEM), private=False)
    ca_key, ca_cert = _load_ca(p)

    sans = _sans(hosts)
    if not _leaf_ok(p.serving_cert, p.serving_key, ca_cert, want_sans=_san_strings(sans)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name("kube-apiserver"), ca_key, ca_cert.subject, days=LEAF_DAYS,
                      usage=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans)
        _write_pair(p.serving_cert, p.serving_key, cert, key)
    if not _leaf_ok(p.admin_cert, p.admin_key, ca_cert, want_sans=None):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(key, _name("system:admin", ["system:masters"]), ca_key, ca_cert.subject,
                      days=LEAF_DAYS, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
        _write_pair(p.admin_cert, p.admin_key, cert, key)

    token = p.admin_token_file.read_text().strip() if p.admin_token_file.exists() else ""
    if not token:
        token = secrets.token_urlsafe(32)
        _write(p.admin_token_file, token.encode() + b"\n", private=True)
    return dataclasses.replace(p, admin_token=token)


def write_kubeconfig(
    path: pathlib.Path,
    *,
    server: str,
    pki: PKI,
    user: str = "default",
    cluster: str = "default",
    context: str = "default",
) -> None:
    """Write an admin kubeconfig with the CA and client certificate embedded (mode 0600)."""
    def b64(p: pathlib.Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server,
                                                   "certificate-authority-data": b64(pki.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(pki.admin_cert),
                                          "client-key-data": b64(pki.admin_key)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, yaml.safe_dump(doc, sort_keys=False).encode(), private=True)


def peer_identity(ssl_object: Any) -> tuple[str, list[str]] | None:
    """(user, groups) from a verified client certificate, else None.

    ``ssl_object`` is what ``transport.get_extra_info("ssl_object")`` returns
    (None on plain HTTP). ``getpeercert()`` yields the subject only for a
    certificate the handshake verified, and ``{}`` or None otherwise.
    """
    if ssl_object is None:
        return None
    try:
        cert = ssl_object.getpeercert()
    except (AttributeError, ValueError):
        return None
    if not cert:
        return None
    user = ""
    groups: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return (user, groups) if user else None


# ---- helpers ----------------------------------------------------------------------

def _name(cn: str, orgs: list[str] | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs or []]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_ca(p: PKI) -> tuple[Any, x509.Certificate]:
    key = serialization.load_pem_private_key(p.ca_key.read_bytes(), password=None)
    return key, x509.load_pem_x509_certificate(p.ca_cert.read_bytes())


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
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so a peer whose clock is slightly behind accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=not ca, key_cert_sign=ca,
                                     crl_sign=ca, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                            critical=False)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(signer, hashes.SHA256())


def _sans(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for h in [*LOOPBACK, *hosts, SERVICE_IP, *SERVICE_NAMES]:
        h = h.split("%")[0].strip().lower()  # drop an IPv6 zone ("fe80::1%eth0")
        if not h:
            continue
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(h))
        except ValueError:
            name = x509.DNSName(h)
        key = str(name.value)
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def _san_strings(sans: list[x509.GeneralName]) -> set[str]:
    return {str(s.value) for s in sans}


def _leaf_ok(cert_path: pathlib.Path, key_path: pathlib.Path, ca: x509.Certificate, *,
             want_sans: set[str] | None) -> bool:
    """Whether an existing leaf can be kept: present, signed by ``ca``, matching its key
    and (for the serving certificate) naming exactly ``want_sans``, and not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    if cert.public_key() != key.public_key():
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if _not_after(cert) - datetime.datetime.now(datetime.UTC) < RENEW_BEFORE:
        return False
    if want_sans is not None:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        if _san_strings(list(san)) != want_sans:
            return False
    return True


def _not_after(cert: x509.Certificate) -> datetime.datetime:
    after = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    if after is None:
        after = cert.not_valid_after.replace(tzinfo=datetime.UTC)
    return after


def _write_pair(cert_path: pathlib.Path, key_path: pathlib.Path, cert: x509.Certificate,
                key: ec.EllipticCurvePrivateKey) -> None:
    # Key first: a crash before the certificate is written leaves a mismatched
    # pair, which _leaf_ok detects and re-issues on the next start.
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)


def _write(path: pathlib.Path, data: bytes, *, private: bool) -> None:
    """Atomic write (temporary file + rename) so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600 if private else 0o644)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
