"""core/v1 kinds: strategies and the ``RESOURCES`` table.

Pod spec defaulting/validation is in :mod:`kubeling.api.kinds.pod`, Services
in :mod:`kubeling.api.kinds.service`; this module holds the Pod kind itself
(status on create, the update rules, the ``kubectl get pods`` table) and
every other core kind. Behaviour follows upstream's ``pkg/apis/core/v1``
defaults, ``pkg/apis/core/validation`` and ``pkg/registry/core/*/strategy.go``.

Known gap, waiting on the generic store: strategies are not told which
subresource an update came through, so ``pods/binding`` and
``namespaces/finalize`` run the main-resource hooks. Until the store calls
``prepare_for_subresource`` / ``validate_subresource`` (defined here for those
two), a plain pod update may set ``spec.nodeName`` when it was empty and a
plain namespace update may change ``spec.finalizers``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
from typing import Any

from kubeling.api import errors, meta, registry, validation
from kubeling.api.kinds import pod, service
from kubeling.lib import timeutil

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
Column = registry.Column

MAX_DATA_SIZE = 1024 * 1024  # ConfigMaps and Secrets: 1 MiB of data in total
POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_ACCESS_ABBREV = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _ensure(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def _age_of(ts: Any) -> str:
    return timeutil.age(ts) if isinstance(ts, str) and ts else "<unknown>"


def _selector_string(sel: Any) -> str:
    if not isinstance(sel, dict) or not sel:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


# ============================================================================ pods


def pod_qos_class(p: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from cpu/memory requests and limits."""
    spec = p.get("spec") or {}
    containers = _dicts(spec.get("containers")) + _dicts(spec.get("initContainers"))
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        for name in ("cpu", "memory"):
            rq = validation.quantity_value(req.get(name)) if name in req else None
            lq = validation.quantity_value(lim.get(name)) if name in lim else None
            if (rq is not None and rq != 0) or (lq is not None and lq != 0):
                any_set = True
            if lq is None or lq == 0 or rq is not None and rq != lq:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _diff_paths(a: Any, b: Any, path: str, out: list[str]) -> None:
    """Paths where ``a`` and ``b`` differ (for the 'pod updates may not change' message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff_paths(a.get(k), b.get(k), f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff_paths(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(path)


def validate_ephemeral_update(new: Obj, old: Obj) -> FieldErrors:
    """pods/ephemeralcontainers: ephemeral containers may be added, never changed or removed
    (upstream's ValidatePodEphemeralContainersUpdate); the new ones are checked with the rest
    of the spec, and a target container must be one of the pod's."""
    errs = pod.validate_pod_spec(new.get("spec"), "spec")
    path = "spec.ephemeralContainers"
    new_ecs = {c.get("name"): c for c in _dicts(_as_dict(new.get("spec")).get("ephemeralContainers"))}
    for i, c in enumerate(_dicts(_as_dict(old.get("spec")).get("ephemeralContainers"))):
        kept = new_ecs.get(c.get("name"))
        if kept is None:
            errs.append(errors.forbidden(f"{path}[{i}]", "existing ephemeral containers may not be removed"))
        elif kept != c:
            errs.append(errors.forbidden(f"{path}[{i}]",
                                         f'existing ephemeral containers "{c.get("name")}" may not be changed'))
    regular = {c.get("name") for kind in ("containers", "initContainers")
               for c in _dicts(_as_dict(new.get("spec")).get(kind))}
    for i, c in enumerate(new_ecs.values()):
        target = c.get("targetContainerName")
        if target and target not in regular:
            errs.append(errors.not_found(f"{path}[{i}].targetContainerName", target))
    return errs


def validate_pod_update(new: Obj, old: Obj) -> FieldErrors:
    """What a main-resource update of a pod may change (upstream's ValidatePodUpdate)."""
    ns = _as_dict(new.get("spec"))
    os_ = _as_dict(old.get("spec"))
    errs: FieldErrors = []
    for kind in ("containers", "initContainers"):
        if len(_dicts(ns.get(kind))) != len(_dicts(os_.get(kind))):
            errs.append(errors.forbidden(f"spec.{kind}", "pod updates may not add or remove containers"))
    if errs:
        return errs
    old_ads, new_ads = os_.get("activeDeadlineSeconds"), ns.get("activeDeadlineSeconds")
    if old_ads is not None:
        if new_ads is None:
            errs.append(errors.invalid_value("spec.activeDeadlineSeconds", None,
                                             "must not update from a positive integer to nil value"))
        elif validation.is_int(new_ads) and validation.is_int(old_ads) and new_ads > old_ads:
            errs.append(errors.invalid_value("spec.activeDeadlineSeconds", new_ads,
                                             "must be less than or equal to previous value"))
    old_tols = _dicts(os_.get("tolerations"))
    new_tols = _dicts(ns.get("tolerations"))
    for i, t in enumerate(old_tols):
        match = [n for n in new_tols if {**n, "tolerationSeconds": None} == {**t, "tolerationSeconds": None}]
        if not match:
            errs.append(errors.forbidden(f"spec.tolerations[{i}]",
                                         "existing toleration can not be modified except its tolerationSeconds"))
    # compare the rest of the spec with the mutable fields masked out
    mn, mo = copy.deepcopy(ns), copy.deepcopy(os_)
    for kind in ("containers", "initContainers"):
        for cn, co in zip(_dicts(mn.get(kind)), _dicts(mo.get(kind))):
            cn["image"] = co.get("image")
    for m in (mn, mo):
        m.pop("activeDeadlineSeconds", None)
        m.pop("tolerations", None)
    ot, nt = os_.get("terminationGracePeriodSeconds"), ns.get("terminationGracePeriodSeconds")
    if validation.is_int(ot) and ot < 0 and nt == 1:
        mn["terminationGracePeriodSeconds"] = ot
    # scheduling gates may only be removed
    old_gates = [g.get("name") for g in _dicts(os_.get("schedulingGates"))]
    new_gates = [g.get("name") for g in _dicts(ns.get("schedulingGates"))]
    if all(g in old_gates for g in new_gates):
        mn.pop("schedulingGates", None)
        mo.pop("schedulingGates", None)
    # binding through an update: see the module docstring
    if not os_.get("nodeName") and ns.get("nodeName"):
        mn["nodeName"] = mo.get("nodeName")
    if mn != mo:
        changed: list[str] = []
        _diff_paths(mo, mn, "spec", changed)
        detail = f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}"
        if changed:
            detail += "\n  changed: " + ", ".join(changed[:10])
        errs.append(errors.forbidden("spec", detail))
    return errs


