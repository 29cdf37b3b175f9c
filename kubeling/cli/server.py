"""``kubeling server``: the control plane (and, later, the node agent) in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pathlib
import signal
import sys
from typing import Any

from kubeling.apiserver import server as apiserver


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
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not 0 <= args.https_port <= 65535:
        print(f"kubeling server: --https-port {args.https_port} is not a port number (0-65535)", file=sys.stderr)
        return 2
    if not args.disable_agent:
        logging.getLogger("kubeling").warning(
            "the node agent is not built yet; running the control plane only (as with --disable-agent)")
    opts = apiserver.Options(
        data_dir=(args.data_dir or default_data_dir()).resolve(),
        https_port=args.https_port,
        bind_address=args.bind_address,
        advertise_address=args.advertise_address,
        compact_interval=args.compact_interval,
        keep_revisions=args.keep_revisions,
        datastore_endpoint=args.datastore_endpoint,
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    try:
        asyncio.run(_serve(opts))
    except OSError as exc:
        print(f"kubeling server: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(opts: apiserver.Options) -> None:
    srv = apiserver.APIServer(opts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await srv.start()
    try:
        await stop.wait()
    finally:
        logging.getLogger("kubeling").info("shutting down")
        await srv.stop()
