"""Timestamps as Kubernetes writes them (RFC 3339, UTC, second precision) and
the human durations ``kubectl get`` shows in AGE columns."""

from __future__ import annotations

import datetime
import time


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


_last_second: tuple[int, str] = (0, "")


def rfc3339(t: datetime.datetime | None = None) -> str:
    """``2024-05-01T12:00:00Z`` (metav1.Time has second precision)."""
    global _last_second
    if t is None:
        # Every write stamps the current time: format each second only once.
        sec = int(time.time())
        if _last_second[0] != sec:
            _last_second = (sec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec)))
        return _last_second[1]
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(t: datetime.datetime | None = None) -> str:
    """``2024-05-01T12:00:00.123456Z`` (metav1.MicroTime)."""
    t = t or now()
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(value: str) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp; None if it is empty or malformed."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """A short age like kubectl prints: ``45s``, ``3m12s``, ``5h``, ``12d``, ``3y45d``.

    Precision shrinks as the duration grows, as upstream's duration.HumanDuration does.
    """
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        rest = s % 60
        return f"{m}m{rest}s" if rest else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        rest = (s % 3600) // 60
        return f"{h}h{rest}m" if rest else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        rest = h % 24
        return f"{h // 24}d{rest}h" if rest else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        days = (h // 24) % 365
        return f"{h // 24 // 365}y{days}d" if days else f"{h // 24 // 365}y"
    return f"{h // 24 // 365}y"


def age(timestamp: str) -> str:
    """Age of an RFC 3339 timestamp, or ``<unknown>`` if there is none."""
    t = parse(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration((now() - t).total_seconds())