def _container_status_by_name(p: Obj) -> dict[str, Obj]:
    st = p.get("status") or {}
    return {c.get("name", ""): c for c in _dicts(st.get("containerStatuses"))}


def pod_ready_cell(p: Obj) -> str:
    ready, total = _pod_counts(p)[:2]
    return f"{ready}/{total}"


def pod_status_cell(p: Obj) -> str:
    return _pod_counts(p)[2]


def pod_restarts_cell(p: Obj) -> Any:
    restarts, last = _pod_counts(p)[3:]
    if restarts and last:
        return f"{restarts} ({timeutil.age(last)} ago)"
    return restarts


def _pod_counts(p: Obj) -> tuple[int, int, str, int, str]:
    """(ready, total, status reason, restarts, last restart time) as kubectl computes them."""
    spec = p.get("spec") or {}
    status = p.get("status") or {}
    md = p.get("metadata") or {}
    init_specs = _dicts(spec.get("initContainers"))
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(_dicts(spec.get("containers"))) + len(sidecars)
    ready = 0
    restarts = 0
    last = ""
    reason = status.get("reason") or status.get("phase") or "Pending"

    def note_restart(cs: Obj) -> None:
        nonlocal last
        fin = dig(cs, "lastState", "terminated", "finishedAt")
        if isinstance(fin, str) and fin > last:
            last = fin

    initializing = False
    sidecar_restarts = 0
    init_statuses = _dicts(status.get("initContainerStatuses"))
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if cs.get("name") in sidecars:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            if cs.get("started"):
                if cs.get("ready"):
                    ready += 1
                continue
        if isinstance(term, dict) and term.get("exitCode") == 0:
            continue
        if isinstance(term, dict):
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode')}"
        elif isinstance(wait, dict) and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in _dicts(status.get("conditions")))
    if not initializing or initialized:
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(_dicts(status.get("containerStatuses"))):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            wait, term = state.get("waiting"), state.get("terminated")
            if isinstance(wait, dict) and wait.get("reason"):
                reason = wait["reason"]
            elif isinstance(term, dict) and term.get("reason"):
                reason = term["reason"]
            elif isinstance(term, dict):
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in _dicts(status.get("conditions")))
            reason = "Running" if pod_ready else "NotReady"
    if md.get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return ready, total, reason, restarts, last


def _readiness_gates_cell(p: Obj) -> str:
    gates = [g.get("conditionType") for g in _dicts(dig(p, "spec", "readinessGates"))]
    if not gates:
        return "<none>"
    true = {c.get("type") for c in _dicts(dig(p, "status", "conditions")) if c.get("status") == "True"}
    return f"{sum(1 for g in gates if g in true)}/{len(gates)}"


class PodStrategy(registry.Strategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = _ensure(obj, "spec")
        pod.default_pod_spec(spec)
        pod.default_pod_only(spec)
        # preemptionPolicy comes from the PriorityClass (apiserver/admission_priority.py).

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj)}

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_status_update(new, old)
        st = new.get("status")
        old_qos = dig(old, "status", "qosClass")
        if isinstance(st, dict) and old_qos and not st.get("qosClass"):
            st["qosClass"] = old_qos

    def validate(self, obj: Obj) -> FieldErrors:
        return pod.validate_pod_spec(obj.get("spec"), "spec")

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + validate_pod_update(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        st = new.get("status") or {}
        errs = validation.validate_enum(st.get("phase"), "status.phase", POD_PHASES)
        old_phase = dig(old, "status", "phase")
        if old_phase in ("Succeeded", "Failed") and st.get("phase") != old_phase:
            errs.append(errors.forbidden("status.phase", "may not be transitioned to non-terminal state"))
        if st.get("podIP"):
            errs += _ip(st["podIP"], "status.podIP")
        for i, ip in enumerate(_dicts(st.get("podIPs"))):
            errs += _ip(ip.get("ip"), f"status.podIPs[{i}].ip")
        if st.get("hostIP"):
            errs += _ip(st["hostIP"], "status.hostIP")
        if st.get("nominatedNodeName"):
            errs += validation.validate_str_with(st["nominatedNodeName"], "status.nominatedNodeName",
                                                 validation.dns1123_subdomain)
        return errs

    def prepare_for_subresource(self, subresource: str, new: Obj, old: Obj) -> None:
        """``binding``: the handler already set nodeName and the PodScheduled condition.
        ``ephemeralcontainers``: only ``spec.ephemeralContainers`` comes from the request;
        everything else stays as stored (upstream's podEphemeralContainersStrategy)."""
        if subresource != "ephemeralcontainers":
            return
        ephemeral = _as_dict(new.get("spec")).get("ephemeralContainers")
        md = new.get("metadata")
        new.clear()
        new.update(copy.deepcopy(old))
        if isinstance(md, dict):
            new["metadata"] = {**new.get("metadata", {}), **{k: md[k] for k in ("uid",) if k in md}}
        spec = _ensure(new, "spec")
        if ephemeral is None:
            spec.pop("ephemeralContainers", None)
        else:
            spec["ephemeralContainers"] = ephemeral
        pod.default_pod_spec(spec)

    def validate_subresource(self, subresource: str, new: Obj, old: Obj) -> FieldErrors:
        if subresource == "binding":
            return validation.validate_str_with(dig(new, "spec", "nodeName"), "target.name",
                                                validation.dns1123_subdomain)
        if subresource == "ephemeralcontainers":
            return validate_ephemeral_update(new, old)
        return []

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Ready", pod_ready_cell, description="The number of ready containers out of all containers."),
            Column("Status", pod_status_cell, description="The aggregate state of the pod's containers."),
            Column("Restarts", pod_restarts_cell, type="string",
                   description="How often the pod's containers restarted, and when last."),
            registry.AGE_COLUMN,
            Column("IP", lambda o: dig(o, "status", "podIP") or "<none>", priority=1,
                   description="The IP address of the pod."),
            Column("Node", lambda o: dig(o, "spec", "nodeName") or "<none>", priority=1,
                   description="The node the pod is bound to."),
            Column("Nominated Node", lambda o: dig(o, "status", "nominatedNodeName") or "<none>", priority=1,
                   description="The node preemption picked for the pod, if any."),
            Column("Readiness Gates", _readiness_gates_cell, priority=1,
                   description="How many of the pod's readiness gates are satisfied."),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        spec = obj.get("spec") or {}
        st = obj.get("status") or {}
        return {
            "spec.nodeName": spec.get("nodeName") or "",
            "spec.restartPolicy": spec.get("restartPolicy") or "",
            "spec.schedulerName": spec.get("schedulerName") or "",
            "spec.serviceAccountName": spec.get("serviceAccountName") or "",
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": st.get("phase") or "",
            "status.podIP": st.get("podIP") or "",
            "status.nominatedNodeName": st.get("nominatedNodeName") or "",
        }


def _ip(value: Any, path: str) -> FieldErrors:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return [errors.invalid_value(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


# ================================================================ config and secrets


def _validate_data_keys(obj: Obj, *, binary_key: str) -> tuple[FieldErrors, int]:
    """Keys of data and binaryData/stringData: config keys, no duplicates. Returns (errors, size)."""
    errs: FieldErrors = []
    size = 0
    data = obj.get("data") or {}
    other = obj.get(binary_key) or {}
    for field, values in (("data", data), (binary_key, other)):
        if not isinstance(values, dict):
            errs.append(errors.type_invalid(field, values, "must be a map of string keys"))
            continue
        for k, v in values.items():
            errs += [errors.invalid_value(f"{field}[{k}]", k, m) for m in validation.config_map_key(k)]
            if field == "data" and binary_key == "binaryData" and isinstance(other, dict) and k in other:
                errs.append(errors.invalid_value(f"data[{k}]", k, "duplicate of key present in binaryData"))
            if not isinstance(v, str):
                errs.append(errors.type_invalid(f"{field}[{k}]", v, "must be a string"))
                continue
            if field == "binaryData" or (binary_key == "stringData" and field == "data"):
                try:
                    size += len(base64.b64decode(v, validate=True))
                except (binascii.Error, ValueError):
                    errs.append(errors.invalid_value(f"{field}[{k}]", "<value omitted>",
                                                     "must be base64-encoded"))
            else:
                size += len(v.encode())
    return errs, size


def _validate_immutable_data(new: Obj, old: Obj, fields: tuple[str, ...]) -> FieldErrors:
    if old.get("immutable") is not True:
        return []
    errs: FieldErrors = []
    if new.get("immutable") is not True:
        errs.append(errors.forbidden("immutable", "field is immutable when `immutable` is set"))
    for f in fields:
        if (new.get(f) or {}) != (old.get(f) or {}):
            errs.append(errors.forbidden(f, "field is immutable when `immutable` is set"))
    return errs


class ConfigMapStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs, size = _validate_data_keys(obj, binary_key="binaryData")
        if size > MAX_DATA_SIZE:
            errs.append(errors.too_long("", "", MAX_DATA_SIZE))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + _validate_immutable_data(new, old, ("data", "binaryData"))

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), type="integer",
                   description="The number of keys in the ConfigMap."),
            registry.AGE_COLUMN,
        ]


