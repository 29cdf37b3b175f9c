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
from kubeling.client import config as configlib
from kubeling.client import leader, rest
from kubeling.controllers import base as controllers_base
from kubeling.controllers import manager as controller_manager
from kubeling.kubelet import agent as agentlib
from kubeling.scheduler import scheduler as schedulerlib


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
    p.add_argument("--disable-controllers", action="store_true",
                   help="do not run the controller manager (API server only)")
    p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds a node may miss heartbeats before it is marked NotReady/Unknown (default 40)")
    p.add_argument("--default-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds added to pods for the not-ready/unreachable taints (default 300)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not 0 <= args.https_port <= 65535:
        print(f"kubeling server: --https-port {args.https_port} is not a port number (0-65535)", file=sys.stderr)
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


def _loopback_client(srv: apiserver.APIServer, component: str) -> rest.Client:
    """A client for in-process components: the same HTTP API a remote one uses,
    over the server's root-only Unix socket (no TLS cost per request)."""
    assert srv.options.unix_socket is not None
    cfg = configlib.Config(server="http://localhost", unix_socket=str(srv.options.unix_socket))
    return rest.Client(cfg, user_agent=f"kubeling/{component}", connection_limit=50)


async def _run_scheduler(client: rest.Client) -> None:
    """The scheduler, only while this server holds the kube-scheduler Lease
    (several servers on one etcd must not schedule twice)."""
    elector = leader.Elector(client, "kube-scheduler")
    elect = asyncio.create_task(elector.run())
    leading = asyncio.create_task(elector.leading.wait())
    tasks = [elect, leading]
    try:
        await asyncio.wait({elect, leading}, return_when=asyncio.FIRST_COMPLETED)
        if elect.done():
            elect.result()
            raise RuntimeError("scheduler leader election ended before leading")
        sched = asyncio.create_task(schedulerlib.Scheduler(client).run())
        tasks.append(sched)
        done, _ = await asyncio.wait({elect, sched}, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()
        raise RuntimeError("the scheduler lost its leader lease" if elect in done else "the scheduler stopped")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
    components: dict[asyncio.Task[None], str] = {}
    clients: list[rest.Client] = []
    if not args.disable_controllers:
        client = _loopback_client(srv, "kube-controller-manager")
        clients.append(client)
        options = controllers_base.Options(node_monitor_grace_period=args.node_monitor_grace_period,
                                           default_toleration_seconds=args.default_toleration_seconds)
        mgr = controller_manager.Manager(client, options=options)
        components[asyncio.create_task(mgr.run(), name="controller-manager")] = "controller manager"
    if not args.disable_scheduler:
        client = _loopback_client(srv, "kube-scheduler")
        clients.append(client)
        components[asyncio.create_task(_run_scheduler(client), name="scheduler")] = "scheduler"
    if not args.disable_agent and os.geteuid() != 0:
        log.warning("the node agent needs root (runc, namespaces, mounts): running the control plane only, "
                    "as with --disable-agent")
    elif not args.disable_agent:
        client = _loopback_client(srv, "kubelet")
        clients.append(client)
        agent = agentlib.Agent(client, agentlib.Options(data_dir=opts.data_dir, node_name=args.node_name,
                                                        node_ip=args.node_ip))
        components[asyncio.create_task(agent.run(), name="agent")] = "node agent"
        log.info("join token for agents (kubeling agent --server URL --token TOKEN): %s",
                 (opts.data_dir / "token").read_text().strip())
    stopper = asyncio.create_task(stop.wait())
    code = 0
    try:
        done, _ = await asyncio.wait({stopper, *components}, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper:
                # A component died: say which and why, and exit non-zero.
                exc = t.exception()
                log.error("%s stopped: %s", components[t], exc, exc_info=exc)
                code = 1
    finally:
        log.info("shutting down")
        stopper.cancel()
        for t in components:
            t.cancel()
        await asyncio.gather(*components, return_exceptions=True)
        for c in clients:
            await c.close()
        await srv.stop()
    return code
