"""openapi.is_clean (the fast path of field validation) never says clean when
type_errors or prune_unknown would find something."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeling.api import openapi

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "labels": {"a": "b"}, "annotations": {"x": "y"}},
    "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
                             "resources": {"limits": {"cpu": "1", "memory": 5}},
                             "env": [{"name": "A", "value": "1"}]}],
             "nodeSelector": {"k": "v"}, "tolerations": [{"key": "k", "operator": "Exists"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dmFsdWU="}}

junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(obj: Any, path: tuple[Any, ...], key: str, value: Any, add: bool) -> None:
    node = obj
    for p in path:
        node = node[p]
    if isinstance(node, dict):
        if add:
            node[key] = value
        elif node:
            node[next(iter(node))] = value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([("io.k8s.api.core.v1.Pod", POD), ("io.k8s.api.core.v1.Secret", SECRET)]),
       st.data(), st.text(min_size=1, max_size=6), junk, st.booleans())
def test_clean_never_hides_a_problem(kind: tuple[str, dict[str, Any]], data: st.DataObject, key: str, value: Any,
                                     add: bool) -> None:
    definition, base = kind
    obj = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(obj)))
    _mutate(obj, path, key, value, add)
    if openapi.is_clean(obj, definition):
        assert openapi.type_errors(obj, definition) == []
        assert openapi.prune_unknown(copy.deepcopy(obj), definition) == []


def test_valid_objects_are_clean() -> None:
    assert openapi.is_clean(copy.deepcopy(POD), "io.k8s.api.core.v1.Pod")
    assert openapi.is_clean(copy.deepcopy(SECRET), "io.k8s.api.core.v1.Secret")
    bad = copy.deepcopy(SECRET)
    bad["data"]["k"] = "not base64!"
    assert not openapi.is_clean(bad, "io.k8s.api.core.v1.Secret")
