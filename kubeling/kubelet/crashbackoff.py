"""CrashLoopBackOff's restart delay (upstream's ``flowcontrol.Backoff`` as the
kubelet uses it): 10 s doubling to 5 min per (pod uid, container name),
forgiven after ten quiet minutes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kubeling.kubelet import podstatus
from kubeling.kubelet.runtime import protocol as cri

BACKOFF_START = 10.0
BACKOFF_MAX = 300.0


@dataclasses.dataclass
class _Entry:
    delay: float  # the wait charged for the next crash
    until: float  # when it was last charged (the finish time of the exit it was charged for)


class Backoff:
    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self._entries: dict[tuple[str, str], _Entry] = {}

    def delay(self, uid: str, name: str) -> float:
        entry = self._entries.get((uid, name))
        return entry.delay if entry else 0.0

    def left(self, uid: str, view: podstatus.ContainerView) -> float:
        """Seconds the exited container must still wait; 0 means start it now
        (and charge the backoff, as upstream's ``Backoff.Next`` does)."""
        cur = view.current
        if cur is None or cur.state != cri.ContainerState.EXITED:
            return 0.0
        key = (uid, view.spec["name"])
        now = self.wall()
        finished = cur.finished_at / 1e9 if cur.finished_at else now
        b = self._entries.get(key)
        # An entry older than twice the cap has expired: ten quiet minutes reset the delay.
        expired = b is None or finished - b.until > 2 * BACKOFF_MAX
        if not expired and b is not None and now - finished < b.delay:
            return b.delay - (now - finished)
        if expired:
            self._entries[key] = _Entry(delay=BACKOFF_START, until=finished)
        else:
            assert b is not None
            b.delay, b.until = min(b.delay * 2, BACKOFF_MAX), finished
        return 0.0

    def forget(self, uid: str) -> None:
        for key in [k for k in self._entries if k[0] == uid]:
            del self._entries[key]