SECRET_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


class SecretStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        if not obj.get("type"):
            obj["type"] = "Opaque"
        # stringData is a write-only convenience: it is merged into data, base64-encoded
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict) and sd:
            data = obj.get("data")
            if not isinstance(data, dict):
                data = obj["data"] = {}
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()

    def validate(self, obj: Obj) -> FieldErrors:
        errs, size = _validate_data_keys(obj, binary_key="stringData")
        if size > MAX_DATA_SIZE:
            errs.append(errors.too_long("data", "", MAX_DATA_SIZE))
        data = _as_dict(obj.get("data"))
        stype = obj.get("type") or ""
        if stype == "kubernetes.io/service-account-token":
            ann = dig(obj, "metadata", "annotations") or {}
            if not ann.get("kubernetes.io/service-account.name"):
                errs.append(errors.required("metadata.annotations[kubernetes.io/service-account.name]", ""))
        elif stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            errs.append(errors.required("data[username]", ""))
            errs.append(errors.required("data[password]", ""))
        for key in SECRET_REQUIRED_KEYS.get(stype, ()):
            if key not in data:
                errs.append(errors.required(f"data[{key}]", ""))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        errs += validation.validate_immutable(new.get("type"), old.get("type"), "type")
        return errs + _validate_immutable_data(new, old, ("data",))

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Type", lambda o: o.get("type", ""), description="The type of the secret."),
            Column("Data", lambda o: len(o.get("data") or {}), type="integer",
                   description="The number of keys in the secret."),
            registry.AGE_COLUMN,
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"type": obj.get("type") or ""}


class ServiceAccountStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for i, s in enumerate(_dicts(obj.get("secrets"))):
            if s.get("name"):
                errs += validation.validate_str_with(s["name"], f"secrets[{i}].name", validation.dns1123_subdomain)
        for i, s in enumerate(_dicts(obj.get("imagePullSecrets"))):
            if s.get("name"):
                errs += validation.validate_str_with(s["name"], f"imagePullSecrets[{i}].name",
                                                     validation.dns1123_subdomain)
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Secrets", lambda o: len(o.get("secrets") or []), type="integer",
                   description="The number of secrets the service account lists."),
            registry.AGE_COLUMN,
        ]


# ====================================================================== endpoints


class EndpointsStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        for subset in _dicts(obj.get("subsets")):
            for port in _dicts(subset.get("ports")):
                if not port.get("protocol"):
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for i, subset in enumerate(_dicts(obj.get("subsets"))):
            p = f"subsets[{i}]"
            addrs = _dicts(subset.get("addresses"))
            not_ready = _dicts(subset.get("notReadyAddresses"))
            if not addrs and not not_ready:
                errs.append(errors.required(p, "must specify `addresses` or `notReadyAddresses`"))
            for key, lst in (("addresses", addrs), ("notReadyAddresses", not_ready)):
                for j, a in enumerate(lst):
                    ap = f"{p}.{key}[{j}]"
                    errs += _endpoint_ip(a.get("ip"), f"{ap}.ip")
                    if a.get("hostname"):
                        errs += validation.validate_str_with(a["hostname"], f"{ap}.hostname", validation.dns1123_label)
                    if a.get("nodeName"):
                        errs += validation.validate_str_with(a["nodeName"], f"{ap}.nodeName",
                                                             validation.dns1123_subdomain)
            ports = _dicts(subset.get("ports"))
            for j, port in enumerate(ports):
                pp = f"{p}.ports[{j}]"
                if len(ports) > 1 and not port.get("name"):
                    errs.append(errors.required(f"{pp}.name", ""))
                elif port.get("name"):
                    errs += validation.validate_str_with(port["name"], f"{pp}.name", validation.dns1123_label)
                errs += [errors.invalid_value(f"{pp}.port", port.get("port"), m)
                         for m in validation.port_number(port.get("port"))]
                errs += validation.validate_enum(port.get("protocol"), f"{pp}.protocol", pod.PROTOCOLS, required=True)
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Endpoints", endpoints_cell, description="The addresses and ports of the endpoints."),
            registry.AGE_COLUMN,
        ]


