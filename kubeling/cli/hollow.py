"""``kubeling hollow-nodes``: N simulated nodes (as KWOK and kubemark) for scale tests.

Registers the nodes with the cluster the kubeconfig names, keeps their leases
and status fresh and "runs" the pods bound to them (see
:mod:`kubeling.hollow`). SIGTERM or SIGINT stop it; the nodes stay registered
(and go NotReady once their leases expire) unless ``--cleanup`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from kubeling.client import config as configlib
from kubeling.client import rest
from kubeling.hollow import runner


def add_parser(sub: Any) -> None:
    p = sub.add_parser("hollow-nodes", help="run simulated nodes for scale tests",
                       description="Register N simulated (hollow) nodes that heartbeat and run the pods "
                                   "bound to them without containers, like KWOK or kubemark.")
    p.add_argument("--kubeconfig", default=None,
                   help="kubeconfig of the cluster to join (default $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--count", type=int, required=True, help="how many nodes")
    p.add_argument("--name-prefix", default="hollow-", help='node names are PREFIX0, PREFIX1, ... (default "hollow-")')
    p.add_argument("--first-index", type=int, default=0, help="number of the first node (default 0)")
    p.add_argument("--cpu", default="4", help="CPU capacity of each node (default 4)")
    p.add_argument("--memory", default="16Gi", help="memory capacity of each node (default 16Gi)")
    p.add_argument("--pods", type=int, default=110, help="pod capacity of each node (default 110)")
    p.add_argument("--pod-run-seconds", type=float, default=1.0,
                   help="how long a pod whose restartPolicy is not Always runs before it succeeds (default 1)")
    p.add_argument("--heartbeat-interval", type=float, default=10.0,
                   help="seconds between lease renewals of each node (default 10)")
    p.add_argument("--status-interval", type=float, default=300.0,
                   help="seconds between node status posts of each node (default 300)")
    p.add_argument("--concurrency", type=int, default=64, help="API requests in flight at most (default 64)")
    p.add_argument("--cleanup", action="store_true", help="delete the nodes when stopped")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.count < 0 or args.concurrency < 1 or args.heartbeat_interval <= 0 or args.status_interval <= 0:
        print("kubeling hollow-nodes: --count must be >= 0, --concurrency >= 1 and intervals > 0",
              file=sys.stderr)
        return 2
    try:
        cfg = configlib.load_kubeconfig(args.kubeconfig)
    except (configlib.ConfigError, OSError) as exc:
        print(f"kubeling hollow-nodes: {exc}", file=sys.stderr)
        return 1
    opts = runner.Options(
        count=args.count, name_prefix=args.name_prefix, first_index=args.first_index, cpu=args.cpu,
        memory=args.memory, pods=args.pods, pod_run_seconds=args.pod_run_seconds,
        heartbeat_interval=args.heartbeat_interval, status_interval=args.status_interval,
        concurrency=args.concurrency, pod_workers=max(1, args.concurrency // 2), cleanup=args.cleanup)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    return asyncio.run(_main(cfg, opts))


async def _main(cfg: configlib.Config, opts: runner.Options) -> int:
    log = logging.getLogger("kubeling.hollow")
    # Room for every limited request plus the two watches (pods, nodes).
    client = rest.Client(cfg, user_agent="kubeling/hollow-nodes", connection_limit=opts.concurrency + 4)
    hollow = runner.HollowNodes(client, opts)
    task = asyncio.ensure_future(hollow.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("stopped")
        return 0
    except rest.ClientError as exc:
        log.error("hollow nodes failed: %s", exc)
        return 1
    finally:
        await client.close()
    return 0
