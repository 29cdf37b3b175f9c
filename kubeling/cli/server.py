"""``kubeling server``: the control plane (and, later, the node agent) in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pathlib
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from kubeling.apiserver import server as apiserver
from kubeling.cli import components
from kubeling.client import rest
from kubeling.kubelet import agent as agentlib
from kubeling.kubelet import pressure


def default_data_dir() -> pathlib.Path:
    if os.geteuid() == 0:
        return pathlib.Path("/var/lib/kubeling")
    return pathlib.Path.home() / ".kubeling"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("server", help="run the API server and control plane",
                       description="Start a kubeling server (single node on the embedded SQLite store).")
    p.add_argument("--data-dir", type=pathlib.Path, default=None,
                   help="state, certificates and kubeconfig (default /var/lib/kubeling as root, else ~/.kubeling)")
    p.add_argument("--https-port", type=int, default=6443, help="API port; 0 picks a free one (default 6443)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--advertise-address", default="127.0.0.1",
                   help="address written into the kubeconfig (default 127.0.0.1)")
    p.add_argument("--disable-agent", action="store_true",
                   help="run only the control plane, no node agent on this host")
    p.add_argument("--compact-interval", type=float, default=60.0,
                   help="seconds between storage compactions (default 60)")
    p.add_argument("--keep-revisions", type=int, default=1000,
                   help="revisions kept behind the newest one at compaction (default 1000)")
    p.add_argument("--datastore-endpoint", default="",
                   help="etcd endpoints (http://host:2379[,...]) to keep state in etcd instead of "
                        "the embedded SQLite store (needs the `etcd` extra: pip install 'kubeling[etcd]')")
    p.add_argument("--node-name", default="", help="this host's node name (default: the host name)")
    p.add_argument("--node-ip", default="", help="this node's address (default: the first non-loopback one)")
    add_eviction_flags(p)
    components.add_component_flags(p)
    p.add_argument("--components-process", action="store_true",
                   help="run the controller manager and the scheduler in child processes of their own "
                        "(a CPU core each for them and the API server: for large clusters)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def add_eviction_flags(p: Any) -> None:
    """The kubelet's node-pressure eviction flags (shared with ``kubeling agent``)."""
    p.add_argument("--eviction-hard", default=None, metavar="SIGNAL<QUANTITY,...",
                   help="hard eviction thresholds, e.g. 'memory.available<500Mi,nodefs.available<10%%' "
                        "(default: upstream's memory.available<100Mi,nodefs.available<10%%,"
                        "nodefs.inodesFree<5%%,imagefs.available<15%%,imagefs.inodesFree<5%%; giving any "
                        "replaces them all)")
    p.add_argument("--eviction-pressure-transition-period", default=None, metavar="DURATION",
                   help="how long a node keeps a pressure condition after its threshold is no longer "
                        "met (default 5m0s)")
    p.add_argument("--eviction-soft", default="", metavar="SIGNAL<QUANTITY,...",
                   help="soft eviction thresholds: evict only once met for their grace period")
    p.add_argument("--eviction-soft-grace-period", default="", metavar="SIGNAL=DURATION,...",
                   help="how long each soft threshold must be met, e.g. 'memory.available=1m30s'")
    p.add_argument("--eviction-max-pod-grace-period", type=float, default=0.0, metavar="SECONDS",
                   help="the most grace a pod gets when evicted for a soft threshold (default 0: its own)")


def eviction_options(args: argparse.Namespace) -> dict[str, Any]:
    """The agent options the eviction flags give."""
    return {"eviction_hard": args.eviction_hard,
            "eviction_pressure_transition_period": args.eviction_pressure_transition_period,
            "eviction_soft": args.eviction_soft, "eviction_soft_grace_period": args.eviction_soft_grace_period,
            "eviction_max_pod_grace_period": args.eviction_max_pod_grace_period}


def eviction_options_error(args: argparse.Namespace) -> str:
    """The error in the eviction flags, or "" when they are valid."""
    try:
        agentlib.eviction_config(agentlib.Options(data_dir=pathlib.Path("."), **eviction_options(args)))
    except pressure.ThresholdError as exc:
        return str(exc)
    return ""


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not 0 <= args.https_port <= 65535:
        print(f"kubeling server: --https-port {args.https_port} is not a port number (0-65535)", file=sys.stderr)
        return 2
    if err := eviction_options_error(args):
        print(f"kubeling server: {err}", file=sys.stderr)
        return 2
    opts = apiserver.Options(
        data_dir=(args.data_dir or default_data_dir()).resolve(),
        https_port=args.https_port,
        bind_address=args.bind_address,
        advertise_address=args.advertise_address,
        compact_interval=args.compact_interval,
        keep_revisions=args.keep_revisions,
        datastore_endpoint=args.datastore_endpoint,
        default_toleration_seconds=args.default_toleration_seconds,
    )
    opts.unix_socket = opts.data_dir / "run" / "apiserver.sock"
    try:
        return run_loop(_serve(opts, args))
    except OSError as exc:
        print(f"kubeling server: {exc}", file=sys.stderr)
        return 1


def run_loop(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop without making it the global policy: event loops made in
    other threads (pyroute2's netlink sockets) must stay stock asyncio loops,
    which uvloop's cannot replace for AF_NETLINK."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    if os.environ.get("KUBELING_NO_UVLOOP"):
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _wait_child(child: asyncio.subprocess.Process) -> None:
    code = await child.wait()
    raise RuntimeError(f"the components process exited with status {code}")


async def _serve(opts: apiserver.Options, args: argparse.Namespace) -> int:
    log = logging.getLogger("kubeling")
    srv = apiserver.APIServer(opts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await srv.start()
    components_tasks: dict[asyncio.Task[None], str] = {}
    clients: list[rest.Client] = []
    assert opts.unix_socket is not None
    children: list[asyncio.subprocess.Process] = []
    if args.components_process:
        # One process each for the controller manager and the scheduler: they
        # would otherwise take turns on one interpreter lock.
        for what, cmd in components.child_commands(opts.data_dir, args):
            child = await asyncio.create_subprocess_exec(*cmd)
            children.append(child)
            components_tasks[asyncio.create_task(_wait_child(child), name=what)] = f"{what} process"
    else:
        components_tasks.update(components.start(opts.unix_socket, args, clients))
    if not args.disable_agent and os.geteuid() != 0:
        log.warning("the node agent needs root (runc, namespaces, mounts): running the control plane only, "
                    "as with --disable-agent")
    elif not args.disable_agent:
        client = components.socket_client(opts.unix_socket, "kubelet")
        clients.append(client)
        agent = agentlib.Agent(client, agentlib.Options(
            data_dir=opts.data_dir, node_name=args.node_name, node_ip=args.node_ip,
            **eviction_options(args)))
        components_tasks[asyncio.create_task(agent.run(), name="agent")] = "node agent"
        log.info("join token for agents (kubeling agent --server URL --token TOKEN): %s",
                 (opts.data_dir / "token").read_text().strip())
    stopper = asyncio.create_task(stop.wait())
    code = 0
    try:
        done, _ = await asyncio.wait({stopper, *components_tasks}, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper:
                # A component died: say which and why, and exit non-zero.
                exc = t.exception()
                log.error("%s stopped: %s", components_tasks[t], exc, exc_info=exc)
                code = 1
    finally:
        log.info("shutting down")
        stopper.cancel()
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            await child.wait()
        for t in components_tasks:
            t.cancel()
        await asyncio.gather(*components_tasks, return_exceptions=True)
        for c in clients:
            await c.close()
        await srv.stop()
    return code
