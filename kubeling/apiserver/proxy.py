"""The API server's side of the pod streaming subresources, and kubelet serving certs.

``pods/log``, ``pods/exec``, ``pods/attach`` and ``pods/portforward`` are
served by the kubelet of the pod's node; as kube-apiserver does, the API
server checks the request against the pod, finds the node's kubelet
(``status.addresses`` InternalIP, ``status.daemonEndpoints.kubeletEndpoint.Port``)
and proxies to it over HTTPS, presenting its kubelet-client certificate
(``CN=kube-apiserver-kubelet-client, O=system:masters``, signed by the cluster
CA, made once under ``<data-dir>/tls``) and checking the kubelet's serving
certificate against the cluster CA. Logs are a streamed GET; exec, attach and
port-forward are WebSockets: the API server opens the kubelet's WebSocket with
the subprotocols the client offered, accepts the client with the one the
kubelet chose, and relays messages both ways unchanged (so every protocol the
kubelet speaks passes through).

Older kubectl speaks SPDY/3.1 instead: an ``Upgrade: SPDY/3.1`` request naming
the stream protocol versions it knows in ``X-Stream-Protocol-Version``
(``v4.channel.k8s.io`` … for exec and attach, ``portforward.k8s.io``), then a
SPDY session on the bare connection. The API server stays a byte tunnel and
leaves SPDY to the kubelet, which then has one implementation of it: it opens
the kubelet's WebSocket offering ``SPDY/3.1+<version>`` for each version the
client named (the subprotocol kubectl 1.31+ itself uses for port-forward),
answers the client 101 with the version the kubelet chose once the kubelet
has accepted (so a refusal still reaches the client as an error Status), and
relays the connection's raw bytes as binary messages both ways.

``serve_cert`` signs a kubelet serving certificate for a node (its name and
addresses as SANs) for callers in ``system:nodes`` (agents, joined with the
node token) or ``system:masters`` (the in-process agent), as k3s does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import logging
import os
import pathlib
import ssl
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.api import errors
from kubeling.apiserver import codec, routing, spdytunnel
from kubeling.lib import pki

log = logging.getLogger("kubeling.apiserver.proxy")
Obj = dict[str, Any]

SUBRESOURCES = ("log", "exec", "attach", "portforward")
SERVING_CERT_PATH = "/kubeling/v1/kubelet-serving-certificate"
CLIENT_CN = "kube-apiserver-kubelet-client"
SERVING_DAYS = 365
DEFAULT_KUBELET_PORT = 10250
LOG_WS_PROTOCOLS = ("binary.k8s.io", "base64.binary.k8s.io")
# SPDY/3.1 clients (kubectl up to 1.29 for exec/attach/cp, 1.30 for port-forward).
SPDY_UPGRADE = spdytunnel.SPDY_UPGRADE
STREAM_PROTOCOL_HEADER = spdytunnel.STREAM_PROTOCOL_HEADER
TUNNEL_PREFIX = "SPDY/3.1+"
EXEC_V1, PORTFORWARD_V1 = "channel.k8s.io", "portforward.k8s.io"  # what a client naming no version gets
LOG_PARAMS = ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")


class KubeletProxy:
    def __init__(self, api: Any) -> None:
        self.api = api  # the APIServer (duck-typed, as in handlers)
        self._ssl: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None

    # ---- credentials -----------------------------------------------------------------------
    def _client_ssl(self) -> ssl.SSLContext:
        if self._ssl is None:
            p: pki.PKI = self.api.pki
            cert, key = p.dir / "kubelet-client.crt", p.dir / "kubelet-client.key"
            if not _valid_for(cert, p):
                cert_pem, key_pem = p.sign_client_cert(CLIENT_CN, ["system:masters"], days=3650)
                _write_file(key, key_pem, mode=0o600)
                _write_file(cert, cert_pem, mode=0o644)
            self._ssl = p.client_ssl_context(cert=cert, key=key)
        return self._ssl

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._client_ssl()),
                                                  timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def serve_cert(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        groups = set(request.get("groups", ()))
        if not groups & {"system:nodes", "system:masters"}:
            raise errors.APIError(403, "Forbidden", "only nodes may ask for a kubelet serving certificate")
        body = codec.decode_body(await request.read(), "application/json")
        name = str(body.get("nodeName") or "")
        addresses = [str(a) for a in body.get("addresses") or [] if a]
        if not name:
            raise errors.APIError(400, "BadRequest", "nodeName is required")
        cert, key = await asyncio.to_thread(_sign_serving, self.api.pki, name, addresses)
        return web.Response(body=codec.dumps({"cert": cert, "key": key, "ca": self.api.pki.ca_pem().decode()}),
                            content_type="application/json")

    # ---- proxying --------------------------------------------------------------------------
    async def serve(self, request: web.Request, route: routing.Route) -> web.StreamResponse:
        sub = route.subresource
        if sub == "log" and request.method != "GET":
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        if sub != "log" and request.method not in ("GET", "POST"):
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        pod = await self.api.stores[("", "v1", "pods")].get(route.namespace, route.name)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.APIError(400, "BadRequest", f"pod {route.name} does not have a host assigned")
        q = request.query
        ns, name = route.namespace, route.name
        if sub == "portforward":
            path = f"/portForward/{ns}/{name}"
            params = [(k, v) for k, v in q.items() if k == "ports"]
        else:
            container = q.get("container") or _default_container(pod)
            _check_container(pod, container)
            if sub == "log":
                path = f"/containerLogs/{ns}/{name}/{container}"
                params = [(k, v) for k, v in q.items() if k in LOG_PARAMS]
            else:
                path = f"/{sub}/{ns}/{name}/{container}"
                params = [(k, v) for k, v in q.items() if k in ("command", "stdin", "stdout", "stderr", "tty")]
                if sub == "exec" and not q.getall("command", []):
                    raise errors.APIError(400, "BadRequest", "you must specify at least one command for the container")
        base = await self._kubelet_url(node_name)
        if sub == "log":
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._log_ws(request, base + path, params)
            return await self._proxy_get(request, base + path, params)
        upgrade = request.headers.get("Upgrade", "").strip().lower()
        if upgrade == "websocket":
            return await self._proxy_ws(request, base + path, params)
        if upgrade == SPDY_UPGRADE.lower() and "upgrade" in [t.lower() for t in _tokens(request.headers.getall("Connection", []))]:
            return await self._proxy_spdy(request, base + path, params,
                                          default=PORTFORWARD_V1 if sub == "portforward" else EXEC_V1)
        raise errors.APIError(400, "BadRequest", "Upgrade request required")

    async def get_json(self, node_name: str, path: str, *, timeout: float = 10.0) -> Obj:
        """GET a JSON document from a node's kubelet (``/stats/summary`` for the metrics API)."""
        url = await self._kubelet_url(node_name) + path
        try:
            async with self.session().get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as upstream:
                if upstream.status >= 400:
                    text = (await upstream.text()).strip()
                    raise errors.APIError(500, "InternalError", f"the kubelet of node {node_name} answered "
                                                                f"{upstream.status}: {text}")
                got = await upstream.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise errors.APIError(502, "InternalError", f"error dialing the kubelet of node {node_name}: {exc}") \
                from exc
        if not isinstance(got, dict):
            raise errors.APIError(500, "InternalError", f"the kubelet of node {node_name} sent no object")
        return got

    async def _kubelet_url(self, node_name: str) -> str:
        node = await self.api.stores[("", "v1", "nodes")].get("", node_name)
        status = node.get("status") or {}
        addrs = status.get("addresses") or []
        host = next((a["address"] for a in addrs if a.get("type") == "InternalIP"), None) or \
            next((a["address"] for a in addrs if a.get("type") in ("ExternalIP", "Hostname")), None)
        if not host:
            raise errors.APIError(400, "BadRequest", f"node {node_name} has no address")
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{port}"

    async def _open(self, url: str, params: list[tuple[str, str]]) -> aiohttp.ClientResponse:
        """GET from a kubelet; its error answers become the API's (400 stays 400, others 500)."""
        try:
            upstream = await self.session().get(url, params=params)
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.APIError(502, "InternalError", f"error dialing the kubelet: {exc}") from exc
        if upstream.status >= 400:
            async with upstream:
                text = (await upstream.text()).strip()
            raise errors.APIError(min(500, upstream.status),
                                  "BadRequest" if upstream.status == 400 else "InternalError", text)
        return upstream

    async def _proxy_get(self, request: web.Request, url: str, params: list[tuple[str, str]]) -> web.StreamResponse:
        upstream = await self._open(url, params)
        async with upstream:
            resp = web.StreamResponse(headers={"Content-Type": upstream.headers.get("Content-Type", "text/plain")})
            await resp.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientPayloadError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            return resp

    async def _log_ws(self, request: web.Request, url: str, params: list[tuple[str, str]]) -> web.StreamResponse:
        """The log as WebSocket messages (``binary.k8s.io``, or ``base64.binary.k8s.io`` as text)."""
        upstream = await self._open(url, params)
        async with upstream:
            ws = web.WebSocketResponse(protocols=LOG_WS_PROTOCOLS, max_msg_size=0, autoping=True)
            await ws.prepare(request)
            b64 = ws.ws_protocol == "base64.binary.k8s.io"
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientPayloadError):
                async for chunk in upstream.content.iter_any():
                    if b64:
                        await ws.send_str(base64.b64encode(chunk).decode())
                    else:
                        await ws.send_bytes(chunk)
            await ws.close()
            return ws

    async def _proxy_ws(self, request: web.Request, url: str, params: list[tuple[str, str]]) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await self.session().ws_connect(url, params=params, protocols=offered, max_msg_size=0,
                                                       autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            raise errors.APIError(exc.status if 400 <= exc.status < 500 else 500,
                                  "BadRequest" if exc.status == 400 else "InternalError",
                                  f"the kubelet refused the stream: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.APIError(502, "InternalError", f"error dialing the kubelet: {exc}") from exc
        chosen = upstream.protocol
        ws = web.WebSocketResponse(protocols=(chosen,) if chosen else (), max_msg_size=0, autoping=True)
        try:
            await ws.prepare(request)
            await _relay(ws, upstream)
        finally:
            await upstream.close()
            await ws.close()
        return ws

    async def _proxy_spdy(self, request: web.Request, url: str, params: list[tuple[str, str]], *,
                          default: str) -> web.StreamResponse:
        """A SPDY/3.1 client: tunnel its connection to the kubelet (see the module docstring)."""
        offered = _tokens(request.headers.getall(STREAM_PROTOCOL_HEADER, [])) or [default]
        try:
            upstream = await self.session().ws_connect(url, params=params, max_msg_size=0, autoping=True,
                                                       protocols=[TUNNEL_PREFIX + v for v in offered])
        except aiohttp.WSServerHandshakeError as exc:
            raise errors.APIError(exc.status if 400 <= exc.status < 500 else 500,
                                  "BadRequest" if exc.status == 400 else "InternalError",
                                  f"the kubelet refused the stream: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise errors.APIError(502, "InternalError", f"error dialing the kubelet: {exc}") from exc
        chosen = upstream.protocol or ""
        if not chosen.startswith(TUNNEL_PREFIX):
            await upstream.close()
            raise errors.APIError(400, "BadRequest", f"unable to upgrade: unable to negotiate protocol: client "
                                                     f"supports {offered}, the kubelet none of them")
        return await spdytunnel.serve(request, upstream, chosen[len(TUNNEL_PREFIX):])


def _tokens(values: list[str]) -> list[str]:
    """Comma-separated header values, over every line of the header, in order."""
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


async def _relay(client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break

    tasks = [asyncio.create_task(pump(client, kubelet)), asyncio.create_task(pump(kubelet, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _containers(pod: Obj) -> list[str]:
    return [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]


def _default_container(pod: Obj) -> str:
    names = _containers(pod)
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    if default and default in names:
        return str(default)
    if len(names) == 1:
        return names[0]
    raise errors.APIError(400, "BadRequest", f"a container name must be specified for pod "
                                             f"{pod['metadata']['name']}, choose one of: [{' '.join(names)}]")


def _check_container(pod: Obj, container: str) -> None:
    spec = pod.get("spec") or {}
    every = [c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
             for c in spec.get(key) or []]
    if container not in every:
        raise errors.APIError(400, "BadRequest", f"container {container} is not valid for pod {pod['metadata']['name']}")


def _write_file(path: pathlib.Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _valid_for(cert_path: pathlib.Path, p: pki.PKI) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(p.ca_pem())
    except (OSError, ValueError):
        return False
    return cert.issuer == ca.subject and cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + \
        datetime.timedelta(days=30)


def _sign_serving(p: pki.PKI, node_name: str, addresses: list[str]) -> tuple[str, str]:
    ca_key = serialization.load_pem_private_key(p.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(p.ca_pem())
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(node_name), x509.DNSName("localhost"),
                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for a in addresses:
        try:
            ip = x509.IPAddress(ipaddress.ip_address(a))
            if ip not in sans:
                sans.append(ip)
        except ValueError:
            sans.append(x509.DNSName(a))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVING_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
