"""`otcmm seed` and `otcmm fleet keystores`: initialize a market, and make the fleet's keys.

`seed` runs as a one-shot Kubernetes Job: it is safe to run again (a second run sends nothing)
and resumes where an interrupted run stopped. SIGTERM or SIGINT stops it at the next
transaction boundary with one line saying where, exit code 128 + the signal number. A
deployment file that could not be written is refused (exit 2) before anything is sent.
`--dry-run` needs no password: it reads the
initializer's address from its keystore and prints the actions a run would send. Passwords come
from a file (a mounted Secret), `$OTCMM_KEYSTORE_PASSWORD` or a prompt, never from argv.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.cli import argtypes
from bots.cli.keystore import scrypt_n_from_env
from bots.cli.parser import hide_values
from bots.cli.progress import every_step, progress
from bots.errors import ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RPC_URL_ENV = "OTCMM_RPC_URL"
DEFAULT_RPC_URL = "http://127.0.0.1:8545"


def _cmd_fleet_keystores(args: argparse.Namespace) -> int:
    from bots.chain.keystore import Secret, read_password
    from bots.seed.plan import fleet_keystores, load_plan

    plan = load_plan(args.plan)
    missing = {p.name for p in plan.participants if p.keystore and not p.keystore.exists()}
    password: Secret = Secret("")
    if missing:  # ask only when there is something to encrypt
        password = read_password(password_file=args.password_file, prompt=True, confirm=True)
    addresses = fleet_keystores(plan, password, scrypt_n_from_env())
    for name, address in addresses.items():
        print(f"{'created' if name in missing else 'exists ':<7} {name:<20} {address}")
    print(f"{len(missing)} created, {len(addresses) - len(missing)} already existed")
    return 0


def _cmd_seed(args: argparse.Namespace) -> int:
    from bots.chain.keystore import keystore_address, read_password, unlock
    from bots.chain.rpc import check_connection, connect
    from bots.market.deployment import check_writable
    from bots.seed.actions import format_actions
    from bots.seed.interrupt import stop_on_signals
    from bots.seed.plan import load_plan
    from bots.seed.run import format_report, format_settled, plan_seed, run_seed

    plan = load_plan(args.plan)
    deployment_path: Path = args.deployment or args.plan.parent / "deployment.json"
    if not args.dry_run:
        check_writable(deployment_path)  # before a password prompt, and before anything is sent
    # Who signs is settled before the node is contacted: a bad keystore, password or
    # --dev-account costs no request.
    initializer: LocalAccount | None = None
    if args.keystore is None:
        initializer = _dev_account(args.dev_account)
        address = str(initializer.address)
    elif args.dry_run:
        address = keystore_address(args.keystore)
    else:
        password = read_password(password_file=args.password_file, prompt=True)
        initializer = unlock(args.keystore, password)
        address = str(initializer.address)
    w3 = connect(args.rpc_url or os.environ.get(RPC_URL_ENV) or DEFAULT_RPC_URL)
    check_connection(w3, args.chain_id)
    if args.dry_run or initializer is None:
        ready = plan_seed(w3, address, plan, deployment_path)
        lines = [*format_settled(ready.notes), format_actions(ready.actions)]
        print("\n".join(lines) + "\ndry run: nothing sent")
        return 0
    with stop_on_signals() as stop, progress("seed", "tx", every_step) as update:
        report = run_seed(w3, initializer, plan, deployment_path, progress=update, stop=stop)
    print(format_report(report))
    print(f"deployment: {deployment_path}")
    return 0


def _dev_account(index: int) -> LocalAccount:
    """A prefunded account of the dev chain (public mnemonic in chain-config): DEV ONLY."""
    from bots.devtools.chainconfig import devchain_params
    from bots.devtools.devchain import dev_accounts
    from bots.devtools.network import load_network

    params = devchain_params(load_network())
    if not 0 <= index < params.accounts:
        raise ConfigError(f"--dev-account must be in [0, {params.accounts})")
    return dev_accounts(params, index + 1)[index]


def register(subparsers: Any) -> None:
    """Add `seed` and `fleet keystores` to argparse subparsers (see `keystore_cli.register`)."""
    p = subparsers.add_parser(
        "seed",
        help="deploy the market and assets, issue, and fund participants (idempotent)",
    )
    hide_values(p)  # it unlocks the initializer's keystore
    p.add_argument("--plan", type=Path, required=True, help="the seed plan (TOML)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--keystore", type=Path, help="the initializer's (central bank's) keystore")
    who.add_argument(
        "--dev-account",
        type=argtypes.integer(0, 2**31 - 1),
        metavar="N",
        help="DEV ONLY: use prefunded account N of the local dev chain as the initializer",
    )
    _password_option(p)
    p.add_argument(
        "--rpc-url", help=f"JSON-RPC endpoint (default ${RPC_URL_ENV}, else {DEFAULT_RPC_URL})"
    )
    p.add_argument(
        "--deployment",
        type=Path,
        help="deployment file to read and update (default: deployment.json next to the plan)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the actions, send nothing")
    p.add_argument(
        "--chain-id",
        type=argtypes.integer(1, 2**63 - 1),
        help="refuse to run unless the node serves this id",
    )
    p.set_defaults(handler=_cmd_seed)

    fleet = subparsers.add_parser("fleet", help="manage the participants of a seed plan")
    sub = fleet.add_subparsers(dest="fleet_action", required=True, metavar="ACTION")
    p = sub.add_parser(
        "keystores",
        help="create the missing keystore of every participant (never overwrites)",
    )
    hide_values(p)
    p.add_argument("--plan", type=Path, required=True, help="the seed plan (TOML)")
    _password_option(p)
    p.set_defaults(handler=_cmd_fleet_keystores)


def _password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file",
        type=Path,
        help="file holding the password (one trailing newline ignored); "
        "else $OTCMM_KEYSTORE_PASSWORD, else a prompt",
    )
