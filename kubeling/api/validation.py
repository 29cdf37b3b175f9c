"""Reusable validation rules shared by every kind's strategy.

Two families of helpers, following apimachinery's split:

* string checks (``dns1123_label``, ``qualified_name``, ``label_value`` ...)
  take a value and return a list of human detail messages, empty when the
  value is fine. Callers wrap each message in a :class:`errors.FieldError`
  at the path they know.
* field validators (``validate_labels``, ``validate_quantity`` ...) take a
  value and a field path and return ``errors.FieldError`` values directly.

The messages mean what upstream's messages mean (they name the rule and show
the regular expression used), so clients and tests that match on them keep
working. Nothing here raises on malformed input: a wrong type is reported as
a field error instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard

from kubeling.api import errors
from kubeling.lib import quantity

FieldErrors = list[errors.FieldError]

# ---- string checks -----------------------------------------------------------

_LABEL_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(f"^{_LABEL_FMT}$")
DNS1123_LABEL_MAX = 63

_SUBDOMAIN_FMT = _LABEL_FMT + r"(\." + _LABEL_FMT + r")*"
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN_FMT}$")
DNS1123_SUBDOMAIN_MAX = 253

_QNAME_CHAR_FMT = "[A-Za-z0-9]"
_QNAME_EXT_FMT = "[-A-Za-z0-9_.]"
_QNAME_FMT = f"({_QNAME_CHAR_FMT}{_QNAME_EXT_FMT}*)?{_QNAME_CHAR_FMT}"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
QUALIFIED_NAME_MAX = 63

_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
LABEL_VALUE_MAX = 63

_C_IDENT_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENT_RE = re.compile(f"^{_C_IDENT_FMT}$")

_CONFIG_KEY_FMT = r"[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}$")

_DNS1035_FMT = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_RE = re.compile(f"^{_DNS1035_FMT}$")

_PORT_NAME_CHARS_RE = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER_RE = re.compile(r"[a-z]")

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def _examples(*examples: str) -> str:
    # upstream joins examples with ",  or " (two spaces) inside the parenthesis
    return ",  or ".join(f"'{e}'" for e in examples)


def _regex_msg(what: str, fmt: str, *examples: str) -> str:
    return f"{what} (e.g. {_examples(*examples)}, regex used for validation is '{fmt}')"


def max_len_msg(n: int) -> str:
    return f"must be no more than {n} characters"


def empty_msg() -> str:
    return "must be non-empty"


def dns1123_label(value: str) -> list[str]:
    """An RFC 1123 label: names of namespaces, containers, ports, services."""
    msgs = []
    if len(value) > DNS1123_LABEL_MAX:
        msgs.append(max_len_msg(DNS1123_LABEL_MAX))
    if not _LABEL_RE.match(value):
        msgs.append(
            _regex_msg(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character",
                _LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return msgs


def dns1123_subdomain(value: str) -> list[str]:
    """An RFC 1123 subdomain: the name rule of most kinds."""
    msgs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        msgs.append(max_len_msg(DNS1123_SUBDOMAIN_MAX))
    if not _SUBDOMAIN_RE.match(value):
        msgs.append(
            _regex_msg(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                "or '.', and must start and end with an alphanumeric character",
                _SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return msgs


def dns1035_label(value: str) -> list[str]:
    """An RFC 1035 label (must start with a letter): service names."""
    msgs = []
    if len(value) > DNS1123_LABEL_MAX:
        msgs.append(max_len_msg(DNS1123_LABEL_MAX))
    if not _DNS1035_RE.match(value):
        msgs.append(
            _regex_msg(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                "an alphabetic character, and end with an alphanumeric character",
                _DNS1035_FMT,
                "my-name",
                "abc-123",
            )
        )
    return msgs


def path_segment_name(value: str) -> list[str]:
    """Names that become one URL path segment may not be '.', '..' or hold '/' or '%'."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    msgs = []
    for bad in ("/", "%"):
        if bad in value:
            msgs.append(f"may not contain '{bad}'")
    return msgs


