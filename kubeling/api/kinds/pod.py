"""Pod specs and pod templates: defaulting and validation.

Shared by every kind that embeds a pod template (ReplicationController,
Deployment, Job ...). The public entry points:

* :func:`default_pod_spec` / :func:`default_pod_template` fill defaults in
  place, idempotently, as upstream's ``SetDefaults_PodSpec`` and friends do.
  Defaults that upstream applies only to Pod objects (requests from limits,
  ``enableServiceLinks``, host-network ports) are in :func:`default_pod_only`,
  so templates stored in Deployments look as they do upstream.
* :func:`validate_pod_spec` / :func:`validate_pod_template` return every field
  error, with full paths under the ``path`` they are given.

The Pod kind itself (status, update rules, table, field selectors) is in
:mod:`kubeling.api.kinds.core`.
"""

from __future__ import annotations

import ipaddress
import posixpath
from typing import Any

from kubeling.api import errors, validation

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
TAINT_EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"]
MOUNT_PROPAGATIONS = ["Bidirectional", "HostToContainer", "None"]
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]
STORAGE_MEDIA = ["", "HugePages", "Memory"]
DEFAULT_FILE_MODE = 0o644  # 420: what configMap/secret/projected volumes write files with
MAX_FILE_MODE = 0o777
FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"

#: Volume sources a Volume may carry; exactly one per volume.
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")

