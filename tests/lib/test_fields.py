"""Field selectors: syntax, escaping, matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeling.lib import fields, labels


def test_parse_terms() -> None:
    sel = fields.parse("metadata.name=foo,spec.nodeName!=,status.phase==Running")
    assert sel.requirements == (
        ("metadata.name", "=", "foo"),
        ("spec.nodeName", "!=", ""),
        ("status.phase", "=", "Running"),
    )
    assert sel.keys() == ["metadata.name", "spec.nodeName", "status.phase"]
    assert sel.requires_exact_match("metadata.name") == "foo"
    assert sel.requires_exact_match("spec.nodeName") is None


def test_empty() -> None:
    assert fields.parse("").empty
    assert fields.parse("").matches({})
    assert fields.parse(",,").empty


def test_escapes() -> None:
    sel = fields.parse(r"a=x\,y\=z\\,b=c")
    assert sel.requirements == (("a", "=", "x,y=z\\"), ("b", "=", "c"))
    assert str(sel) == r"a=x\,y\=z\\,b=c"
    assert fields.escape_value("a,b=c\\") == r"a\,b\=c\\"


@pytest.mark.parametrize("text", ["a", "a=b=c", r"a=\x", "a=b\\", "abc,d=e"])
def test_rejects(text: str) -> None:
    with pytest.raises(fields.SelectorError):
        fields.parse(text)


def test_error_type_is_shared_with_labels() -> None:
    assert fields.SelectorError is labels.SelectorError


def test_matching() -> None:
    f = {"metadata.name": "web", "spec.nodeName": ""}
    assert fields.parse("metadata.name=web").matches(f)
    assert not fields.parse("metadata.name!=web").matches(f)
    assert fields.parse("spec.nodeName=").matches(f)
    assert fields.parse("status.phase=").matches(f)  # missing reads as ""
    assert fields.parse("status.phase!=Running").matches(f)
    assert not fields.parse("metadata.name=web,spec.nodeName=n1").matches(f)


@given(st.dictionaries(st.text(alphabet="abc.", min_size=1, max_size=6).filter(lambda k: "=" not in k), st.text(max_size=8), max_size=4))
def test_round_trip(values: dict[str, str]) -> None:
    sel = fields.from_set(values)
    again = fields.parse(str(sel))
    assert again == sel
    assert again.matches(values)