def _endpoint_ip(value: Any, path: str) -> FieldErrors:
    errs = _ip(value, path)
    if errs:
        return errs
    ip = ipaddress.ip_address(value)
    if ip.is_unspecified:
        return [errors.invalid_value(path, value, "may not be unspecified (0.0.0.0)")]
    if ip.is_loopback:
        return [errors.invalid_value(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")]
    if ip.is_link_local:
        return [errors.invalid_value(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")]
    return []


def endpoints_cell(obj: Obj, limit: int = 3) -> str:
    """``10.0.0.1:80,10.0.0.2:80 + 2 more...`` as kubectl prints endpoints."""
    items: list[str] = []
    count = 0
    for subset in _dicts(obj.get("subsets")):
        addrs = _dicts(subset.get("addresses"))
        ports = _dicts(subset.get("ports"))
        pairs = [(a, p) for p in ports for a in addrs] if ports else [(a, None) for a in addrs]
        for a, p in pairs:
            count += 1
            if len(items) < limit:
                ip = a.get("ip", "")
                host = f"[{ip}]" if ":" in ip else ip
                items.append(f"{host}:{p.get('port')}" if p is not None else ip)
    if not items:
        return "<none>"
    out = ",".join(items)
    if count > limit:
        out += f" + {count - limit} more..."
    return out


# ========================================================================= events


class EventStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        ns = dig(obj, "metadata", "namespace") or ""
        inv = _as_dict(obj.get("involvedObject"))
        inv_ns = inv.get("namespace") or ""
        if inv_ns and inv_ns != ns or not inv_ns and ns not in ("", "default") and inv.get("kind") in ("Node", "Namespace", "PersistentVolume"):
            errs.append(errors.invalid_value("involvedObject.namespace", inv_ns, "does not match event.namespace"))
        for f in ("count",):
            errs += validation.validate_nonnegative(obj.get(f), f)
        if obj.get("type") and obj["type"] not in ("Normal", "Warning") and obj.get("reportingComponent"):
            errs.append(errors.not_supported("type", obj["type"], ["Normal", "Warning"]))
        return errs

    def columns(self) -> list[Column]:
        return [
            Column("Last Seen", event_last_seen_cell, description="Time since the event was last observed."),
            Column("Type", lambda o: o.get("type", ""), description="Normal or Warning."),
            Column("Reason", lambda o: o.get("reason", ""), description="Why the event happened, in one word."),
            Column("Object", event_object_cell, description="The object the event is about."),
            Column("Subobject", lambda o: dig(o, "involvedObject", "fieldPath") or "", priority=1,
                   description="The part of the object the event is about."),
            Column("Source", event_source_cell, priority=1, description="The component that reported the event."),
            Column("Message", lambda o: o.get("message", ""), description="What happened."),
            Column("First Seen", lambda o: _age_of(o.get("firstTimestamp") or o.get("eventTime")), priority=1,
                   description="Time since the event was first observed."),
            Column("Count", lambda o: int(o.get("count") or dig(o, "series", "count") or 1), type="integer",
                   priority=1, description="How many times the event was observed."),
            Column("Name", lambda o: dig(o, "metadata", "name") or "", priority=1, format="name",
                   description="The name of the event object."),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        inv = _as_dict(obj.get("involvedObject"))
        vals = {f"involvedObject.{k}": str(inv.get(k) or "") for k in
                ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
        vals.update({
            "reason": obj.get("reason") or "",
            "reportingComponent": obj.get("reportingComponent") or "",
            "source": dig(obj, "source", "component") or "",
            "type": obj.get("type") or "",
        })
        return vals


def event_last_seen_cell(obj: Obj) -> str:
    ts = dig(obj, "series", "lastObservedTime") or obj.get("lastTimestamp") or obj.get("eventTime") or \
        obj.get("firstTimestamp") or dig(obj, "metadata", "creationTimestamp")
    return _age_of(ts)


def event_object_cell(obj: Obj) -> str:
    inv = obj.get("involvedObject") or {}
    return f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}"


def event_source_cell(obj: Obj) -> str:
    comp = dig(obj, "source", "component") or obj.get("reportingComponent") or ""
    host = dig(obj, "source", "host") or ""
    return f"{comp}, {host}" if host else comp


# ===================================================================== namespaces


class NamespaceStrategy(registry.Strategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        name = dig(obj, "metadata", "name")
        md = _ensure(obj, "metadata")
        if name:
            labels = md.get("labels")
            if not isinstance(labels, dict):
                labels = md["labels"] = {}
            labels["kubernetes.io/metadata.name"] = name

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = _ensure(obj, "spec")
        fins = list(spec.get("finalizers") or []) if isinstance(spec.get("finalizers"), list) else []
        if "kubernetes" not in fins:
            fins = [*fins, "kubernetes"]
        spec["finalizers"] = fins

    def validate(self, obj: Obj) -> FieldErrors:
        name = dig(obj, "metadata", "name")
        errs: FieldErrors = []
        if isinstance(name, str) and name and not validation.dns1123_subdomain(name):
            # the store checked the subdomain rule; namespaces must be labels
            errs += [errors.invalid_value("metadata.name", name, m) for m in validation.dns1123_label(name)]
        for f in dig(obj, "spec", "finalizers") or []:
            errs += _validate_spec_finalizer(f, "spec.finalizers")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = validation.validate_enum(dig(new, "status", "phase"), "status.phase", ["Active", "Terminating"])
        if dig(old, "metadata", "deletionTimestamp") is None and dig(new, "status", "phase") == "Terminating":
            errs.append(errors.invalid_value("status.phase", "Terminating",
                                             "may only be 'Terminating' if `deletionTimestamp` is not empty"))
        return errs

    def prepare_for_subresource(self, subresource: str, new: Obj, old: Obj) -> None:
        """``finalize`` changes spec.finalizers only."""
        if subresource == "finalize":
            fins = dig(new, "spec", "finalizers")
            new.clear()
            new.update(copy.deepcopy(old))
            spec = _ensure(new, "spec")
            if fins:
                spec["finalizers"] = fins
            else:
                spec.pop("finalizers", None)

    def validate_subresource(self, subresource: str, new: Obj, old: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for f in dig(new, "spec", "finalizers") or []:
            errs += _validate_spec_finalizer(f, "spec.finalizers")
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Status", lambda o: dig(o, "status", "phase") or "", description="Active or Terminating."),
            registry.AGE_COLUMN,
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"status.phase": dig(obj, "status", "phase") or ""}


def _validate_spec_finalizer(f: Any, path: str) -> FieldErrors:
    if not isinstance(f, str):
        return [errors.type_invalid(path, f, "must be a string")]
    msgs = validation.qualified_name(f)
    errs = [errors.invalid_value(path, f, m) for m in msgs]
    if not msgs and "/" not in f and f not in meta.STANDARD_FINALIZERS:
        errs.append(errors.invalid_value(path, f, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


# ========================================================================== nodes


class NodeStrategy(registry.Strategy):
    has_status = True
    reset_status_on_create = False

    def default(self, obj: Obj) -> None:
        st = obj.get("status")
        if isinstance(st, dict) and isinstance(st.get("capacity"), dict) and not st.get("allocatable"):
            st["allocatable"] = dict(st["capacity"])

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec") or {}
        errs: FieldErrors = []
        seen: set[tuple[Any, Any]] = set()
        for i, t in enumerate(_dicts(spec.get("taints"))):
            p = f"spec.taints[{i}]"
            errs += validation.validate_str_with(t.get("key"), f"{p}.key", validation.qualified_name)
            if t.get("value"):
                errs += validation.validate_str_with(t["value"], f"{p}.value", validation.label_value)
            errs += validation.validate_enum(t.get("effect"), f"{p}.effect", pod.TAINT_EFFECTS, required=True)
            key = (t.get("key"), t.get("effect"))
            if key in seen:
                errs.append(errors.duplicate(p, {"key": key[0], "effect": key[1]}))
            seen.add(key)
        cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        for i, c in enumerate(cidrs):
            try:
                ipaddress.ip_network(c, strict=False)
            except (ValueError, TypeError):
                errs.append(errors.invalid_value(f"spec.podCIDRs[{i}]", c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
        if len(cidrs) > 2:
            errs.append(errors.invalid_value("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family"))
        if spec.get("podCIDR") and spec.get("podCIDRs") and spec["podCIDRs"][0] != spec["podCIDR"]:
            errs.append(errors.invalid_value("spec.podCIDRs", spec["podCIDRs"], "first value must match spec.podCIDR"))
        errs += self._validate_status(obj)
        return errs

    def _validate_status(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        st = obj.get("status") or {}
        for part in ("capacity", "allocatable"):
            for k, v in (st.get(part) or {}).items():
                errs += validation.validate_quantity(v, f"status.{part}.{k}")
        for i, a in enumerate(_dicts(st.get("addresses"))):
            if not a.get("type"):
                errs.append(errors.required(f"status.addresses[{i}].type", ""))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        ns, os_ = new.get("spec") or {}, old.get("spec") or {}
        if os_.get("podCIDR") and ns.get("podCIDR") != os_["podCIDR"]:
            errs.append(errors.forbidden("spec.podCIDR", 'node updates may not change podCIDR except from "" to valid'))
        if os_.get("providerID") and ns.get("providerID") != os_["providerID"]:
            errs.append(errors.forbidden("spec.providerID",
                                         'node updates may not change providerID except from "" to valid'))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self._validate_status(new)

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Status", node_status_cell, description="Ready/NotReady and whether scheduling is disabled."),
            Column("Roles", node_roles_cell, description="The roles of the node, from its labels."),
            registry.AGE_COLUMN,
            Column("Version", lambda o: dig(o, "status", "nodeInfo", "kubeletVersion") or "",
                   description="The kubelet version of the node."),
            Column("Internal-IP", lambda o: _node_address(o, "InternalIP"), priority=1,
                   description="The node's address inside the cluster."),
            Column("External-IP", lambda o: _node_address(o, "ExternalIP"), priority=1,
                   description="The node's address outside the cluster."),
            Column("OS-Image", lambda o: dig(o, "status", "nodeInfo", "osImage") or "<unknown>", priority=1,
                   description="The operating system of the node."),
            Column("Kernel-Version", lambda o: dig(o, "status", "nodeInfo", "kernelVersion") or "<unknown>",
                   priority=1, description="The kernel version of the node."),
            Column("Container-Runtime", lambda o: dig(o, "status", "nodeInfo", "containerRuntimeVersion")
                   or "<unknown>", priority=1, description="The container runtime of the node."),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"spec.unschedulable": "true" if dig(obj, "spec", "unschedulable") else "false"}


def node_status_cell(obj: Obj) -> str:
    ready = [c for c in _dicts(dig(obj, "status", "conditions")) if c.get("type") == "Ready"]
    if not ready:
        status = "Unknown"
    else:
        status = "Ready" if ready[0].get("status") == "True" else "NotReady"
    if dig(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def node_roles_cell(obj: Obj) -> str:
    roles: set[str] = set()
    for k, v in (dig(obj, "metadata", "labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k.split("/", 1)[1]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) if roles else "<none>"


def _node_address(obj: Obj, kind: str) -> str:
    for a in _dicts(dig(obj, "status", "addresses")):
        if a.get("type") == kind:
            return a.get("address") or "<none>"
    return "<none>"


# ================================================================ persistent volumes

PV_SOURCES = (
    "gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "quobyte", "iscsi",
    "cinder", "cephfs", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi",
)


def _validate_access_modes(modes: Any, path: str) -> FieldErrors:
    if not modes:
        return [errors.required(path, "at least 1 access mode is required")]
    if not isinstance(modes, list):
        return [errors.type_invalid(path, modes, "must be a list")]
    errs: FieldErrors = []
    for m in modes:
        if m not in ACCESS_MODES:
            errs.append(errors.not_supported(path, m, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(errors.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _access_modes_cell(modes: Any) -> str:
    if not isinstance(modes, list):
        return ""
    return ",".join(_ACCESS_ABBREV.get(str(m), str(m)) for m in modes)


def _storage_class(obj: Obj) -> str:
    return dig(obj, "spec", "storageClassName") or \
        (dig(obj, "metadata", "annotations") or {}).get("volume.beta.kubernetes.io/storage-class", "")


def _phase_or_terminating(obj: Obj) -> str:
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return dig(obj, "status", "phase") or ""


class PersistentVolumeStrategy(registry.Strategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = _ensure(obj, "spec")
        if not spec.get("persistentVolumeReclaimPolicy"):
            spec["persistentVolumeReclaimPolicy"] = "Retain"
        if not spec.get("volumeMode"):
            spec["volumeMode"] = "Filesystem"
        hp = spec.get("hostPath")
        if isinstance(hp, dict):
            hp.setdefault("type", "")

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = _validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        cap = spec.get("capacity")
        if not cap:
            errs.append(errors.required("spec.capacity", ""))
        elif not isinstance(cap, dict) or "storage" not in cap or len(cap) > 1:
            errs.append(errors.not_supported("spec.capacity", cap, ["storage"]))
        else:
            errs += validation.validate_quantity(cap["storage"], "spec.capacity[storage]")
        present = [k for k in PV_SOURCES if spec.get(k) is not None]
        if not present:
            errs.append(errors.required("spec", "must specify a volume type"))
        errs += [errors.forbidden(f"spec.{k}", "may not specify more than 1 volume type") for k in present[1:]]
        if spec.get("local") is not None and not spec.get("nodeAffinity"):
            errs.append(errors.required("spec.nodeAffinity", "Local volume requires node affinity"))
        hp = spec.get("hostPath")
        if isinstance(hp, dict) and not hp.get("path"):
            errs.append(errors.required("spec.hostPath.path", ""))
        errs += validation.validate_enum(spec.get("persistentVolumeReclaimPolicy"),
                                         "spec.persistentVolumeReclaimPolicy", RECLAIM_POLICIES, required=True)
        errs += validation.validate_enum(spec.get("volumeMode"), "spec.volumeMode", VOLUME_MODES)
        if spec.get("storageClassName"):
            errs += validation.validate_str_with(spec["storageClassName"], "spec.storageClassName",
                                                 validation.dns1123_subdomain)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        ns, os_ = new.get("spec") or {}, old.get("spec") or {}
        if {k: ns.get(k) for k in PV_SOURCES} != {k: os_.get(k) for k in PV_SOURCES}:
            errs.append(errors.forbidden("spec.persistentvolumesource",
                                         "spec.persistentvolumesource is immutable after creation"))
        errs += validation.validate_immutable(ns.get("volumeMode"), os_.get("volumeMode"), "spec.volumeMode")
        if os_.get("nodeAffinity"):
            errs += validation.validate_immutable(ns.get("nodeAffinity"), os_.get("nodeAffinity"),
                                                  "nodeAffinity")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return validation.validate_enum(dig(new, "status", "phase"), "status.phase",
                                        ["Available", "Bound", "Failed", "Pending", "Released"])

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Capacity", lambda o: dig(o, "spec", "capacity", "storage") or "",
                   description="The size of the volume."),
            Column("Access Modes", lambda o: _access_modes_cell(dig(o, "spec", "accessModes")),
                   description="How the volume can be mounted."),
            Column("Reclaim Policy", lambda o: dig(o, "spec", "persistentVolumeReclaimPolicy") or "",
                   description="What happens to the volume when its claim is released."),
            Column("Status", _phase_or_terminating, description="The phase of the volume."),
            Column("Claim", pv_claim_cell, description="The claim bound to the volume."),
            Column("StorageClass", _storage_class, description="The storage class of the volume."),
            Column("VolumeAttributesClass", lambda o: dig(o, "spec", "volumeAttributesClassName") or "<unset>",
                   description="The volume attributes class of the volume."),
            Column("Reason", lambda o: dig(o, "status", "reason") or "",
                   description="Why the volume is in its phase."),
            registry.AGE_COLUMN,
            Column("VolumeMode", lambda o: dig(o, "spec", "volumeMode") or "", priority=1,
                   description="Filesystem or Block."),
        ]


def pv_claim_cell(obj: Obj) -> str:
    ref = dig(obj, "spec", "claimRef")
    if not isinstance(ref, dict):
        return ""
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


class PersistentVolumeClaimStrategy(registry.Strategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = _ensure(obj, "spec")
        if not spec.get("volumeMode"):
            spec["volumeMode"] = "Filesystem"

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = _validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        errs += validation.validate_label_selector(spec.get("selector"), "spec.selector")
        storage = dig(spec, "resources", "requests", "storage")
        if storage is None:
            errs.append(errors.required("spec.resources[storage]", ""))
        else:
            qerrs = validation.validate_quantity(storage, "spec.resources[storage]")
            errs += qerrs
            if not qerrs and (validation.quantity_value(storage) or 0) <= 0:
                errs.append(errors.invalid_value("spec.resources[storage]", storage, "must be greater than zero"))
        for part in ("limits", "requests"):
            for k, v in (dig(spec, "resources", part) or {}).items():
                if k != "storage":
                    errs += validation.validate_quantity(v, f"spec.resources.{part}[{k}]")
        errs += validation.validate_enum(spec.get("volumeMode"), "spec.volumeMode", VOLUME_MODES)
        if spec.get("storageClassName"):
            errs += validation.validate_str_with(spec["storageClassName"], "spec.storageClassName",
                                                 validation.dns1123_subdomain)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        ns = copy.deepcopy(new.get("spec") or {})
        os_ = copy.deepcopy(old.get("spec") or {})
        bound = dig(old, "status", "phase") == "Bound"
        # binding fills volumeName once; bound claims may be resized
        if not os_.get("volumeName") and ns.get("volumeName"):
            os_["volumeName"] = ns["volumeName"]
        for s in (ns, os_):
            s.pop("volumeAttributesClassName", None)
        if bound:
            for s in (ns, os_):
                s.pop("resources", None)
        if ns != os_:
            errs.append(errors.forbidden("spec", "spec is immutable after creation except resources.requests and "
                                                 "volumeAttributesClassName for bound claims"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = validation.validate_enum(dig(new, "status", "phase"), "status.phase", ["Bound", "Lost", "Pending"])
        for k, v in (dig(new, "status", "capacity") or {}).items():
            errs += validation.validate_quantity(v, f"status.capacity[{k}]")
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Status", _phase_or_terminating, description="The phase of the claim."),
            Column("Volume", lambda o: dig(o, "spec", "volumeName") or "", description="The bound volume."),
            Column("Capacity", lambda o: (dig(o, "status", "capacity", "storage") or "")
                   if dig(o, "spec", "volumeName") else "", description="The size of the bound volume."),
            Column("Access Modes", lambda o: _access_modes_cell(dig(o, "status", "accessModes"))
                   if dig(o, "spec", "volumeName") else "", description="How the bound volume can be mounted."),
            Column("StorageClass", _storage_class, description="The storage class asked for."),
            Column("VolumeAttributesClass", lambda o: dig(o, "spec", "volumeAttributesClassName") or "<unset>",
                   description="The volume attributes class asked for."),
            registry.AGE_COLUMN,
            Column("VolumeMode", lambda o: dig(o, "spec", "volumeMode") or "", priority=1,
                   description="Filesystem or Block."),
        ]


# ======================================================= limit ranges and quotas

LIMIT_TYPES = ["Container", "PersistentVolumeClaim", "Pod"]
QUOTA_SCOPES = ["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
                "Terminating"]


class LimitRangeStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for i, item in enumerate(_dicts(dig(obj, "spec", "limits"))):
            p = f"spec.limits[{i}]"
            ltype = item.get("type")
            errs += validation.validate_enum(ltype, f"{p}.type", LIMIT_TYPES, required=True)
            vals: dict[str, dict[str, Any]] = {}
            for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                q = item.get(part) or {}
                vals[part] = {}
                for k, v in (q.items() if isinstance(q, dict) else []):
                    errs += validation.validate_str_with(k, f"{p}.{part}[{k}]", validation.qualified_name)
                    qe = validation.validate_quantity(v, f"{p}.{part}[{k}]")
                    errs += qe
                    if not qe:
                        vals[part][k] = (validation.quantity_value(v), v)
            if ltype == "Pod":
                for part in ("default", "defaultRequest"):
                    if vals[part]:
                        errs.append(errors.forbidden(f"{p}.{part}", "may not be specified when `type` is 'Pod'"))
            if ltype == "PersistentVolumeClaim" and "storage" not in vals["min"] and "storage" not in vals["max"]:
                errs.append(errors.required(
                    f"{p}.limits", "either minimum or maximum storage value is required, but neither was provided"))
            errs += _limit_order(vals, p)
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Created At", lambda o: dig(o, "metadata", "creationTimestamp") or "", type="date",
                   description="When the limit range was created."),
        ]


def _limit_order(vals: dict[str, dict[str, Any]], p: str) -> FieldErrors:
    """min <= defaultRequest <= default <= max, per resource."""
    errs: FieldErrors = []
    mins, maxs, defs, reqs = vals["min"], vals["max"], vals["default"], vals["defaultRequest"]
    for k, (mn, mn_s) in mins.items():
        if k in maxs and mn > maxs[k][0]:
            errs.append(errors.invalid_value(f"{p}.min[{k}]", mn_s,
                                             f"min value {mn_s} is greater than max value {maxs[k][1]}"))
    for k, (d, d_s) in reqs.items():
        if k in mins and mins[k][0] > d:
            errs.append(errors.invalid_value(f"{p}.defaultRequest[{k}]", d_s,
                                             f"min value {mins[k][1]} is greater than default request value {d_s}"))
        if k in maxs and d > maxs[k][0]:
            errs.append(errors.invalid_value(f"{p}.defaultRequest[{k}]", d_s,
                                             f"default request value {d_s} is greater than max value {maxs[k][1]}"))
        if k in defs and d > defs[k][0]:
            errs.append(errors.invalid_value(
                f"{p}.defaultRequest[{k}]", d_s,
                f"default request value {d_s} is greater than default limit value {defs[k][1]}"))
    for k, (d, d_s) in defs.items():
        if k in mins and mins[k][0] > d:
            errs.append(errors.invalid_value(f"{p}.default[{k}]", d_s,
                                             f"min value {mins[k][1]} is greater than default value {d_s}"))
        if k in maxs and d > maxs[k][0]:
            errs.append(errors.invalid_value(f"{p}.default[{k}]", d_s,
                                             f"default value {d_s} is greater than max value {maxs[k][1]}"))
    for k, (r, r_s) in vals["maxLimitRequestRatio"].items():
        if r < 1:
            errs.append(errors.invalid_value(f"{p}.maxLimitRequestRatio[{k}]", r_s, f"ratio {r_s} is less than 1"))
    return errs


class ResourceQuotaStrategy(registry.Strategy):
    has_status = True

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec") or {}
        errs = _validate_resource_list(spec.get("hard"), "spec.hard")
        for i, sc in enumerate(spec.get("scopes") or []):
            if sc not in QUOTA_SCOPES:
                errs.append(errors.not_supported(f"spec.scopes[{i}]", sc, QUOTA_SCOPES))
        for i, ex in enumerate(_dicts(dig(spec, "scopeSelector", "matchExpressions"))):
            p = f"spec.scopeSelector.matchExpressions[{i}]"
            errs += validation.validate_enum(ex.get("scopeName"), f"{p}.scopeName", QUOTA_SCOPES, required=True)
            errs += validation.validate_enum(ex.get("operator"), f"{p}.operator",
                                             ["DoesNotExist", "Exists", "In", "NotIn"], required=True)
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return _validate_resource_list(dig(new, "status", "hard"), "status.hard") + \
            _validate_resource_list(dig(new, "status", "used"), "status.used")

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            registry.AGE_COLUMN,
            Column("Request", lambda o: _quota_cell(o, limits=False),
                   description="Used and hard amounts of the requested resources."),
            Column("Limit", lambda o: _quota_cell(o, limits=True),
                   description="Used and hard amounts of the resource limits."),
        ]


def _validate_resource_list(values: Any, path: str) -> FieldErrors:
    if values is None:
        return []
    if not isinstance(values, dict):
        return [errors.type_invalid(path, values, "must be a map of resource quantities")]
    errs: FieldErrors = []
    for k, v in values.items():
        errs += validation.validate_str_with(k, f"{path}[{k}]", validation.qualified_name)
        errs += validation.validate_quantity(v, f"{path}[{k}]")
    return errs


def _quota_cell(obj: Obj, *, limits: bool) -> str:
    hard = dig(obj, "status", "hard") or {}
    used = dig(obj, "status", "used") or {}
    entries = [f"{k}: {used.get(k, '0')}/{hard[k]}" for k in sorted(hard) if k.startswith("limits.") == limits]
    return ", ".join(entries)


# ======================================================= replication controllers


def _template_labels(obj: Obj) -> dict[str, str]:
    labels = dig(obj, "spec", "template", "metadata", "labels")
    return labels if isinstance(labels, dict) else {}


class ReplicationControllerStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = _ensure(obj, "spec")
        tlabels = _template_labels(obj)
        if tlabels:
            if not spec.get("selector"):
                spec["selector"] = dict(tlabels)
            md = _ensure(obj, "metadata")
            if not md.get("labels"):
                md["labels"] = dict(tlabels)
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        template = spec.get("template")
        if isinstance(template, dict):
            pod.default_pod_template(template)

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs: FieldErrors = []
        selector = spec.get("selector")
        if not selector:
            errs.append(errors.required("spec.selector", ""))
        errs += validation.validate_labels(selector, "spec.selector")
        errs += _nonneg_int(spec.get("replicas"), "spec.replicas")
        errs += _nonneg_int(spec.get("minReadySeconds"), "spec.minReadySeconds")
        template = spec.get("template")
        if template is None:
            errs.append(errors.required("spec.template", ""))
            return errs
        errs += validate_replicated_template(template, selector, "spec.template",
                                             kind="ReplicationController")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        st = new.get("status") or {}
        errs: FieldErrors = []
        for k in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"):
            errs += _nonneg_int(st.get(k), f"status.{k}")
        pairs = (("fullyLabeledReplicas", "replicas"), ("readyReplicas", "replicas"),
                 ("availableReplicas", "replicas"), ("availableReplicas", "readyReplicas"))
        for a, b in pairs:
            if validation.is_int(st.get(a)) and validation.is_int(st.get(b)) and st[a] > st[b]:
                errs.append(errors.invalid_value(f"status.{a}", st[a], f"cannot be greater than status.{b}"))
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Desired", lambda o: dig(o, "spec", "replicas") or 0, type="integer",
                   description="The number of replicas asked for."),
            Column("Current", lambda o: dig(o, "status", "replicas") or 0, type="integer",
                   description="The number of replicas that exist."),
            Column("Ready", lambda o: dig(o, "status", "readyReplicas") or 0, type="integer",
                   description="The number of ready replicas."),
            registry.AGE_COLUMN,
            Column("Containers", lambda o: containers_cell(dig(o, "spec", "template")), priority=1,
                   description="The names of the template's containers."),
            Column("Images", lambda o: images_cell(dig(o, "spec", "template")), priority=1,
                   description="The images of the template's containers."),
            Column("Selector", lambda o: _selector_string(dig(o, "spec", "selector")), priority=1,
                   description="The labels of the pods the controller manages."),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"status.replicas": str(dig(obj, "status", "replicas") or 0)}


def _nonneg_int(value: Any, path: str) -> FieldErrors:
    if value is None:
        return []
    if not validation.is_int(value):
        return [errors.type_invalid(path, value, "must be an integer")]
    return validation.validate_nonnegative(value, path)


def validate_replicated_template(template: Any, selector: Any, path: str, *, kind: str) -> FieldErrors:
    """A template of a controller that keeps pods running: selector must match, restartPolicy Always."""
    if not isinstance(template, dict):
        return [errors.type_invalid(path, template, "must be an object")]
    errs: FieldErrors = []
    tlabels = dig(template, "metadata", "labels") or {}
    if isinstance(selector, dict) and selector and isinstance(tlabels, dict) and any(
        tlabels.get(k) != v for k, v in selector.items()
    ):
        errs.append(errors.invalid_value(f"{path}.metadata.labels", tlabels,
                                         "`selector` does not match template `labels`"))
    errs += pod.validate_pod_template(template, path)
    spec = _as_dict(template.get("spec"))
    rp = spec.get("restartPolicy")
    if rp and rp != "Always":
        errs.append(errors.not_supported(f"{path}.spec.restartPolicy", rp, ["Always"]))
    if spec.get("activeDeadlineSeconds") is not None:
        errs.append(errors.forbidden(f"{path}.spec.activeDeadlineSeconds",
                                     f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def containers_cell(template: Any) -> str:
    return ",".join(str(c.get("name", "")) for c in _dicts(dig(template, "spec", "containers")))


def images_cell(template: Any) -> str:
    return ",".join(str(c.get("image", "")) for c in _dicts(dig(template, "spec", "containers")))


def _rc_scale_selector(obj: Obj) -> str:
    sel = dig(obj, "spec", "selector")
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if isinstance(sel, dict) else ""


# ================================================================== pod templates


class PodTemplateStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        template = obj.get("template")
        if isinstance(template, dict):
            pod.default_pod_template(template)

    def validate(self, obj: Obj) -> FieldErrors:
        return pod.validate_pod_template(obj.get("template"), "template")

    def columns(self) -> list[Column]:
        return [
            Column("Template", lambda o: dig(o, "metadata", "name") or "", format="name",
                   description="The name of the pod template."),
            Column("Containers", lambda o: containers_cell(o.get("template")),
                   description="The names of the template's containers."),
            Column("Images", lambda o: images_cell(o.get("template")),
                   description="The images of the template's containers."),
            Column("Pod Labels", lambda o: _selector_string(dig(o, "template", "metadata", "labels")),
                   description="The labels the template's pods get."),
        ]


# ======================================================================= the table


def _core(kind: str, plural: str, strategy: registry.Strategy, **kw: Any) -> registry.Resource:
    kw.setdefault("namespaced", True)
    return registry.Resource(group="", version="v1", kind=kind, plural=plural, strategy=strategy,
                             schema=f"io.k8s.api.core.v1.{kind}", **kw)


_NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

RESOURCES: list[registry.Resource] = [
    _core("Pod", "pods", PodStrategy(), short_names=("po",), categories=("all",),
          subresources=("binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers")),
    service.RESOURCE,
    _core("Endpoints", "endpoints", EndpointsStrategy(), short_names=("ep",), singular="endpoints"),
    _core("ConfigMap", "configmaps", ConfigMapStrategy(), short_names=("cm",)),
    _core("Secret", "secrets", SecretStrategy()),
    _core("ServiceAccount", "serviceaccounts", ServiceAccountStrategy(), short_names=("sa",)),
    _core("Event", "events", EventStrategy(), short_names=("ev",)),
    _core("Namespace", "namespaces", NamespaceStrategy(), namespaced=False, short_names=("ns",),
          verbs=_NO_DELETECOLLECTION),
    _core("Node", "nodes", NodeStrategy(), namespaced=False, short_names=("no",)),
    _core("PersistentVolume", "persistentvolumes", PersistentVolumeStrategy(), namespaced=False,
          short_names=("pv",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", PersistentVolumeClaimStrategy(),
          short_names=("pvc",)),
    _core("LimitRange", "limitranges", LimitRangeStrategy(), short_names=("limits",)),
    _core("ResourceQuota", "resourcequotas", ResourceQuotaStrategy(), short_names=("quota",)),
    _core("ReplicationController", "replicationcontrollers", ReplicationControllerStrategy(),
          short_names=("rc",), categories=("all",), subresources=("scale",),
          scale=registry.ScaleSpec(selector=_rc_scale_selector)),
    _core("PodTemplate", "podtemplates", PodTemplateStrategy()),
]
