"""Field selectors (``?fieldSelector=``) with Kubernetes semantics.

The syntax is a comma-separated AND of ``key=value``, ``key==value`` or
``key!=value`` terms. In values a backslash escapes ``\\``, ``,`` and ``=``;
an unescaped ``,`` ends the term and an unescaped ``=`` in a value is an
error, as is any other escape. Keys are taken literally. Empty terms are
skipped, so ``""`` selects everything.

A key missing from the object's field set reads as ``""`` (so ``k=`` matches
it and ``k!=x`` matches it). Which keys a kind supports is not this module's
business: the API server checks :attr:`FieldSelector.requirements` against the
kind's field set and answers 400 ``field label not supported: <key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from kubeling.lib import labels

__all__ = ["EVERYTHING", "FieldSelector", "SelectorError", "escape_value", "from_set", "parse", "unescape_value"]


# One exception for both selector kinds, so callers catch a single type.
SelectorError = labels.SelectorError


EQUALS = "="
NOT_EQUALS = "!="

# Checked in this order at every position, so "!=" wins over "=" and "==" over "=".
_OPERATORS = ("!=", "==", "=")


def escape_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` so ``value`` can sit on the right of a term."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(text: str) -> str:
    """Undo :func:`escape_value`; raise SelectorError on a bad escape or an unescaped ``,``/``=``."""
    if "\\" not in text and "," not in text and "=" not in text:
        return text
    out: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid escape sequence '\\{ch}' in field selector value {text!r}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector value {text!r}: unescaped character '{ch}'")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError(f"invalid field selector value {text!r}: it ends with an unfinished escape")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped (a backslash hides the next character)."""
    terms: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == ",":
            terms.append(text[start:i])
            start = i + 1
        i += 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str]:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for op in _OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
        i += 1
    raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    """An AND of ``(key, op, value)`` terms; ``op`` is normalised to ``"="`` or ``"!="``."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        for key, op, value in self.requirements:
            have = fields.get(key, "")
            if (have == value) != (op == EQUALS):
                return False
        return True

    def requires_exact_match(self, key: str) -> str | None:
        """The value ``key`` must equal, if some ``key=value`` term pins it; else None."""
        for k, op, value in self.requirements:
            if k == key and op == EQUALS:
                return value
        return None

    def keys(self) -> list[str]:
        return [k for k, _op, _v in self.requirements]

    def __str__(self) -> str:
        return ",".join(f"{k}{op}{escape_value(v)}" for k, op, v in self.requirements)


EVERYTHING = FieldSelector()


def parse(selector: str) -> FieldSelector:
    """Parse a field selector string; ``""`` selects everything."""
    if not isinstance(selector, str):
        raise SelectorError(f"a field selector must be a string, not {type(selector).__name__}")
    reqs: list[tuple[str, str, str]] = []
    for term in _split_terms(selector):
        if not term:
            continue
        key, op, raw = _split_term(term)
        value = unescape_value(raw)
        reqs.append((key, NOT_EQUALS if op == "!=" else EQUALS, value))
    return FieldSelector(tuple(reqs))


def from_set(fields: Mapping[str, str]) -> FieldSelector:
    """A selector requiring every ``key=value`` of ``fields``."""
    return FieldSelector(tuple((k, EQUALS, v) for k, v in sorted(fields.items())))
