"""Prometheus metrics of the API server, in one private registry per server
(tests start several servers in one process)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import prometheus_client as prom

from kubeling.storage import interface as storage

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            "apiserver_request_total", "API requests by verb, resource and HTTP code.",
            ["verb", "group", "resource", "subresource", "code"], registry=self.registry,
        )
        self.latency = prom.Histogram(
            "apiserver_request_duration_seconds", "API request latency by verb and resource.",
            ["verb", "group", "resource", "subresource"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.storage_latency = prom.Histogram(
            "kubeling_storage_operation_duration_seconds", "Storage backend latency by operation.",
            ["operation"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.watchers = prom.Gauge(
            "apiserver_registered_watchers", "Open watch streams by resource.", ["resource"],
            registry=self.registry,
        )

        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def observe_request(self, verb: str, group: str, resource: str, sub: str, code: int, seconds: float) -> None:
        # labels() is costly on the hot path; keep the children per label set.
        key = (verb, group, resource, sub, str(code))
        pair = self._children.get(key)
        if pair is None:
            pair = (self.requests.labels(verb=verb, group=group, resource=resource, subresource=sub, code=key[4]),
                    self.latency.labels(verb=verb, group=group, resource=resource, subresource=sub))
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def render(self) -> bytes:
        return prom.generate_latest(self.registry)


class TimedBackend:
    """Wraps a storage backend to record per-operation latency."""

    def __init__(self, inner: storage.Backend, metrics: Metrics) -> None:
        self.inner = inner
        self._hist = {op: metrics.storage_latency.labels(operation=op)
                      for op in ("get", "list", "create", "update", "delete")}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _timed(self, op: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await coro
        finally:
            self._hist[op].observe(time.perf_counter() - t0)

    async def get(self, key: str, *, revision: int = 0) -> storage.KeyValue | None:
        return await self._timed("get", self.inner.get(key, revision=revision))  # type: ignore[no-any-return]

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = "") -> storage.ListResult:
        return await self._timed("list", self.inner.list(  # type: ignore[no-any-return]
            prefix, revision=revision, limit=limit, start_key=start_key))

    async def create(self, key: str, value: bytes) -> int:
        return await self._timed("create", self.inner.create(key, value))  # type: ignore[no-any-return]

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self._timed("update", self.inner.update(  # type: ignore[no-any-return]
            key, value, expected_revision=expected_revision))

    async def delete(self, key: str, *, expected_revision: int = 0) -> storage.KeyValue:
        return await self._timed("delete", self.inner.delete(  # type: ignore[no-any-return]
            key, expected_revision=expected_revision))

    def watch(self, prefix: str, *, revision: int) -> AsyncIterator[list[storage.Event]]:
        return self.inner.watch(prefix, revision=revision)
