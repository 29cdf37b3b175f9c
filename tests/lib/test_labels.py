"""Label selectors: string syntax, LabelSelector dicts, matching, canonical text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeling.lib import labels


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("   ", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a = b", "a=b"),
        ("z,a", "a,z"),
        ("!a", "!a"),
        ("x in (b, a, b)", "x in (a,b)"),
        ("x notin (a)", "x notin (a)"),
        ("x in ()", "x in ()"),
        ("a in (x,,y)", "a in (,x,y)"),
        ("a=", "a="),
        ("a>3,b<-1", "a>3,b<-1"),
        ("example.com/app=web", "example.com/app=web"),
        ("x in (in, notin)", "x in (in,notin)"),
        ("!in", "!in"),
    ],
)
def test_parse_renders_canonically(text: str, canonical: str) -> None:
    sel = labels.parse(text)
    assert str(sel) == canonical
    assert str(labels.parse(str(sel))) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "a b",
        "a=b c",
        "=x",
        "a in x",
        "a in (x y)",
        "a in (x",
        "a=b=c",
        "a=(b)",
        "a,",
        ",a",
        "!a=b",
        "!",
        "a>x",
        "a<",
        "-a=b",
        "a=-b",
        "a=" + "x" * 64,
        "x" * 64 + "=a",
        "Example.com/a=b",
        "/a=b",
        "a/b/c=d",
        "a/=b",
        "in in (a)",
        "notin",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(labels.SelectorError):
        labels.parse(text)


def test_error_names_token() -> None:
    with pytest.raises(labels.SelectorError, match="found 'c', expected: ',' or 'end of string'"):
        labels.parse("a=b c")
    with pytest.raises(labels.SelectorError, match='key: Invalid value: "-a"'):
        labels.parse("-a")


def test_selector_error_is_value_error() -> None:
    assert issubclass(labels.SelectorError, ValueError)


@pytest.mark.parametrize(
    ("text", "lbls", "expected"),
    [
        ("", {}, True),
        ("", None, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {"a": "c"}, True),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {}, False),
        ("a notin (x,y)", {}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("a", {"b": ""}, False),
        ("!a", {"b": ""}, True),
        ("!a", {"a": "1"}, False),
        ("a>3", {"a": "4"}, True),
        ("a>3", {"a": "3"}, False),
        ("a>3", {"a": "x"}, False),
        ("a>3", {}, False),
        ("a<3", {"a": "-7"}, True),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("a=b,c", {"a": "b"}, False),
        ("a=b,c", {"a": "b", "c": "d"}, True),
    ],
)
def test_matches(text: str, lbls: dict[str, str] | None, expected: bool) -> None:
    assert labels.parse(text).matches(lbls) is expected


def test_empty_and_nothing() -> None:
    assert labels.parse("").empty
    assert not labels.parse("a").empty
    everything = labels.from_label_selector({})
    assert everything.empty and everything.matches({"x": "y"}) and everything.matches(None)
    assert labels.from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty
    nothing = labels.from_label_selector(None)
    assert not nothing.empty
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert nothing is labels.NOTHING


def test_from_label_selector() -> None:
    sel = labels.from_label_selector({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"},
        ],
    })
    assert str(sel) == "app=web,!canary,env notin (dev),tier in (back,front),zone"
    assert sel.matches({"app": "web", "tier": "front", "zone": "a"})
    assert not sel.matches({"app": "web", "tier": "front", "zone": "a", "canary": "1"})
    assert not sel.matches({"app": "web", "tier": "front", "zone": "a", "env": "dev"})
    assert not sel.matches({"app": "web", "tier": "mid", "zone": "a"})
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") is None


@pytest.mark.parametrize(
    "sel",
    [
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a b", "operator": "Exists"}]},
        {"matchLabels": {"a": "b c"}},
        {"matchLabels": {"a": 1}},
        {"matchLabels": []},
        "app=web",
    ],
)
def test_from_label_selector_rejects(sel: object) -> None:
    with pytest.raises(labels.SelectorError):
        labels.from_label_selector(sel)  # type: ignore[arg-type]


def test_from_set() -> None:
    sel = labels.from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert labels.from_set({}).empty


def test_validate_label_selector() -> None:
    assert labels.validate_label_selector(None, "spec.selector") == []
    assert labels.validate_label_selector({"matchLabels": {"a": "b"}}, "spec.selector") == []
    errs = labels.validate_label_selector({
        "matchLabels": {"a b": "c"},
        "matchExpressions": [
            {"key": "x", "operator": "In"},
            {"key": "y", "operator": "Exists", "values": ["1"]},
            {"key": "z", "operator": "Maybe"},
            {"key": "-bad", "operator": "In", "values": ["ok", "not ok"]},
        ],
    }, "spec.selector")
    paths = [p for p, _msg in errs]
    assert paths == [
        "spec.selector.matchLabels",
        "spec.selector.matchExpressions[0].values",
        "spec.selector.matchExpressions[1].values",
        "spec.selector.matchExpressions[2].operator",
        "spec.selector.matchExpressions[3].key",
        "spec.selector.matchExpressions[3].values[1]",
    ]
    assert all(isinstance(m, str) and m for _p, m in errs)


def test_format_label_selector() -> None:
    assert labels.format_label_selector(None) == "<none>"
    assert labels.format_label_selector({}) == "<none>"
    assert labels.format_label_selector({}, none="") == ""
    assert labels.format_label_selector({"matchLabels": {"app": "web", "a": "b"}}) == "a=b,app=web"
    assert labels.format_label_selector({"matchExpressions": [{"key": "a", "operator": "Bad"}]}) == "<error>"


_alnum = st.sampled_from("abcxyz019")
_name = st.one_of(_alnum, st.builds(lambda a, mid, b: a + mid + b, _alnum,
                                    st.text(alphabet="abz09._-", max_size=6), _alnum))
_value = st.one_of(st.just(""), _name)


@given(st.dictionaries(_name, _value, max_size=5), st.dictionaries(_name, _value, max_size=5))
def test_from_set_matches_superset_only(want: dict[str, str], have: dict[str, str]) -> None:
    sel = labels.from_set(want)
    assert sel.matches(have) == all(have.get(k) == v for k, v in want.items())
    assert sel.matches({**have, **want})
    assert labels.parse(str(sel)) == sel


@given(st.lists(st.tuples(_name, st.sampled_from(["=", "!=", "in", "notin", "", "!"]),
                          st.lists(_value, min_size=1, max_size=3)), max_size=4),
       st.dictionaries(_name, _value, max_size=5))
def test_string_round_trip(terms: list[tuple[str, str, list[str]]], lbls: dict[str, str]) -> None:
    parts = []
    for key, op, values in terms:
        if op in ("in", "notin"):
            parts.append(f"{key} {op} ({', '.join(values)})")
        elif op == "":
            parts.append(key)
        elif op == "!":
            parts.append("!" + key)
        else:
            parts.append(f"{key}{op}{values[0]}")
    sel = labels.parse(" , ".join(parts))
    again = labels.parse(str(sel))
    assert again == sel
    assert again.matches(lbls) == sel.matches(lbls)
