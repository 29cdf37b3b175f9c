"""A TCP socket that lives in another network namespace (port-forward's way into a pod).

The calling thread enters the namespace with setns(2), makes the socket and
goes back; a socket stays in the namespace it was made in. Call it from a
worker thread, never the event loop's (setns changes the calling thread).
"""

from __future__ import annotations

import ctypes
import os
import socket

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def socket_in_netns(netns: str, family: int = socket.AF_INET) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"entering network namespace {netns}: "
                                              f"{os.strerror(ctypes.get_errno())}")
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                # A thread stuck in a pod's namespace would poison the pool: fail loudly.
                raise RuntimeError(f"returning to the host network namespace: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(target)
        os.close(own)