def qualified_name(value: str) -> list[str]:
    """``[prefix/]name``: label keys, annotation keys, finalizers, resource names."""
    msgs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            msgs.append("prefix part " + empty_msg())
        else:
            msgs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            _regex_msg(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character",
                _QNAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        msgs.append("name part " + empty_msg())
    elif len(name) > QUALIFIED_NAME_MAX:
        msgs.append("name part " + max_len_msg(QUALIFIED_NAME_MAX))
    if name and not _QNAME_RE.match(name):
        msgs.append(
            "name part "
            + _regex_msg(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character",
                _QNAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return msgs


def label_value(value: str) -> list[str]:
    msgs = []
    if len(value) > LABEL_VALUE_MAX:
        msgs.append(max_len_msg(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        msgs.append(
            _regex_msg(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                "'.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return msgs


def c_identifier(value: str) -> list[str]:
    if _C_IDENT_RE.match(value):
        return []
    return [
        _regex_msg(
            "a valid C identifier must start with alphabetic character or '_', followed by a string of "
            "alphanumeric characters or '_'",
            _C_IDENT_FMT,
            "my_name",
            "MY_NAME",
            "MyName",
        )
    ]


def env_var_name(value: str) -> list[str]:
    """Environment variable names, with upstream's relaxed rule (on by default
    since 1.32): any printable ASCII except '='."""
    if value and all(32 <= ord(c) <= 126 and c != "=" for c in value):
        return []
    return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]


def config_map_key(value: str) -> list[str]:
    """Keys of ConfigMap/Secret data: they become file names in volumes."""
    msgs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        msgs.append(max_len_msg(DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_KEY_RE.match(value):
        msgs.append(
            _regex_msg(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        msgs.append("must not be '.'")
    elif value == "..":
        msgs.append("must not be '..'")
    elif value.startswith(".."):
        msgs.append("must not start with '..'")
    return msgs


def port_number(n: Any) -> list[str]:
    if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def port_name(value: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 lowercase letters, digits and single inner hyphens."""
    msgs = []
    if len(value) > 15:
        msgs.append(max_len_msg(15))
    if not _PORT_NAME_CHARS_RE.match(value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if value and not _PORT_NAME_LETTER_RE.search(value):
        msgs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        msgs.append("must not begin or end with a hyphen")
    return msgs


# ---- field validators ----------------------------------------------------------


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_str_with(
    value: Any, path: str, check: Any, *, required: bool = True
) -> FieldErrors:
    """Run a string check at ``path``: Required when empty (if ``required``)."""
    if value is None or value == "":
        return [errors.required(path, "")] if required else []
    if not isinstance(value, str):
        return [errors.type_invalid(path, value, "must be a string")]
    return [errors.invalid_value(path, value, m) for m in check(value)]


def validate_labels(labels: Any, path: str) -> FieldErrors:
    """Keys are qualified names, values label values; errors sit at ``path``."""
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [errors.type_invalid(path, labels, "must be a map of string keys to string values")]
    errs: FieldErrors = []
    for k, v in labels.items():
        errs += [errors.invalid_value(path, k, m) for m in qualified_name(k)]
        if not isinstance(v, str):
            errs.append(errors.type_invalid(path, v, "must be a string"))
            continue
        errs += [errors.invalid_value(path, v, m) for m in label_value(v)]
    return errs


def validate_annotations(annotations: Any, path: str) -> FieldErrors:
    """Keys are qualified names (case-insensitively); the whole map fits in 256 KiB."""
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [errors.type_invalid(path, annotations, "must be a map of string keys to string values")]
    errs: FieldErrors = []
    total = 0
    for k, v in annotations.items():
        errs += [errors.invalid_value(path, k, m) for m in qualified_name(k.lower())]
        if not isinstance(v, str):
            errs.append(errors.type_invalid(path, v, "must be a string"))
            v = str(v)
        total += len(k.encode()) + len(v.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(errors.too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str) -> FieldErrors:
    """A metav1.LabelSelector: matchLabels plus matchExpressions."""
    if selector is None:
        return []
    if not isinstance(selector, Mapping):
        return [errors.type_invalid(path, selector, "must be an object")]
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return errs + [errors.type_invalid(f"{path}.matchExpressions", exprs, "must be a list")]
    for i, req in enumerate(exprs):
        p = f"{path}.matchExpressions[{i}]"
        if not isinstance(req, Mapping):
            errs.append(errors.type_invalid(p, req, "must be an object"))
            continue
        op = req.get("operator")
        values = req.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    errors.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    errors.forbidden(
                        f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    )
                )
        else:
            errs.append(errors.invalid_value(f"{p}.operator", op, "not a valid selector operator"))
        key = req.get("key")
        if not isinstance(key, str):
            errs.append(errors.type_invalid(f"{p}.key", key, "must be a string"))
        else:
            errs += [errors.invalid_value(f"{p}.key", key, m) for m in qualified_name(key)]
        for j, v in enumerate(values if isinstance(values, list) else []):
            if isinstance(v, str):
                errs += [errors.invalid_value(f"{p}.values[{j}]", v, m) for m in label_value(v)]
    return errs


def selector_is_empty(selector: Any) -> bool:
    return not isinstance(selector, Mapping) or (
        not selector.get("matchLabels") and not selector.get("matchExpressions")
    )


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a metav1.LabelSelector selects ``labels`` (an empty selector matches all)."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def validate_nonnegative(value: Any, path: str) -> FieldErrors:
    if value is None:
        return []
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return [errors.type_invalid(path, value, "must be a number")]
    if value < 0:
        return [errors.invalid_value(path, value, "must be greater than or equal to 0")]
    return []


def validate_positive(value: Any, path: str) -> FieldErrors:
    if value is None:
        return []
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return [errors.type_invalid(path, value, "must be a number")]
    if value <= 0:
        return [errors.invalid_value(path, value, "must be greater than 0")]
    return []


def validate_immutable(new: Any, old: Any, path: str) -> FieldErrors:
    if new == old:
        return []
    return [errors.invalid_value(path, new, "field is immutable")]


def validate_enum(value: Any, path: str, allowed: list[str], *, required: bool = False) -> FieldErrors:
    if value is None or value == "":
        return [errors.required(path, "")] if required else []
    if value not in allowed:
        return [errors.not_supported(path, value, allowed)]
    return []


# ---- quantities ----------------------------------------------------------------

QUANTITY_REGEX_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

def quantity_value(value: Any) -> Decimal | None:
    """The exact numeric value of a resource quantity (``"500m"`` -> 0.5), None if malformed."""
    if is_int(value) or isinstance(value, float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    try:
        return quantity.parse(value).decimal
    except quantity.QuantityError:
        return None


def validate_quantity(value: Any, path: str, *, nonnegative: bool = True) -> FieldErrors:
    """A resource quantity string (or number); non-negative unless told otherwise."""
    if value is None:
        return []
    q = quantity_value(value)
    if q is None:
        return [errors.invalid_value(path, value, QUANTITY_REGEX_MSG)]
    if nonnegative and q < 0:
        return [errors.invalid_value(path, value, "must be greater than or equal to 0")]
    return []


# ---- sysctls -------------------------------------------------------------------

_SYSCTL_SEGMENT_FMT = r"[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SYSCTL_FMT = rf"^({_SYSCTL_SEGMENT_FMT}[\./])*{_SYSCTL_SEGMENT_FMT}$"
_SYSCTL_RE = re.compile(_SYSCTL_FMT)
SYSCTL_MAX = 253


def sysctl_namespace(name: str) -> str:
    """Which namespace a (namespaced) sysctl belongs to: "net", "ipc" or ""."""
    name = name.replace("/", ".")
    if name.startswith("net."):
        return "net"
    if name.startswith(("kernel.shm", "kernel.msg", "fs.mqueue.")) or name == "kernel.sem":
        return "ipc"
    return ""


def validate_sysctls(sysctls: Any, path: str, *, host_network: bool = False, host_ipc: bool = False) -> FieldErrors:
    """``securityContext.sysctls`` of a pod: names that look like sysctls
    (dots or slashes between lower-case segments), no duplicates, and none of
    a namespace the pod shares with the host."""
    if sysctls is None:
        return []
    if not isinstance(sysctls, list):
        return [errors.type_invalid(path, sysctls, "must be a list")]
    errs: FieldErrors = []
    seen: set[str] = set()
    for i, s in enumerate(sysctls):
        p = f"{path}[{i}].name"
        name = s.get("name") if isinstance(s, dict) else None
        if not name:
            errs.append(errors.required(p, ""))
            continue
        if not isinstance(name, str) or len(name) > SYSCTL_MAX or not _SYSCTL_RE.match(name):
            errs.append(errors.invalid_value(p, name, f"must have at most {SYSCTL_MAX} characters and match "
                                                      f"regex {_SYSCTL_FMT}"))
            continue
        if name in seen:
            errs.append(errors.duplicate(p, name))
        seen.add(name)
        kind = sysctl_namespace(name)
        if kind == "net" and host_network:
            errs.append(errors.invalid_value(p, name, "may not be specified when 'hostNetwork' is true"))
        elif kind == "ipc" and host_ipc:
            errs.append(errors.invalid_value(p, name, "may not be specified when 'hostIPC' is true"))
    return errs
