"""Service environment variables (upstream's kubelet ``getServiceEnvVarMap`` and
``envvars.FromServices``): what a container learns about the Services that
existed when it started.

Which Services: those of the pod's namespace when ``enableServiceLinks`` is
true or unset, and always the API server's own Service (``kubernetes`` in
``default``); a Service without a cluster IP (headless, ExternalName) gives
nothing. For each one, named from its name upper-cased with ``-`` as ``_``:

* ``{NAME}_SERVICE_HOST`` (the cluster IP), ``{NAME}_SERVICE_PORT`` (the
  first port) and ``{NAME}_SERVICE_PORT_{PORTNAME}`` per named port;
* Docker's link variables: ``{NAME}_PORT`` (``tcp://IP:PORT`` of the first
  port) and per port ``{NAME}_PORT_{PORT}_{PROTO}`` with ``_PROTO``,
  ``_PORT`` and ``_ADDR``.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def _var(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def visible(services: list[Obj], pod: Obj) -> list[Obj]:
    """The Services whose variables the pod's containers get, by name."""
    md = pod.get("metadata") or {}
    ns = md.get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks")
    links = True if links is None else bool(links)
    chosen: dict[str, Obj] = {}
    for svc in services:
        if not _has_cluster_ip(svc):
            continue
        smd = svc.get("metadata") or {}
        name, sns = smd.get("name", ""), smd.get("namespace", "")
        if sns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)  # a same-named Service of the pod's namespace wins
        elif sns == ns and links:
            chosen[name] = svc
    return [chosen[n] for n in sorted(chosen)]


def variables(service: Obj) -> dict[str, str]:
    """The variables one Service gives."""
    spec = service.get("spec") or {}
    ip = str(spec.get("clusterIP") or "")
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    prefix = _var((service.get("metadata") or {}).get("name", ""))
    out: dict[str, str] = {f"{prefix}_SERVICE_HOST": ip}
    if ports:
        out[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port", ""))
    for p in ports:
        if p.get("name"):
            out[f"{prefix}_SERVICE_PORT_{_var(p['name'])}"] = str(p.get("port", ""))
    host = f"[{ip}]" if ":" in ip else ip
    for i, p in enumerate(ports):
        proto = str(p.get("protocol") or "TCP")
        port = str(p.get("port", ""))
        url = f"{proto.lower()}://{host}:{port}"
        if i == 0:
            out[f"{prefix}_PORT"] = url  # Docker's links name the first port on its own
        base = f"{prefix}_PORT_{port}_{proto.upper()}"
        out[base] = url
        out[f"{base}_PROTO"] = proto.lower()
        out[f"{base}_PORT"] = port
        out[f"{base}_ADDR"] = ip
    return out


def environment(services: list[Obj], pod: Obj) -> dict[str, str]:
    env: dict[str, str] = {}
    for svc in visible(services, pod):
        env.update(variables(svc))
    return env
