"""Label selectors with Kubernetes semantics.

Two ways in:

* :func:`parse` reads the string syntax used by ``?labelSelector=`` and
  ``kubectl -l``: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``,
  ``a`` (exists), ``!a`` (does not exist), ``a>1`` / ``a<1`` (integer compare),
  joined by commas (logical AND). Whitespace between tokens is ignored.
* :func:`from_label_selector` reads a ``metav1.LabelSelector`` dict.

Both return a :class:`Selector`. Note the two "empty" cases, which behave
differently on purpose (as upstream): a selector with no requirements
(``parse("")``, ``from_label_selector({})``) matches **everything**, while
``from_label_selector(None)`` returns :data:`NOTHING`, which matches **nothing**
(a controller with no selector must not adopt every pod in the namespace).

Every syntax error, invalid key or invalid value raises :class:`SelectorError`
(a ``ValueError``) whose message names the offending token.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "Requirement",
    "Selector",
    "SelectorError",
    "format_label_selector",
    "from_label_selector",
    "from_set",
    "parse",
    "validate_key",
    "validate_label_selector",
    "validate_value",
]


class SelectorError(ValueError):
    """A selector string or LabelSelector that cannot be understood."""


# --------------------------------------------------------------------------------------------
# key / value syntax (qualified names and label values)
# --------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_PREFIX_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

_QUALIFIED_MSG = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
)


def validate_key(key: str) -> list[str]:
    """Problems with a label key (``[prefix/]name``); empty when it is valid."""
    if key.count("/") > 1:
        return [_QUALIFIED_MSG]
    msgs: list[str] = []
    prefix, sep, name = key.rpartition("/")
    if sep:
        if not prefix:
            msgs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                msgs.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                msgs.append(_PREFIX_MSG)
    if not name:
        msgs.append("name part must be non-empty")
    else:
        if len(name) > 63:
            msgs.append("name part must be no more than 63 characters")
        if not _NAME_RE.match(name):
            msgs.append(_NAME_MSG)
    return msgs


def validate_value(value: str) -> list[str]:
    """Problems with a label value; empty when it is valid (the empty string is valid)."""
    msgs: list[str] = []
    if len(value) > 63:
        msgs.append("must be no more than 63 characters")
    if not _VALUE_RE.match(value):
        msgs.append(_VALUE_MSG)
    return msgs


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_key(key: str) -> None:
    msgs = validate_key(key)
    if msgs:
        raise SelectorError(f"key: Invalid value: {_quote(key)}: {'; '.join(msgs)}")


def _check_value(value: str, index: int) -> None:
    msgs = validate_value(value)
    if msgs:
        raise SelectorError(f"values[{index}]: Invalid value: {_quote(value)}: {'; '.join(msgs)}")


# --------------------------------------------------------------------------------------------
# requirements and selectors
# --------------------------------------------------------------------------------------------

# Operators as they appear in the string syntax; LabelSelector operators map onto them.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_SINGLE_VALUE_OPS = {EQUALS, DOUBLE_EQUALS, NOT_EQUALS}
_SET_OPS = {IN, NOT_IN}
_NO_VALUE_OPS = {EXISTS, DOES_NOT_EXIST}
_INT_OPS = {GREATER_THAN, LESS_THAN}


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One term of a selector. ``values`` is sorted and duplicate-free."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def make(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """A checked requirement: the key, the values and their number must suit the operator."""
        vals = list(values)
        _check_key(key)
        if operator in _SET_OPS:
            if not vals:
                raise SelectorError("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
        elif operator in _SINGLE_VALUE_OPS:
            if len(vals) != 1:
                raise SelectorError(
                    f"values: Invalid value: {vals!r}: exact-match compatibility requires one single value")
        elif operator in _NO_VALUE_OPS:
            if vals:
                raise SelectorError(
                    f"values: Invalid value: {vals!r}: values set must be empty for exists and does not exist")
        elif operator in _INT_OPS:
            if len(vals) != 1:
                raise SelectorError(f"values: Invalid value: {vals!r}: for 'Gt', 'Lt' operators, exactly one value is required")
            try:
                int(vals[0], 10)
            except ValueError:
                raise SelectorError(
                    f"values[0]: Invalid value: {_quote(vals[0])}: for 'Gt', 'Lt' operators, "
                    "the value must be an integer") from None
        else:
            raise SelectorError(f"operator: Unsupported value: {_quote(operator)}")
        if operator not in _INT_OPS:
            for i, v in enumerate(vals):
                _check_value(v, i)
        return cls(key, operator, tuple(sorted(set(vals))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return present and labels[self.key] in self.values
        if op in (NOT_EQUALS, NOT_IN):
            return not present or labels[self.key] not in self.values
        if op == EXISTS:
            return present
        if op == DOES_NOT_EXIST:
            return not present
        # Gt / Lt: both sides must be integers; a non-integer label never matches.
        if not present:
            return False
        try:
            have = int(labels[self.key], 10)
        except ValueError:
            return False
        want = int(self.values[0], 10)
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in _SET_OPS:
            return f"{self.key} {op} ({','.join(self.values)})"
        if op == GREATER_THAN:
            return f"{self.key}>{self.values[0]}"
        if op == LESS_THAN:
            return f"{self.key}<{self.values[0]}"
        return f"{self.key}{op}{self.values[0]}"


@dataclasses.dataclass(frozen=True)
class Selector:
    """An AND of requirements, sorted by key. No requirements: matches everything.

    ``match_nothing`` marks the special selector returned for a missing (None)
    LabelSelector; it renders as ``""`` like upstream's but matches no labels.
    """

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector matches every object (no requirements)."""
        return not self.requirements and not self.match_nothing

    @functools.cached_property
    def _equalities(self) -> tuple[tuple[str, str], ...] | None:
        """(key, value) pairs when every requirement is an equality (the usual
        matchLabels selector), else None: the hot path of schedulers and
        controllers matching thousands of pods."""
        pairs = []
        for r in self.requirements:
            if r.operator in (EQUALS, DOUBLE_EQUALS) or (r.operator == IN and len(r.values) == 1):
                pairs.append((r.key, r.values[0]))
            else:
                return None
        return tuple(pairs)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.match_nothing:
            return False
        labels = labels or {}
        pairs = self._equalities
        if pairs is not None:
            for key, value in pairs:
                if labels.get(key) != value:
                    return False
            return True
        return all(r.matches(labels) for r in self.requirements)

    def add(self, *reqs: Requirement) -> Selector:
        """A new selector with extra requirements (still matching nothing if this one does)."""
        return Selector(tuple(sorted(self.requirements + reqs, key=lambda r: r.key)), self.match_nothing)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must equal (from ``=``, ``==`` or a one-value ``in``), else None."""
        for r in self.requirements:
            if r.key == key and (r.operator in (EQUALS, DOUBLE_EQUALS) or (r.operator == IN and len(r.values) == 1)):
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(match_nothing=True)


# --------------------------------------------------------------------------------------------
# string syntax
# --------------------------------------------------------------------------------------------

# Characters that end an identifier; everything else (but whitespace) belongs to it.
_TOKEN_RE = re.compile(r"\s*(?:(!=|==|=|!|<|>|\(|\)|,)|([^\s!=<>(),]+))")
_END = ""  # the token after the last one


def _tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, literal) pairs; kind is 'id' for identifiers or the symbol itself, '' at the end."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:]
            if rest.strip():
                raise SelectorError(f"unexpected character {rest.strip()[0]!r}")
            tokens.append((_END, ""))
            return tokens
        pos = m.end()
        if m.group(1):
            tokens.append((m.group(1), m.group(1)))
        else:
            tokens.append(("id", m.group(2)))


def _describe(tok: tuple[str, str]) -> str:
    return "end of string" if tok[0] == _END else tok[1]


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        if tok[0] != _END:
            self.pos += 1
        return tok

    def selector(self) -> Selector:
        reqs: list[Requirement] = []
        if self.peek()[0] == _END:
            return EVERYTHING
        while True:
            kind, lit = self.peek()
            # "in"/"notin" are keywords where a key may start (but fine after "!" and as values)
            if kind not in ("id", "!") or lit in (IN, NOT_IN):
                raise SelectorError(f"found '{_describe(self.peek())}', expected: !, identifier, or 'end of string'")
            reqs.append(self.requirement())
            kind, lit = self.take()
            if kind == _END:
                break
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            if self.peek()[0] == _END:
                raise SelectorError("found 'end of string', expected: !, identifier")
        return Selector(tuple(sorted(reqs, key=lambda r: r.key)))

    def requirement(self) -> Requirement:
        kind, lit = self.take()
        if kind == "!":
            kind, key = self.take()
            if kind != "id":
                raise SelectorError(f"found '{_describe((kind, key))}', expected: identifier after '!'")
            return Requirement.make(key, DOES_NOT_EXIST)
        key = lit
        kind, lit = self.peek()
        if kind in (_END, ","):
            return Requirement.make(key, EXISTS)
        self.take()
        if kind == "id" and lit in (IN, NOT_IN):
            return Requirement.make(key, lit, self.value_set())
        ops = {"=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS, ">": GREATER_THAN, "<": LESS_THAN}
        if kind not in ops:
            raise SelectorError(f"found '{lit}', expected: '=', '!=', '==', 'in', 'notin', '>' or '<'")
        return Requirement.make(key, ops[kind], [self.exact_value()])

    def exact_value(self) -> str:
        kind, lit = self.peek()
        if kind in (_END, ","):
            return ""
        self.take()
        if kind != "id":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return lit

    def value_set(self) -> list[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{_describe((kind, lit))}', expected: '('")
        values: list[str] = []
        current = ""
        while True:
            kind, lit = self.take()
            if kind == "id":
                if current:
                    raise SelectorError(f"found '{lit}', expected: ',' or ')'")
                current = lit
            elif kind == ",":
                values.append(current)
                current = ""
            elif kind == ")":
                values.append(current)
                return values
            else:
                raise SelectorError(f"found '{_describe((kind, lit))}', expected: ',', ')' or identifier")


def parse(selector: str) -> Selector:
    """Parse the label selector string syntax. ``""`` (or only whitespace) matches everything."""
    if not isinstance(selector, str):
        raise SelectorError(f"a label selector must be a string, not {type(selector).__name__}")
    return _Parser(selector).selector()


def from_set(labels: Mapping[str, str] | None) -> Selector:
    """A selector requiring every ``key=value`` of ``labels`` (empty mapping: everything)."""
    reqs = [Requirement.make(k, EQUALS, [v]) for k, v in (labels or {}).items()]
    return Selector(tuple(sorted(reqs, key=lambda r: r.key)))


# --------------------------------------------------------------------------------------------
# metav1.LabelSelector
# --------------------------------------------------------------------------------------------

_EXPR_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector(sel: Mapping[str, Any] | None) -> Selector:
    """The selector of a metav1.LabelSelector dict.

    ``None`` gives :data:`NOTHING` (matches no object); ``{}`` or a selector with
    neither matchLabels nor matchExpressions gives :data:`EVERYTHING`.
    """
    if sel is None:
        return NOTHING
    if not isinstance(sel, Mapping):
        raise SelectorError("a label selector must be an object")
    match_labels = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    match_labels = {} if match_labels is None else match_labels
    exprs = [] if exprs is None else exprs
    if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
        raise SelectorError("matchLabels must be an object and matchExpressions a list")
    reqs: list[Requirement] = []
    for k, v in match_labels.items():
        if not isinstance(v, str):
            raise SelectorError(f"matchLabels[{k}] must be a string")
        reqs.append(Requirement.make(k, EQUALS, [v]))
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise SelectorError("every matchExpressions item must be an object")
        op = expr.get("operator")
        if op not in _EXPR_OPS:
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError("matchExpressions values must be a list of strings")
        reqs.append(Requirement.make(str(expr.get("key", "")), _EXPR_OPS[op], values))
    if not reqs:
        return EVERYTHING
    return Selector(tuple(sorted(reqs, key=lambda r: r.key)))


def validate_label_selector(sel: Any, path: str) -> list[tuple[str, str]]:
    """Problems with a metav1.LabelSelector as ``(field path, message)`` pairs, every one of them.

    The api layer wraps them into its field errors; ``None`` is valid (no selector).
    """
    out: list[tuple[str, str]] = []
    if sel is None:
        return out
    if not isinstance(sel, Mapping):
        return [(path, "must be an object")]
    match_labels = sel.get("matchLabels")
    if match_labels is not None:
        if not isinstance(match_labels, Mapping):
            out.append((f"{path}.matchLabels", "must be an object"))
        else:
            for k, v in match_labels.items():
                for msg in validate_key(str(k)):
                    out.append((f"{path}.matchLabels", f"Invalid value: {_quote(str(k))}: {msg}"))
                if not isinstance(v, str):
                    out.append((f"{path}.matchLabels", f"Invalid value: {v!r}: must be a string"))
                else:
                    for msg in validate_value(v):
                        out.append((f"{path}.matchLabels", f"Invalid value: {_quote(v)}: {msg}"))
    exprs = sel.get("matchExpressions")
    if exprs is None:
        return out
    if not isinstance(exprs, list):
        out.append((f"{path}.matchExpressions", "must be a list"))
        return out
    for i, expr in enumerate(exprs):
        p = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            out.append((p, "must be an object"))
            continue
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                out.append((f"{p}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append((f"{p}.values",
                            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            out.append((f"{p}.operator", f"Invalid value: {_quote(str(op))}: not a valid selector operator"))
        key = expr.get("key")
        if not isinstance(key, str):
            out.append((f"{p}.key", "Required value"))
        else:
            for msg in validate_key(key):
                out.append((f"{p}.key", f"Invalid value: {_quote(key)}: {msg}"))
        if isinstance(values, list):
            for j, v in enumerate(values):
                if not isinstance(v, str):
                    out.append((f"{p}.values[{j}]", f"Invalid value: {v!r}: must be a string"))
                    continue
                for msg in validate_value(v):
                    out.append((f"{p}.values[{j}]", f"Invalid value: {_quote(v)}: {msg}"))
        else:
            out.append((f"{p}.values", "must be a list"))
    return out


def format_label_selector(sel: Mapping[str, Any] | None, *, none: str = "<none>") -> str:
    """A LabelSelector in the string syntax, as kubectl prints it.

    ``none`` (default ``"<none>"``) stands for a selector that renders empty
    (missing or matching everything); an invalid selector gives ``"<error>"``.
    Pass ``none=""`` for fields like Scale's ``status.selector``.
    """
    try:
        text = str(from_label_selector(sel))
    except SelectorError:
        return "<error>"
    return text or none