# Pod fields a container's env may read through fieldRef (downward API).
_ENV_FIELD_PATHS = [
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
]
_VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                       "metadata.uid"]
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _dicts(value: Any) -> list[Obj]:
    """The dict items of a list-valued field; anything else counts as empty."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---- defaulting ----------------------------------------------------------------


def _image_tag(image: str) -> str:
    """The tag of an image reference (``""`` when absent; digests count as a tag)."""
    if "@" in image:
        return "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")
    grpc = handler.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


def default_container(c: Obj) -> None:
    """Defaults of one container (regular, init or ephemeral)."""
    image = c.get("image")
    if not c.get("imagePullPolicy") and isinstance(image, str):
        c["imagePullPolicy"] = "IfNotPresent" if _image_tag(image) not in ("", "latest") else "Always"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("resources") is None:
        c["resources"] = {}
    for port in _dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in _dicts(c.get("env")):
        vf = env.get("valueFrom")
        if isinstance(vf, dict):
            _default_field_ref(vf.get("fieldRef"))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(name))
    lc = c.get("lifecycle")
    if isinstance(lc, dict):
        _default_handler(lc.get("postStart"))
        _default_handler(lc.get("preStop"))


def _default_mode(src: Any) -> None:
    if isinstance(src, dict):
        src.setdefault("defaultMode", DEFAULT_FILE_MODE)


def default_volume(v: Obj) -> None:
    if not any(k in v for k in VOLUME_SOURCES):
        v["emptyDir"] = {}
    for key in ("configMap", "secret", "downwardAPI", "projected"):
        _default_mode(v.get(key))
    dapi = v.get("downwardAPI")
    if isinstance(dapi, dict):
        for item in _dicts(dapi.get("items")):
            _default_field_ref(item.get("fieldRef"))
    proj = v.get("projected")
    if isinstance(proj, dict):
        for src in _dicts(proj.get("sources")):
            sat = src.get("serviceAccountToken")
            if isinstance(sat, dict):
                sat.setdefault("expirationSeconds", 3600)
            dapi = src.get("downwardAPI")
            if isinstance(dapi, dict):
                for item in _dicts(dapi.get("items")):
                    _default_field_ref(item.get("fieldRef"))
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        hp.setdefault("type", "")
    iscsi = v.get("iscsi")
    if isinstance(iscsi, dict):
        iscsi.setdefault("iscsiInterface", "default")
    rbd = v.get("rbd")
    if isinstance(rbd, dict):
        rbd.setdefault("pool", "rbd")
        rbd.setdefault("user", "admin")
        rbd.setdefault("keyring", "/etc/ceph/keyring")
    ad = v.get("azureDisk")
    if isinstance(ad, dict):
        ad.setdefault("cachingMode", "ReadWrite")
        ad.setdefault("fsType", "ext4")
        ad.setdefault("readOnly", False)
        ad.setdefault("kind", "Shared")
    eph = v.get("ephemeral")
    if isinstance(eph, dict):
        tmpl = eph.get("volumeClaimTemplate")
        if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
            tmpl["spec"].setdefault("volumeMode", "Filesystem")


def default_pod_spec(spec: Obj) -> None:
    """Defaults every PodSpec gets, wherever it is embedded."""
    if not isinstance(spec, dict):
        return
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    # serviceAccount is the deprecated alias of serviceAccountName; keep them in step
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    elif spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            default_container(c)
    for v in _dicts(spec.get("volumes")):
        default_volume(v)


def default_pod_only(spec: Obj) -> None:
    """Defaults upstream applies to Pod objects only (not to templates)."""
    if not isinstance(spec, dict):
        return
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    for key in ("initContainers", "containers"):
        for c in _dicts(spec.get(key)):
            res = c.get("resources")
            if not isinstance(res, dict):
                continue
            limits = res.get("limits")
            if isinstance(limits, dict) and limits:
                requests = res.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, q in limits.items():
                        requests.setdefault(name, q)
            if spec.get("hostNetwork"):
                for port in _dicts(c.get("ports")):
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]


def default_pod_template(template: Obj) -> None:
    if not isinstance(template, dict):
        return
    spec = template.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)


# ---- validation helpers ----------------------------------------------------------


def _str_errs(value: Any, path: str, check: Any, *, required: bool = True) -> FieldErrors:
    return validation.validate_str_with(value, path, check, required=required)


def _nonneg_int(value: Any, path: str) -> FieldErrors:
    if value is None:
        return []
    if not validation.is_int(value):
        return [errors.type_invalid(path, value, "must be an integer")]
    return validation.validate_nonnegative(value, path)


def _port_num_or_name(value: Any, path: str) -> FieldErrors:
    if validation.is_int(value):
        return [errors.invalid_value(path, value, m) for m in validation.port_number(value)]
    if isinstance(value, str) and value:
        if value.isdigit():
            return [errors.invalid_value(path, value, m) for m in validation.port_number(int(value))]
        return [errors.invalid_value(path, value, m) for m in validation.port_name(value)]
    if value is None or value == "":
        return [errors.required(path, "")]
    return [errors.invalid_value(path, value, "must contain an int or a string")]


def _relative_path(value: Any, path: str) -> FieldErrors:
    """A path that stays inside the directory it is joined to."""
    if not isinstance(value, str):
        return [errors.type_invalid(path, value, "must be a string")]
    errs = []
    if posixpath.isabs(value):
        errs.append(errors.invalid_value(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        errs.append(errors.invalid_value(path, value, "must not contain '..'"))
    return errs


def _one_of(obj: Obj, keys: tuple[str, ...], path: str, *, what: str, missing: str) -> FieldErrors:
    """Exactly one of ``keys`` is set: Required at ``path`` if none, Forbidden on the extras."""
    present = [k for k in keys if obj.get(k) is not None]
    if not present:
        return [errors.required(path, missing)]
    return [errors.forbidden(f"{path}.{k}", f"may not specify more than 1 {what}") for k in present[1:]]


def _validate_handler(h: Any, path: str, keys: tuple[str, ...]) -> FieldErrors:
    if not isinstance(h, dict):
        return [errors.type_invalid(path, h, "must be an object")]
    errs = _one_of(h, keys, path, what="handler type", missing="must specify a handler type")
    ex = h.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        errs.append(errors.required(f"{path}.exec.command", ""))
    http = h.get("httpGet")
    if isinstance(http, dict):
        errs += _port_num_or_name(http.get("port"), f"{path}.httpGet.port")
        if not http.get("path"):
            errs.append(errors.required(f"{path}.httpGet.path", ""))
        errs += validation.validate_enum(http.get("scheme"), f"{path}.httpGet.scheme", ["HTTP", "HTTPS"])
        for i, hdr in enumerate(_dicts(http.get("httpHeaders"))):
            if not hdr.get("name"):
                errs.append(errors.required(f"{path}.httpGet.httpHeaders[{i}].name", ""))
    tcp = h.get("tcpSocket")
    if isinstance(tcp, dict):
        errs += _port_num_or_name(tcp.get("port"), f"{path}.tcpSocket.port")
    grpc = h.get("grpc")
    if isinstance(grpc, dict):
        errs += [errors.invalid_value(f"{path}.grpc.port", grpc.get("port"), m)
                 for m in validation.port_number(grpc.get("port"))]
    sleep = h.get("sleep")
    if isinstance(sleep, dict):
        errs += _nonneg_int(sleep.get("seconds"), f"{path}.sleep.seconds")
    return errs


def _validate_probe(probe: Any, path: str, *, kind: str) -> FieldErrors:
    if probe is None:
        return []
    if not isinstance(probe, dict):
        return [errors.type_invalid(path, probe, "must be an object")]
    errs = _validate_handler(probe, path, PROBE_HANDLERS)
    for k in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += _nonneg_int(probe.get(k), f"{path}.{k}")
    if kind in ("livenessProbe", "startupProbe") and probe.get("successThreshold") not in (None, 1):
        errs.append(errors.invalid_value(f"{path}.successThreshold", probe["successThreshold"], "must be 1"))
    tgps = probe.get("terminationGracePeriodSeconds")
    if tgps is not None:
        if kind == "readinessProbe":
            errs.append(errors.invalid_value(
                f"{path}.terminationGracePeriodSeconds", tgps, "must not be set for readinessProbes"))
        else:
            errs += validation.validate_positive(tgps, f"{path}.terminationGracePeriodSeconds")
    return errs


def _validate_resources(res: Any, path: str) -> FieldErrors:
    if res is None:
        return []
    if not isinstance(res, dict):
        return [errors.type_invalid(path, res, "must be an object")]
    errs: FieldErrors = []
    parsed: dict[str, dict[str, Any]] = {}
    for part in ("limits", "requests"):
        values = res.get(part)
        if values is None:
            continue
        if not isinstance(values, dict):
            errs.append(errors.type_invalid(f"{path}.{part}", values, "must be a map of resource quantities"))
            continue
        parsed[part] = {}
        for name, q in values.items():
            p = f"{path}.{part}[{name}]"
            errs += validate_resource_name(name, p)
            qerrs = validation.validate_quantity(q, p)
            errs += qerrs
            if not qerrs:
                parsed[part][name] = validation.quantity_value(q)
    limits, requests = parsed.get("limits", {}), parsed.get("requests", {})
    for name, req in requests.items():
        lim = limits.get(name)
        if lim is not None and req > lim:
            errs.append(errors.invalid_value(
                f"{path}.requests[{name}]", res["requests"][name],
                f"must be less than or equal to {name} limit of {res['limits'][name]}"))
        elif "/" in name and "kubernetes.io/" not in name and lim is not None and req != lim:
            errs.append(errors.invalid_value(
                f"{path}.requests[{name}]", res["requests"][name],
                f"must be equal to {name} limit of {res['limits'][name]}"))
    return errs


def validate_resource_name(name: Any, path: str) -> FieldErrors:
    """Container resources: standard names, hugepages-*, or fully qualified extended ones."""
    if not isinstance(name, str):
        return [errors.type_invalid(path, name, "must be a string")]
    msgs = validation.qualified_name(name)
    if msgs:
        return [errors.invalid_value(path, name, m) for m in msgs]
    if "/" not in name and name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        return [errors.invalid_value(path, name, "must be a standard resource for containers")]
    return []


def _validate_env(env: Any, path: str) -> FieldErrors:
    errs: FieldErrors = []
    for i, e in enumerate(_dicts(env)):
        p = f"{path}[{i}]"
        errs += _str_errs(e.get("name"), f"{p}.name", validation.env_var_name)
        vf = e.get("valueFrom")
        if vf is None:
            continue
        if not isinstance(vf, dict):
            errs.append(errors.type_invalid(f"{p}.valueFrom", vf, "must be an object"))
            continue
        srcs = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if vf.get(k)]
        if not srcs:
            errs.append(errors.invalid_value(
                f"{p}.valueFrom", "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        elif len(srcs) > 1:
            errs.append(errors.invalid_value(
                f"{p}.valueFrom", "", "may not have more than one field specified at a time"))
        if e.get("value"):
            errs.append(errors.invalid_value(
                f"{p}.valueFrom", "", "may not be specified when `value` is not empty"))
        fr = vf.get("fieldRef")
        if isinstance(fr, dict):
            errs += _validate_field_ref(fr, f"{p}.valueFrom.fieldRef", _ENV_FIELD_PATHS)
        rfr = vf.get("resourceFieldRef")
        if isinstance(rfr, dict) and not rfr.get("resource"):
            errs.append(errors.required(f"{p}.valueFrom.resourceFieldRef.resource", ""))
        for ref in ("configMapKeyRef", "secretKeyRef"):
            kr = vf.get(ref)
            if isinstance(kr, dict):
                errs += _str_errs(kr.get("key"), f"{p}.valueFrom.{ref}.key", validation.config_map_key)
    return errs


def _validate_field_ref(fr: Obj, path: str, allowed: list[str]) -> FieldErrors:
    fp = fr.get("fieldPath")
    if not fp:
        return [errors.required(f"{path}.fieldPath", "")]
    if not fr.get("apiVersion"):
        return [errors.required(f"{path}.apiVersion", "")]
    if fr["apiVersion"] != "v1":
        return [errors.not_supported(f"{path}.apiVersion", fr["apiVersion"], ["v1"])]
    if isinstance(fp, str) and fp.startswith(("metadata.labels['", "metadata.annotations['")):
        if fp.endswith("']"):
            key = fp.split("['", 1)[1][:-2]
            return [errors.invalid_value(f"{path}.fieldPath", key, m) for m in validation.qualified_name(key)]
        return [errors.invalid_value(f"{path}.fieldPath", fp, "error converting fieldPath: invalid subscript")]
    if fp not in allowed:
        return [errors.not_supported(f"{path}.fieldPath", fp, allowed)]
    return []


def _validate_ports(ports: Any, path: str, *, host_network: bool) -> FieldErrors:
    errs: FieldErrors = []
    names: set[str] = set()
    for i, port in enumerate(_dicts(ports)):
        p = f"{path}[{i}]"
        name = port.get("name")
        if name:
            if not isinstance(name, str):
                errs.append(errors.type_invalid(f"{p}.name", name, "must be a string"))
            else:
                errs += [errors.invalid_value(f"{p}.name", name, m) for m in validation.port_name(name)]
                if name in names:
                    errs.append(errors.duplicate(f"{p}.name", name))
                names.add(name)
        cp = port.get("containerPort")
        if not cp:
            errs.append(errors.required(f"{p}.containerPort", ""))
        else:
            errs += [errors.invalid_value(f"{p}.containerPort", cp, m) for m in validation.port_number(cp)]
        hp = port.get("hostPort")
        if hp:
            errs += [errors.invalid_value(f"{p}.hostPort", hp, m) for m in validation.port_number(hp)]
            if host_network and cp and hp != cp:
                errs.append(errors.invalid_value(
                    f"{p}.containerPort", cp, "must match `hostPort` when `hostNetwork` is true"))
        errs += validation.validate_enum(port.get("protocol"), f"{p}.protocol", PROTOCOLS, required=True)
        if port.get("hostIP"):
            errs += _ip(port["hostIP"], f"{p}.hostIP")
    return errs


def _ip(value: Any, path: str) -> FieldErrors:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return [errors.invalid_value(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def _validate_container(
    c: Obj, path: str, *, volumes: set[str], kind: str, host_network: bool
) -> FieldErrors:
    """One container; ``kind`` is containers, initContainers or ephemeralContainers."""
    errs: FieldErrors = []
    image = c.get("image")
    if not image:
        errs.append(errors.required(f"{path}.image", ""))
    elif not isinstance(image, str):
        errs.append(errors.type_invalid(f"{path}.image", image, "must be a string"))
    elif image != image.strip():
        errs.append(errors.invalid_value(f"{path}.image", image, "must not have leading or trailing whitespace"))
    errs += validation.validate_enum(c.get("imagePullPolicy"), f"{path}.imagePullPolicy", PULL_POLICIES,
                                     required=True)
    errs += validation.validate_enum(c.get("terminationMessagePolicy"), f"{path}.terminationMessagePolicy",
                                     TERMINATION_MESSAGE_POLICIES, required=True)
    errs += _validate_ports(c.get("ports"), f"{path}.ports", host_network=host_network)
    errs += _validate_env(c.get("env"), f"{path}.env")
    for i, ef in enumerate(_dicts(c.get("envFrom"))):
        p = f"{path}.envFrom[{i}]"
        if ef.get("prefix"):
            errs += _str_errs(ef["prefix"], f"{p}.prefix", validation.env_var_name)
        refs = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        if not refs:
            errs.append(errors.invalid_value(p, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(errors.invalid_value(p, "", "may not have more than one field specified at a time"))
        for r in refs:
            name = (ef.get(r) or {}).get("name")
            errs += _str_errs(name, f"{p}.{r}.name", validation.dns1123_subdomain)
    errs += _validate_mounts(c.get("volumeMounts"), f"{path}.volumeMounts", volumes)
    errs += _validate_resources(c.get("resources"), f"{path}.resources")
    restartable = kind == "initContainers" and c.get("restartPolicy") == "Always"
    if c.get("restartPolicy") is not None:
        if kind != "initContainers":
            errs.append(errors.forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
        else:
            errs += validation.validate_enum(c["restartPolicy"], f"{path}.restartPolicy", ["Always"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe) is None:
            continue
        if kind == "ephemeralContainers" or (kind == "initContainers" and not restartable):
            errs.append(errors.forbidden(
                f"{path}.{probe}", "may not be set for init containers without restartPolicy=Always"
                if kind == "initContainers" else "cannot be set for an Ephemeral Container"))
        else:
            errs += _validate_probe(c[probe], f"{path}.{probe}", kind=probe)
    lc = c.get("lifecycle")
    if lc is not None:
        if kind == "ephemeralContainers" or (kind == "initContainers" and not restartable):
            errs.append(errors.forbidden(
                f"{path}.lifecycle", "may not be set for init containers without restartPolicy=Always"
                if kind == "initContainers" else "cannot be set for an Ephemeral Container"))
        elif isinstance(lc, dict):
            for hook in ("postStart", "preStop"):
                if lc.get(hook) is not None:
                    errs += _validate_handler(lc[hook], f"{path}.lifecycle.{hook}", LIFECYCLE_HANDLERS)
    return errs


def _validate_mounts(mounts: Any, path: str, volumes: set[str]) -> FieldErrors:
    errs: FieldErrors = []
    seen: set[str] = set()
    for i, m in enumerate(_dicts(mounts)):
        p = f"{path}[{i}]"
        name = m.get("name")
        if not name:
            errs.append(errors.required(f"{p}.name", ""))
        elif name not in volumes:
            errs.append(errors.not_found(f"{p}.name", name))
        mp = m.get("mountPath")
        if not mp:
            errs.append(errors.required(f"{p}.mountPath", ""))
        elif mp in seen:
            errs.append(errors.invalid_value(f"{p}.mountPath", mp, "must be unique"))
        else:
            seen.add(mp)
        if m.get("subPath"):
            errs += _relative_path(m["subPath"], f"{p}.subPath")
        if m.get("subPath") and m.get("subPathExpr"):
            errs.append(errors.invalid_value(
                f"{p}.subPathExpr", m["subPathExpr"], "subPathExpr and subPath are mutually exclusive"))
        errs += validation.validate_enum(m.get("mountPropagation"), f"{p}.mountPropagation", MOUNT_PROPAGATIONS)
    return errs


def _validate_mode(mode: Any, path: str) -> FieldErrors:
    if mode is None:
        return []
    if not validation.is_int(mode) or not 0 <= mode <= MAX_FILE_MODE:
        return [errors.invalid_value(path, mode, FILE_MODE_MSG)]
    return []


def _validate_key_items(items: Any, path: str) -> FieldErrors:
    errs: FieldErrors = []
    for i, it in enumerate(_dicts(items)):
        p = f"{path}[{i}]"
        errs += _str_errs(it.get("key"), f"{p}.key", validation.config_map_key)
        if not it.get("path"):
            errs.append(errors.required(f"{p}.path", ""))
        else:
            errs += _relative_path(it["path"], f"{p}.path")
        errs += _validate_mode(it.get("mode"), f"{p}.mode")
    return errs


def validate_volume_source(v: Obj, path: str) -> FieldErrors:
    """The one source of a volume (path is the volume's own path)."""
    errs = _one_of(v, VOLUME_SOURCES, path, what="volume type", missing="must specify a volume type")
    cm = v.get("configMap")
    if isinstance(cm, dict):
        errs += _str_errs(cm.get("name"), f"{path}.configMap.name", validation.dns1123_subdomain)
        errs += _validate_mode(cm.get("defaultMode"), f"{path}.configMap.defaultMode")
        errs += _validate_key_items(cm.get("items"), f"{path}.configMap.items")
    sec = v.get("secret")
    if isinstance(sec, dict):
        errs += _str_errs(sec.get("secretName"), f"{path}.secret.secretName", validation.dns1123_subdomain)
        errs += _validate_mode(sec.get("defaultMode"), f"{path}.secret.defaultMode")
        errs += _validate_key_items(sec.get("items"), f"{path}.secret.items")
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        if not hp.get("path"):
            errs.append(errors.required(f"{path}.hostPath.path", ""))
        elif ".." in str(hp["path"]).split("/"):
            errs.append(errors.invalid_value(f"{path}.hostPath.path", hp["path"], "must not contain '..'"))
        if hp.get("type") not in HOST_PATH_TYPES:
            errs.append(errors.not_supported(f"{path}.hostPath.type", hp.get("type"), HOST_PATH_TYPES))
    ed = v.get("emptyDir")
    if isinstance(ed, dict):
        if ed.get("medium", "") not in STORAGE_MEDIA:
            errs.append(errors.not_supported(f"{path}.emptyDir.medium", ed.get("medium"), STORAGE_MEDIA))
        errs += validation.validate_quantity(ed.get("sizeLimit"), f"{path}.emptyDir.sizeLimit")
    pvc = v.get("persistentVolumeClaim")
    if isinstance(pvc, dict) and not pvc.get("claimName"):
        errs.append(errors.required(f"{path}.persistentVolumeClaim.claimName", ""))
    dapi = v.get("downwardAPI")
    if isinstance(dapi, dict):
        errs += _validate_mode(dapi.get("defaultMode"), f"{path}.downwardAPI.defaultMode")
        errs += _validate_downward_items(dapi.get("items"), f"{path}.downwardAPI.items")
    proj = v.get("projected")
    if isinstance(proj, dict):
        errs += _validate_mode(proj.get("defaultMode"), f"{path}.projected.defaultMode")
        for i, src in enumerate(_dicts(proj.get("sources"))):
            p = f"{path}.projected.sources[{i}]"
            kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken",
                                 "clusterTrustBundle") if src.get(k) is not None]
            if len(kinds) > 1:
                errs += [errors.forbidden(f"{p}.{k}", "may not specify more than 1 volume type")
                         for k in kinds[1:]]
            for k in ("secret", "configMap"):
                if isinstance(src.get(k), dict):
                    errs += _validate_key_items(src[k].get("items"), f"{p}.{k}.items")
            if isinstance(src.get("downwardAPI"), dict):
                errs += _validate_downward_items(src["downwardAPI"].get("items"), f"{p}.downwardAPI.items")
            sat = src.get("serviceAccountToken")
            if isinstance(sat, dict):
                if not sat.get("path"):
                    errs.append(errors.required(f"{p}.serviceAccountToken.path", ""))
                exp = sat.get("expirationSeconds")
                if validation.is_int(exp) and exp < 600:
                    errs.append(errors.invalid_value(f"{p}.serviceAccountToken.expirationSeconds", exp,
                                                     "may not specify a duration less than 10 minutes"))
    nfs = v.get("nfs")
    if isinstance(nfs, dict):
        if not nfs.get("server"):
            errs.append(errors.required(f"{path}.nfs.server", ""))
        if not nfs.get("path"):
            errs.append(errors.required(f"{path}.nfs.path", ""))
    csi = v.get("csi")
    if isinstance(csi, dict) and not csi.get("driver"):
        errs.append(errors.required(f"{path}.csi.driver", ""))
    return errs


