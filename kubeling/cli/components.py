"""The control-plane components (controller manager, scheduler) of a local
server, in the server's process or in one of their own.

``kubeling server`` runs them in-process by default; with
``--components-process`` it starts ``kubeling components`` children (one for
the controller manager, one for the scheduler), so the API server and the
components spread over the CPU cores (what large clusters on a multi-core
machine want; upstream runs them as separate processes too).
Either way they reach the API through the server's root-only Unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys
from typing import Any

from kubeling.client import config as configlib
from kubeling.client import leader, rest
from kubeling.controllers import base as controllers_base
from kubeling.controllers import manager as controller_manager
from kubeling.scheduler import scheduler as schedulerlib

log = logging.getLogger("kubeling")


def socket_client(sock: pathlib.Path, component: str) -> rest.Client:
    cfg = configlib.Config(server="http://localhost", unix_socket=str(sock))
    return rest.Client(cfg, user_agent=f"kubeling/{component}", connection_limit=50)


async def run_scheduler(client: rest.Client) -> None:
    """The scheduler, only while this process holds the kube-scheduler Lease
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


def start(sock: pathlib.Path, args: argparse.Namespace, clients: list[rest.Client]) -> dict[asyncio.Task[None], str]:
    """Start the enabled components as tasks (name for each), their clients added to ``clients``."""
    tasks: dict[asyncio.Task[None], str] = {}
    if not args.disable_controllers:
        client = socket_client(sock, "kube-controller-manager")
        clients.append(client)
        options = controllers_base.Options(node_monitor_grace_period=args.node_monitor_grace_period,
                                           default_toleration_seconds=args.default_toleration_seconds)
        mgr = controller_manager.Manager(client, options=options)
        tasks[asyncio.create_task(mgr.run(), name="controller-manager")] = "controller manager"
    if not args.disable_scheduler:
        client = socket_client(sock, "kube-scheduler")
        clients.append(client)
        tasks[asyncio.create_task(run_scheduler(client), name="scheduler")] = "scheduler"
    return tasks


def add_component_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--disable-controllers", action="store_true",
                   help="do not run the controller manager (API server only)")
    p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds a node may miss heartbeats before it is marked NotReady/Unknown (default 40)")
    p.add_argument("--default-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds added to pods for the not-ready/unreachable taints (default 300)")


def child_commands(data_dir: pathlib.Path, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """`kubeling components` command lines, one per enabled component, that carry ``args`` over."""
    base = [sys.executable, "-m", "kubeling", "components", "--data-dir", str(data_dir),
            "--node-monitor-grace-period", str(args.node_monitor_grace_period),
            "--default-toleration-seconds", str(args.default_toleration_seconds)]
    if args.verbose:
        base.append("-v")
    out = []
    if not args.disable_controllers:
        out.append(("controller manager", [*base, "--disable-scheduler"]))
    if not args.disable_scheduler:
        out.append(("scheduler", [*base, "--disable-controllers"]))
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser("components", help="run the controller manager and scheduler of a local server",
                       description="Run the controller manager and the scheduler against the server whose data "
                                   "directory is given (through its Unix socket). `kubeling server "
                                   "--components-process` starts this itself.")
    p.add_argument("--data-dir", type=pathlib.Path, required=True, help="the server's data directory")
    add_component_flags(p)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kubeling.cli import server as server_cmd  # the shared loop runner

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    sock = args.data_dir.resolve() / "run" / "apiserver.sock"
    if not sock.exists():
        print(f"kubeling components: no server socket at {sock}: is `kubeling server --data-dir "
              f"{args.data_dir}` running?", file=sys.stderr)
        return 2
    return server_cmd.run_loop(_serve(sock, args))


async def _serve(sock: pathlib.Path, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clients: list[rest.Client] = []
    tasks = start(sock, args, clients)
    stopper = asyncio.create_task(stop.wait())
    code = 0
    try:
        done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper:
                log.error("%s stopped: %s", tasks[t], t.exception(), exc_info=t.exception())
                code = 1
    finally:
        stopper.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            await c.close()
    return code
