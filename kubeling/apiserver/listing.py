"""List and watch: selectors, paging, resourceVersion semantics.

resourceVersion on list, as upstream:
  unset            consistent: wait until the watch cache has caught up with
                   storage, then serve from the cache
  "0"              whatever the cache has (may be slightly stale)
  N, NotOlderThan  wait until the cache has revision >= N, serve from the cache
  N, Exact         read storage at revision N (410 if compacted)
The continue token pins the revision of the first page; later pages read
storage at that revision, so a paged list is one consistent snapshot.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from kubeling.api import errors, registry
from kubeling.apiserver import codec, watchcache
from kubeling.lib import fields, labels
from kubeling.storage import interface as storage

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]


@dataclasses.dataclass
class ListParams:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_: str = ""
    resource_version: str = ""
    resource_version_match: str = ""

    @classmethod
    def from_query(cls, q: Any) -> ListParams:
        limit_s = q.get("limit", "") or "0"
        try:
            limit = int(limit_s)
        except ValueError:
            raise errors.bad_request(f"invalid limit: {limit_s!r}") from None
        p = cls(
            label_selector=q.get("labelSelector", ""),
            field_selector=q.get("fieldSelector", ""),
            limit=max(0, limit),
            continue_=q.get("continue", ""),
            resource_version=q.get("resourceVersion", ""),
            resource_version_match=q.get("resourceVersionMatch", ""),
        )
        if p.resource_version_match and not p.resource_version:
            raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if p.resource_version_match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{p.resource_version_match}": '
                'supported values: "Exact", "NotOlderThan"'
            )
        if p.continue_ and p.resource_version and p.resource_version != "0":
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        return p


def parse_rv(value: str) -> int:
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {value!r}") from None


def make_predicate(res: registry.Resource, label_selector: str, field_selector: str) -> Predicate | None:
    """A filter for the selectors, or None when nothing is selected."""
    lsel = None
    fsel = None
    if label_selector:
        try:
            lsel = labels.parse(label_selector)
        except ValueError as exc:
            raise errors.bad_request(f"unable to parse requirement: {exc}") from exc
    if field_selector:
        try:
            fsel = fields.parse(field_selector)
        except ValueError as exc:
            raise errors.bad_request(f"invalid field selector: {exc}") from exc
        sample = field_values(res, {"metadata": {}})
        for key, _op, _value in fsel.requirements:
            if key not in sample:
                raise errors.bad_request(f'field label not supported: {key}')
    if lsel is None and fsel is None:
        return None

    def pred(obj: Obj) -> bool:
        if lsel is not None and not lsel.matches(obj.get("metadata", {}).get("labels") or {}):
            return False
        if fsel is not None and not fsel.matches(field_values(res, obj)):
            return False
        return True

    return pred


def field_values(res: registry.Resource, obj: Obj) -> dict[str, str]:
    md = obj.get("metadata") or {}
    vals = {"metadata.name": md.get("name", "")}
    if res.namespaced:
        vals["metadata.namespace"] = md.get("namespace", "")
    try:
        vals.update(res.strategy.field_values(obj))
    except (AttributeError, TypeError, KeyError):
        pass
    return vals


def exact_name(field_selector: str) -> str:
    """The name pinned by ``metadata.name=x`` (lets a watch follow one key)."""
    if not field_selector:
        return ""
    try:
        sel = fields.parse(field_selector)
    except ValueError:
        return ""
    for key, op, value in sel.requirements:
        if key == "metadata.name" and op in ("=", "=="):
            return str(value)
    return ""


def encode_continue(revision: int, start: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        rv, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None
    if not start.startswith(prefix):
        raise errors.bad_request("continue key is not valid: the key is outside the listed range")
    return rv, start


@dataclasses.dataclass
class ListResult:
    items: list[Obj]  # read-only: they may be the watch cache's objects
    resource_version: int
    continue_: str = ""
    remaining: int | None = None


async def list_objects(
    res: registry.Resource,
    backend: storage.Backend,
    cacher: watchcache.Cacher,
    namespace: str,
    params: ListParams,
) -> ListResult:
    prefix = res.storage_prefix + (f"{namespace}/" if namespace and res.namespaced else "")
    pred = make_predicate(res, params.label_selector, params.field_selector)
    if params.continue_:
        rv, start = decode_continue(params.continue_, prefix)
        # rv -1 marks an "inconsistent" token handed out with a 410: continue at the latest revision.
        return await _list_storage(backend, prefix, pred, 0 if rv < 0 else rv, start, params.limit,
                                   expired_is_continue=True)
    if params.resource_version and params.resource_version_match == "Exact":
        rv = parse_rv(params.resource_version)
        return await _list_storage(backend, prefix, pred, rv, "", params.limit, expired_is_continue=False)
    if params.resource_version == "":
        await _wait(cacher, await backend.current_revision())
    elif params.resource_version != "0":
        await _wait(cacher, parse_rv(params.resource_version))
    cached, rev = cacher.resource(res.storage_prefix).list(prefix)
    out: list[Obj] = []
    limit = params.limit
    for i, co in enumerate(cached):
        if pred is None or pred(co.obj):
            if limit and len(out) == limit:
                token = encode_continue(rev, co.key)
                remaining = None
                if pred is None:
                    remaining = len(cached) - i
                return ListResult(out, rev, token, remaining)
            out.append(co.obj)
    return ListResult(out, rev)


async def _wait(cacher: watchcache.Cacher, revision: int) -> None:
    try:
        await cacher.wait_for_revision(revision, timeout=3.0)
    except TimeoutError:
        raise errors.APIError(
            504, "Timeout", f"Too large resource version: {revision}, current: {cacher.revision}",
            details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1},
        ) from None


async def _list_storage(
    backend: storage.Backend,
    prefix: str,
    pred: Predicate | None,
    rv: int,
    start: str,
    limit: int,
    *,
    expired_is_continue: bool,
) -> ListResult:
    out: list[Obj] = []
    key = start
    while True:
        batch = max(limit - len(out), 0) + 1 if limit else 0
        try:
            page = await backend.list(prefix, revision=rv, limit=batch, start_key=key)
        except storage.CompactedError:
            if expired_is_continue:
                err = errors.gone(
                    "The continue token is too old: the snapshot it pages through has been compacted. "
                    "Start a new list, or use the continue token of this response to read the rest at the "
                    "latest revision (objects changed since the first page may then be missing or repeated)."
                )
                # Like upstream, offer a token that continues from the same key at the latest revision.
                err.list_meta = {"continue": encode_continue(-1, key)}
                raise err from None
            raise errors.gone(f"too old resource version: {rv}") from None
        except storage.FutureRevisionError:
            raise errors.APIError(
                504, "Timeout", f"Too large resource version: {rv}",
                details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]},
            ) from None
        rv = rv or page.revision
        for kv in page.kvs:
            obj = codec.decode_stored(kv.value, kv.mod_revision)
            if pred is None or pred(obj):
                if limit and len(out) == limit:
                    remaining = None
                    if pred is None:  # as upstream: only known without selectors
                        # A compaction may have passed rv since the page was read: the count is
                        # optional, the page is not, so leave it out rather than fail the list.
                        with contextlib.suppress(storage.CompactedError):
                            rest = await backend.list(prefix, revision=rv, start_key=kv.key)
                            remaining = len(rest.kvs)
                    return ListResult(out, rv, encode_continue(rv, kv.key), remaining)
                out.append(obj)
        if not page.more or not page.kvs:
            return ListResult(out, rv)
        key = page.kvs[-1].key + "\x00"