def _validate_downward_items(items: Any, path: str) -> FieldErrors:
    errs: FieldErrors = []
    for i, it in enumerate(_dicts(items)):
        p = f"{path}[{i}]"
        if not it.get("path"):
            errs.append(errors.required(f"{p}.path", ""))
        else:
            errs += _relative_path(it["path"], f"{p}.path")
        errs += _validate_mode(it.get("mode"), f"{p}.mode")
        fr = it.get("fieldRef")
        if isinstance(fr, dict):
            errs += _validate_field_ref(fr, f"{p}.fieldRef", _VOLUME_FIELD_PATHS)
    return errs


def _validate_tolerations(tols: Any, path: str) -> FieldErrors:
    errs: FieldErrors = []
    for i, t in enumerate(_dicts(tols)):
        p = f"{path}[{i}]"
        key = t.get("key") or ""
        op = t.get("operator") or "Equal"
        if key:
            errs += _str_errs(key, f"{p}.key", validation.qualified_name)
        elif op != "Exists":
            errs.append(errors.invalid_value(
                f"{p}.operator", op,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            errs.append(errors.invalid_value(
                f"{p}.effect", t.get("effect") or "", "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op == "Equal":
            errs += _str_errs(t.get("value"), f"{p}.value", validation.label_value, required=False)
        elif op == "Exists":
            if t.get("value"):
                errs.append(errors.invalid_value(
                    f"{p}.operator", t["value"], "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(errors.not_supported(f"{p}.operator", op, TOLERATION_OPERATORS))
        errs += validation.validate_enum(t.get("effect"), f"{p}.effect", TAINT_EFFECTS)
    return errs


def _validate_dns(spec: Obj, path: str) -> FieldErrors:
    policy = spec.get("dnsPolicy")
    errs = validation.validate_enum(policy, f"{path}.dnsPolicy", DNS_POLICIES, required=True)
    cfg = spec.get("dnsConfig")
    if policy == "None" and not isinstance(cfg, dict):
        errs.append(errors.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    if isinstance(cfg, dict):
        ns = cfg.get("nameservers") or []
        if len(ns) > 3:
            errs.append(errors.invalid_value(f"{path}.dnsConfig.nameservers", ns,
                                             "must not have more than 3 nameservers"))
        for i, n in enumerate(ns):
            errs += _ip(n, f"{path}.dnsConfig.nameservers[{i}]")
        if policy == "None" and not ns:
            errs.append(errors.required(f"{path}.dnsConfig.nameservers",
                                        "must provide at least one DNS nameserver when `dnsPolicy` is None"))
        searches = cfg.get("searches") or []
        if len(searches) > 32:
            errs.append(errors.invalid_value(f"{path}.dnsConfig.searches", searches,
                                             "must not have more than 32 search paths"))
        for i, opt in enumerate(_dicts(cfg.get("options"))):
            if not opt.get("name"):
                errs.append(errors.required(f"{path}.dnsConfig.options[{i}]", "Option.Name must not be empty"))
    return errs


def validate_pod_spec(spec: Any, path: str) -> FieldErrors:
    """Every error in a PodSpec; ``path`` is where it sits (``spec``, ``spec.template.spec``)."""
    if not isinstance(spec, dict):
        return [errors.required(path, "")] if spec is None else [
            errors.type_invalid(path, spec, "must be an object")]
    errs: FieldErrors = []
    host_network = bool(spec.get("hostNetwork"))

    # volumes: unique DNS-1123 label names, one source each
    volumes: set[str] = set()
    for i, v in enumerate(_dicts(spec.get("volumes"))):
        p = f"{path}.volumes[{i}]"
        name = v.get("name")
        if not name:
            errs.append(errors.required(f"{p}.name", ""))
        else:
            errs += _str_errs(name, f"{p}.name", validation.dns1123_label)
            if name in volumes:
                errs.append(errors.duplicate(f"{p}.name", name))
            volumes.add(name)
        errs += validate_volume_source(v, p)

    # containers: required; names unique across every container list
    containers = spec.get("containers")
    if not containers:
        errs.append(errors.required(f"{path}.containers", ""))
    names: set[str] = set()
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(_dicts(spec.get(kind))):
            p = f"{path}.{kind}[{i}]"
            name = c.get("name")
            if not name:
                errs.append(errors.required(f"{p}.name", ""))
            else:
                errs += _str_errs(name, f"{p}.name", validation.dns1123_label)
                if name in names:
                    errs.append(errors.duplicate(f"{p}.name", name))
                names.add(name)
            errs += _validate_container(c, p, volumes=volumes, kind=kind, host_network=host_network)
    errs += _unique_host_ports(spec, path)

    errs += validation.validate_enum(spec.get("restartPolicy"), f"{path}.restartPolicy", RESTART_POLICIES,
                                     required=True)
    errs += _validate_dns(spec, path)
    errs += validation.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    tgps = spec.get("terminationGracePeriodSeconds")
    if tgps is not None:
        errs += _nonneg_int(tgps, f"{path}.terminationGracePeriodSeconds")
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not validation.is_int(ads) or not 1 <= ads <= 2**31 - 1):
        errs.append(errors.invalid_value(f"{path}.activeDeadlineSeconds", ads,
                                         "must be between 1 and 2147483647, inclusive"))
    for key, check in (
        ("serviceAccountName", validation.dns1123_subdomain),
        ("nodeName", validation.dns1123_subdomain),
        ("hostname", validation.dns1123_label),
        ("subdomain", validation.dns1123_label),
        ("priorityClassName", validation.dns1123_subdomain),
        ("runtimeClassName", validation.dns1123_subdomain),
    ):
        if spec.get(key):
            errs += _str_errs(spec[key], f"{path}.{key}", check)
    errs += _validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    if spec.get("overhead") is not None:
        # Checked as container limits, so errors sit under overhead.limits[...] as upstream reports them.
        errs += _validate_resources({"limits": spec["overhead"]}, f"{path}.overhead")
    for i, ha in enumerate(_dicts(spec.get("hostAliases"))):
        errs += _ip(ha.get("ip"), f"{path}.hostAliases[{i}].ip")
    for i, rg in enumerate(_dicts(spec.get("readinessGates"))):
        errs += _str_errs(rg.get("conditionType"), f"{path}.readinessGates[{i}].conditionType",
                          validation.qualified_name)
    for i, tsc in enumerate(_dicts(spec.get("topologySpreadConstraints"))):
        p = f"{path}.topologySpreadConstraints[{i}]"
        skew = tsc.get("maxSkew")
        if not validation.is_int(skew) or skew <= 0:
            errs.append(errors.invalid_value(f"{p}.maxSkew", skew, "must be greater than zero"))
        if not tsc.get("topologyKey"):
            errs.append(errors.required(f"{p}.topologyKey", "can not be empty"))
        errs += validation.validate_enum(tsc.get("whenUnsatisfiable"), f"{p}.whenUnsatisfiable",
                                         ["DoNotSchedule", "ScheduleAnyway"], required=True)
    sc = spec.get("securityContext")
    if isinstance(sc, dict):
        for k in ("runAsUser", "runAsGroup", "fsGroup"):
            errs += _nonneg_int(sc.get(k), f"{path}.securityContext.{k}")
        for i, g in enumerate(sc.get("supplementalGroups") or []):
            errs += _nonneg_int(g, f"{path}.securityContext.supplementalGroups[{i}]")
        errs += validation.validate_sysctls(sc.get("sysctls"), f"{path}.securityContext.sysctls",
                                            host_network=host_network, host_ipc=bool(spec.get("hostIPC")))
    if host_network and spec.get("hostUsers") is False:
        errs.append(errors.forbidden(f"{path}.hostUsers", "when `hostUsers` is false, `hostNetwork` must be false"))
    return errs


def _unique_host_ports(spec: Obj, path: str) -> FieldErrors:
    """No two containers may claim the same host port/protocol/IP."""
    errs: FieldErrors = []
    seen: set[tuple[Any, ...]] = set()
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(_dicts(spec.get(kind))):
            for j, port in enumerate(_dicts(c.get("ports"))):
                hp = port.get("hostPort")
                if not hp:
                    continue
                key = (port.get("protocol") or "TCP", port.get("hostIP") or "", hp)
                if key in seen:
                    errs.append(errors.duplicate(
                        f"{path}.{kind}[{i}].ports[{j}].hostPort", f"{key[0]}/{key[1] or ''}:{hp}"))
                seen.add(key)
    return errs


def validate_pod_template(template: Any, path: str) -> FieldErrors:
    """A PodTemplateSpec (``spec.template``): its labels, annotations and spec."""
    if template is None:
        return [errors.required(path, "")]
    if not isinstance(template, dict):
        return [errors.type_invalid(path, template, "must be an object")]
    md = template.get("metadata") or {}
    errs: FieldErrors = []
    if isinstance(md, dict):
        errs += validation.validate_labels(md.get("labels"), f"{path}.metadata.labels")
        errs += validation.validate_annotations(md.get("annotations"), f"{path}.metadata.annotations")
    errs += validate_pod_spec(template.get("spec"), f"{path}.spec")
    return errs
