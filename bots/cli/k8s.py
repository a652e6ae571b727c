"""`otcmm k8s render`: write or check the fleet's Kubernetes manifests (`bots.k8s.render`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bots.errors import ConfigError, OtcmmError
from bots.numbers import count
from bots.outputs import writable_dir


def _cmd_render(args: argparse.Namespace) -> int:
    from bots.k8s.render import fleet_names, foreign_files, render, stale_files, write_files

    if args.check:
        if args.out.exists() and not args.out.is_dir():
            raise ConfigError(f"--out {args.out} is a file: give a directory")
    else:
        writable_dir(args.out, "--out")  # before rendering, not after
    files = render(args.fleet, args.out)
    if args.check:
        stale = stale_files(files, args.out)
        for path in stale:
            print(f"out of date: {path}")
        if stale:
            raise OtcmmError(
                "rendered Kubernetes files differ from the fleet: run `otcmm k8s render`"
            )
        print(f"{len(files)} rendered Kubernetes files match {args.fleet}")
        return 0
    foreign = foreign_files(files, args.out)
    if foreign:
        raise ConfigError(
            f"--out {args.out}: holds files otcmm did not render ({foreign[0].name}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}): "
            "choose a new or empty folder, or one `otcmm k8s render` wrote"
        )
    touched = write_files(files, args.out)
    bots = count(len(fleet_names(files, args.out)), "bot")
    print(f"rendered {bots}; {count(len(touched), 'file')} changed")
    return 0


def register(subparsers: Any) -> None:
    """Add `k8s render` to argparse subparsers (see `bots.cli.keystore.register`)."""
    k8s = subparsers.add_parser("k8s", help="Kubernetes manifests of the bot fleet")
    sub = k8s.add_subparsers(dest="k8s_action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "render",
        help="write one Deployment + ConfigMap per bot from the fleet file, and the chainspec copy",
    )
    p.add_argument("--fleet", type=Path, default=Path("k8s/fleet.toml"), help="(k8s/fleet.toml)")
    p.add_argument("--out", type=Path, default=Path("k8s/base/bots"), help="(k8s/base/bots)")
    p.add_argument("--check", action="store_true", help="fail if the committed files differ")
    p.set_defaults(handler=_cmd_render)
