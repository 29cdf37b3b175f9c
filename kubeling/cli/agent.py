"""``kubeling agent``: the node agent (kubelet, runc runtime) joining a server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import ssl
import sys
import urllib.request
from typing import Any

from kubeling.cli import server as server_cmd
from kubeling.client import config as configlib
from kubeling.client import rest
from kubeling.kubelet import agent as agentlib
from kubeling.lib import jointoken


def add_parser(sub: Any) -> None:
    p = sub.add_parser("agent", help="run a node agent that joins a kubeling server",
                       description="Run the kubelet and the runc runtime on this host as a node of a cluster.")
    p.add_argument("--server", required=True, help="the API server URL, e.g. https://10.0.0.1:6443")
    p.add_argument("--token", default="", help="the join token (the server prints it and keeps it in <data-dir>/token)")
    p.add_argument("--token-file", type=pathlib.Path, default=None, help="read the join token from this file")
    p.add_argument("--node-name", default="", help="node name (default: the host name)")
    p.add_argument("--node-ip", default="", help="the address the node is reached at (default: the first "
                                                 "non-loopback address)")
    p.add_argument("--data-dir", type=pathlib.Path, default=None,
                   help="images, containers and pod data (default /var/lib/kubeling as root, else ~/.kubeling)")
    p.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE", help="a label for the node")
    server_cmd.add_eviction_flags(p)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def fetch_ca(server: str, token: jointoken.Token) -> bytes:
    """The cluster CA from ``/cacerts``, trusted only if it matches the token's hash."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # verified below against the hash in the token
    with urllib.request.urlopen(server.rstrip("/") + "/cacerts", context=ctx, timeout=10) as r:
        pem = r.read()
    if not token.matches_ca(pem):
        raise jointoken.TokenError("the server's CA does not match the join token: wrong server or token")
    return bytes(pem)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if err := server_cmd.eviction_options_error(args):
        print(f"kubeling agent: {err}", file=sys.stderr)
        return 2
    text = args.token or (args.token_file.read_text() if args.token_file else "")
    try:
        token = jointoken.parse(text)
        if not token.ca_hash:
            raise jointoken.TokenError("give the full join token (K10…::node:…) so the server's CA can be checked")
        ca = fetch_ca(args.server, token)
    except (jointoken.TokenError, OSError) as exc:
        print(f"kubeling agent: {exc}", file=sys.stderr)
        return 2
    labels = {}
    for item in args.node_label:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"kubeling agent: --node-label {item!r} must be KEY=VALUE", file=sys.stderr)
            return 2
        labels[key] = value
    data_dir = (args.data_dir or server_cmd.default_data_dir()).resolve()
    cfg = configlib.Config(server=args.server, ca_data=ca, token=token.secret)
    opts = agentlib.Options(data_dir=data_dir, node_name=args.node_name, node_ip=args.node_ip, labels=labels,
                            **server_cmd.eviction_options(args))
    return server_cmd.run_loop(_serve(cfg, opts))


async def _serve(cfg: configlib.Config, opts: agentlib.Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with rest.Client(cfg, user_agent="kubeling/agent") as client:
        agent = agentlib.Agent(client, opts)
        task = asyncio.create_task(agent.run())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if task in done and task.exception() is not None:
            logging.getLogger("kubeling").error("agent stopped: %s", task.exception())
            code = 1
        # Containers keep running: a restarted agent adopts them.
        for t in (task, stopper):
            t.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
        return code
