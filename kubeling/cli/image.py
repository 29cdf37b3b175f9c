"""``kubeling image import|pull|ls|rm``: the node's image store.

Works on ``<data-dir>/images`` directly (the store is safe to share with a
running agent: writes are atomic and the index is locked). ``pull`` fetches
from a registry over the OCI distribution API (plain HTTP for loopback
registries and those given with ``--insecure-registry``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import pathlib
import sys
from typing import Any

from kubeling.cli import server as server_cmd
from kubeling.kubelet.images import importer, puller, reference
from kubeling.kubelet.images import store as storelib


def add_parser(sub: Any) -> None:
    p = sub.add_parser("image", help="manage the node's images (import archives, list, remove)",
                       description="Manage the images of this node's container runtime.")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    for name, helptext in (("import", "import an OCI image-layout or `docker save` archive"),
                           ("pull", "pull an image from a registry"),
                           ("ls", "list images"), ("rm", "remove images")):
        q = isub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        q.add_argument("--data-dir", type=pathlib.Path, default=None,
                       help="the node's data directory (default /var/lib/kubeling as root, else ~/.kubeling)")
        if name == "import":
            q.add_argument("files", nargs="+", metavar="FILE", help="image archive (tar, optionally gzip)")
        elif name == "pull":
            q.add_argument("ref", metavar="REF", help="image reference (busybox, host:5000/app:1, name@sha256:...)")
            q.add_argument("--creds", metavar="USER[:PASSWORD]", default=None,
                           help="credential for the image's registry")
            q.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                           help="talk plain HTTP to this registry (loopback registries always are); repeatable")
        elif name == "rm":
            q.add_argument("refs", nargs="+", metavar="REF", help="image reference, digest or ID")
        elif name == "ls":
            q.add_argument("-q", "--quiet", action="store_true", help="print only image IDs")
        q.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000
    return f"{n}B"


def run(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or server_cmd.default_data_dir()).resolve()
    try:
        store = storelib.Store(data_dir)
    except OSError as exc:
        print(f"kubeling image: {exc}", file=sys.stderr)
        return 1
    code = 0
    if args.image_command == "import":
        for f in args.files:
            try:
                images = importer.import_archive(store, str(f))
            except (storelib.ImageError, OSError, ValueError, KeyError) as exc:
                print(f"kubeling image import: {f}: {exc}", file=sys.stderr)
                code = 1
                continue
            for img in images:
                for name in img.references or [img.manifest_digest]:
                    print(f"imported {name} ({img.id})")
    elif args.image_command == "pull":
        return _pull(store, args)
    elif args.image_command == "ls":
        images = store.list()
        if args.quiet:
            for img in images:
                print(img.id)
            return 0
        rows = [("REFERENCE", "DIGEST", "IMAGE ID", "SIZE")]
        for img in images:
            for name in img.references or ["<none>"]:
                rows.append((name, img.manifest_digest[7:19], img.id[7:19], _human(img.size)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    elif args.image_command == "rm":
        for ref in args.refs:
            try:
                for name in store.remove(ref) or [ref]:
                    print(f"deleted {name}")
            except storelib.ImageError as exc:
                print(f"kubeling image rm: {exc}", file=sys.stderr)
                code = 1
    return code


def _pull(store: storelib.Store, args: argparse.Namespace) -> int:
    secrets = []
    if args.creds is not None:
        user, _, password = args.creds.partition(":")
        try:
            domain = reference.parse(args.ref).domain
        except reference.InvalidReference as exc:
            print(f"kubeling image pull: {exc}", file=sys.stderr)
            return 1
        # The same shape a pod's imagePullSecrets has, so one code path reads both.
        config = {"auths": {domain: {"username": user, "password": password}}}
        secrets.append({"type": puller.SECRET_DOCKERCONFIGJSON,
                        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}})
    try:
        image = asyncio.run(puller.ensure_image(store, args.ref, policy=puller.ALWAYS, credentials=secrets,
                                                insecure_registries=args.insecure_registry))
    except storelib.ImageError as exc:
        print(f"kubeling image pull: {exc}", file=sys.stderr)
        return 1
    for name in image.references:
        print(f"pulled {name} ({image.id})")
    return 0
