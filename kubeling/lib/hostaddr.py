"""This host's addresses (for serving certificates, endpoints and node IPs)."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


# Interfaces kubeling (or a CNI) makes for pods: their addresses are not the host's.
_POD_INTERFACES = ("kubeling", "cni", "veth", "flannel")


def interface_ipv4() -> list[str]:
    """IPv4 addresses of this host's interfaces (SIOCGIFADDR per interface),
    without the bridges and veths made for pods."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            if name.startswith(_POD_INTERFACES):
                continue
            try:
                packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue  # interface without an IPv4 address
            out.append(socket.inet_ntoa(packed[20:24]))
    return out


def host_addresses() -> list[str]:
    """Loopback plus the addresses of this host, for the serving certificate."""
    addrs = {"127.0.0.1", "::1", *interface_ipv4()}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addrs.add(str(info[4][0]))
    except OSError:
        pass
    return sorted(addrs)


def reachable_address(preferred: str = "") -> str:
    """An address other hosts and pods can reach: ``preferred`` unless it is
    loopback, else this host's first non-loopback one ("" if none)."""
    candidates = [preferred] + [a for a in host_addresses() if ":" not in a] + host_addresses()
    for a in candidates:
        try:
            addr = ipaddress.ip_address(a.split("%")[0])
        except ValueError:
            continue
        if not (addr.is_loopback or addr.is_link_local or addr.is_unspecified):
            return str(addr)
    return ""
