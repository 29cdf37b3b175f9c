from __future__ import annotations

import asyncio
import pathlib
import ssl
import stat

import yaml
from cryptography import x509

from kubeling.lib import pki


def test_created_once_and_reused(tmp_path: pathlib.Path) -> None:
    p1 = pki.ensure_pki(tmp_path, hosts=["127.0.0.1", "myhost"])
    ca1 = p1.ca_cert.read_bytes()
    p2 = pki.ensure_pki(tmp_path, hosts=["127.0.0.1", "myhost"])
    assert p2.ca_cert.read_bytes() == ca1 and p2.admin_token == p1.admin_token
    for key in (p1.ca_key, p1.serving_key, p1.admin_key, tmp_path / "tls" / "admin.token"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_serving_cert_names_and_reissue(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["127.0.0.1", "myhost"])
    cert = x509.load_pem_x509_certificate(p.serving_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert {"localhost", "kubernetes.default.svc.cluster.local", "myhost"} <= dns
    assert {"127.0.0.1", "10.43.0.1"} <= ips
    old = p.serving_cert.read_bytes()
    ca = p.ca_cert.read_bytes()
    p2 = pki.ensure_pki(tmp_path, hosts=["127.0.0.1", "otherhost"])
    assert p2.serving_cert.read_bytes() != old and p2.ca_cert.read_bytes() == ca


def test_kubeconfig_and_mutual_tls(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["127.0.0.1"])
    cfg_path = tmp_path / "kubeconfig"
    pki.write_kubeconfig(cfg_path, server="https://127.0.0.1:1", pki=p)
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600

    seen: list[tuple[str, list[str]] | None] = []

    async def run() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(pki.peer_identity(writer.get_extra_info("ssl_object")))
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=p.server_ssl_context())
        port = server.sockets[0].getsockname()[1]
        client = ssl.create_default_context(cafile=str(p.ca_cert))
        client.load_cert_chain(str(p.admin_cert), str(p.admin_key))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        assert await reader.read() == b"ok"
        writer.close()
        anon = ssl.create_default_context(cafile=str(p.ca_cert))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=anon)
        await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    assert seen[0] == ("system:admin", ["system:masters"])
    assert seen[1] is None  # no client certificate: anonymous


def test_sign_client_cert(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["127.0.0.1"])
    cert_pem, key_pem = p.sign_client_cert("system:node:n1", ["system:nodes"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert b"PRIVATE KEY" in key_pem
