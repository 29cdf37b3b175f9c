"""The ``kubeling`` command."""

from __future__ import annotations

import argparse
import sys

from kubeling.cli import agent as agent_cmd
from kubeling.cli import components as components_cmd
from kubeling.cli import hollow as hollow_cmd
from kubeling.cli import image as image_cmd
from kubeling.cli import server as server_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeling",
        description="Kubernetes written in Python: run a cluster with `kubeling server`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    server_cmd.add_parser(sub)
    agent_cmd.add_parser(sub)
    components_cmd.add_parser(sub)
    hollow_cmd.add_parser(sub)
    image_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
