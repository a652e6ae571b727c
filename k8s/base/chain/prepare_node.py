"""Prepare a chain node's files before its client starts: the init container of every chain pod.

One StatefulSet runs every validator, so each pod finds its own key by its ordinal
(`otcmm-validator-2` uses the `validator-2.*` entries of the validator Secret) and the client
gets only that one key, in a memory-backed emptyDir. Static peers come from the
`otcmm-chain-peers` ConfigMap (each validator's public enode key, written by
`k8s/scripts/create-validator-secrets.sh`) and each validator's own p2p Service, whose ClusterIP
stays the same when the pod moves; the address is resolved here because clients disagree on
host names in enode URLs. A validator whose key is not in the chainspec would never seal, so
that is an error, not a warning.

Runs in the otcmm image with the standard library only; it is mounted from a ConfigMap so the
image stays the same for every role. Exit code 2 and one line on stderr on any problem.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PEER_NAME = re.compile(r"^validator-[0-9]+$")


class PrepareError(Exception):
    """A configuration problem the operator must fix; the pod stays in Init:Error."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        written = prepare(args, os.environ["POD_NAME"], os.environ["POD_NAMESPACE"])
    except (PrepareError, KeyError, OSError, ValueError) as exc:
        print(f"prepare-node: error: {exc}", file=sys.stderr)
        return 2
    print(f"prepare-node: {args.client} {args.role}: wrote {', '.join(sorted(written))}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prepare_node.py", description=__doc__.splitlines()[0])
    p.add_argument("--client", choices=["nethermind", "openethereum"], required=True)
    p.add_argument("--role", choices=["validator", "rpc"], required=True)
    p.add_argument("--chainspec", type=Path, default=Path("/etc/otcmm/chain/chainspec.json"))
    p.add_argument("--keys", type=Path, default=Path("/var/run/secrets/otcmm/validator"))
    p.add_argument("--peers", type=Path, default=Path("/etc/otcmm/peers"))
    p.add_argument("--out", type=Path, default=Path("/node"))
    p.add_argument("--data", type=Path, default=Path("/data"))
    p.add_argument("--peer-host", default="otcmm-{name}-p2p.{namespace}.svc")
    p.add_argument("--p2p-port", type=int, default=30303)
    p.add_argument("--resolve-timeout", type=float, default=120.0)
    return p


def prepare(args: argparse.Namespace, pod_name: str, namespace: str) -> list[str]:
    """Write the client's files into `args.out`; return their names."""
    spec = json.loads(args.chainspec.read_text(encoding="utf-8"))
    own = f"validator-{pod_name.rsplit('-', 1)[-1]}" if args.role == "validator" else None
    enodes = _static_peers(args, own, namespace)
    key = _validator_key(args, own, spec) if own else None
    writer = _nethermind if args.client == "nethermind" else _openethereum
    files = writer(args, spec, enodes, key)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o600)
    return list(files)


def _static_peers(args: argparse.Namespace, own: str | None, namespace: str) -> list[str]:
    """`enode://` URLs of every other validator, by the IP of its p2p Service."""
    peers = {}
    if args.peers.is_dir():
        for path in sorted(args.peers.iterdir()):
            if PEER_NAME.match(path.name) and path.name != own:
                peers[path.name] = _pubkey(path.read_text(encoding="utf-8").strip(), path.name)
    enodes = []
    for name, pubkey in peers.items():
        host = args.peer_host.format(name=name, namespace=namespace)
        address = _resolve(host, args.resolve_timeout)
        if address is None:
            print(f"prepare-node: warning: cannot resolve {host}: peer skipped", file=sys.stderr)
        else:
            enodes.append(f"enode://{pubkey}@{address}:{args.p2p_port}")
    if peers and not enodes:
        raise PrepareError(f"none of the static peers resolved ({', '.join(peers)})")
    return enodes


def _pubkey(text: str, name: str) -> str:
    value = text.removeprefix("0x").lower()
    if not re.fullmatch(r"[0-9a-f]{128}", value):
        raise PrepareError(f"peer {name}: expected a 64-byte public key in hex")
    return value


def _resolve(host: str, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(2)


@dataclass(frozen=True)
class ValidatorKey:
    address: str
    keystore: bytes = field(repr=False)
    password: bytes = field(repr=False)
    node_key: str = field(repr=False)


def _validator_key(args: argparse.Namespace, own: str, spec: dict[str, Any]) -> ValidatorKey:
    base = args.keys / own
    try:
        keystore = Path(f"{base}.json").read_bytes()
        password = Path(f"{base}.password").read_bytes().removesuffix(b"\n")
        node_key = Path(f"{base}.nodekey").read_text(encoding="ascii").strip().removeprefix("0x")
    except FileNotFoundError as exc:
        raise PrepareError(
            f"{exc.filename} missing: run k8s/scripts/create-validator-secrets.sh"
        ) from None
    address = "0x" + str(json.loads(keystore).get("address", "")).lower().removeprefix("0x")
    if not re.fullmatch(r"0x[0-9a-f]{40}", address):
        raise PrepareError(f"{own}.json: keystore has no address field")
    if not re.fullmatch(r"[0-9a-f]{64}", node_key.lower()):
        raise PrepareError(f"{own}.nodekey: expected a 32-byte private key in hex")
    listed = spec["engine"]["authorityRound"]["params"]["validators"].get("list")
    if listed is not None and address not in {a.lower() for a in listed}:
        raise PrepareError(f"{own} key {address} is not a validator in the chainspec")
    return ValidatorKey(address, keystore, password, node_key.lower())


def _nethermind(
    args: argparse.Namespace, spec: dict[str, Any], enodes: list[str], key: ValidatorKey | None
) -> dict[str, bytes]:
    out = args.out
    files = {"static-nodes.json": json.dumps(enodes, indent=2).encode()}
    config: dict[str, Any] = {"Init": {"StaticNodesPath": str(out / "static-nodes.json")}}
    if key is None:  # the node key is generated on first start and kept on the data volume
        config["KeyStore"] = {"EnodeKeyFile": str(args.data / "node.key")}
    else:
        files[f"keystore/key-{key.address}"] = key.keystore
        files["keystore/node.key"] = bytes.fromhex(key.node_key)
        files["password"] = key.password
        config["KeyStore"] = {
            "KeyStoreDirectory": str(out / "keystore"),
            "EnodeKeyFile": str(out / "keystore" / "node.key"),
            "BlockAuthorAccount": key.address,
            "UnlockAccounts": [key.address],
            "PasswordFiles": [str(out / "password")],
        }
    files["nethermind.json"] = json.dumps(config, indent=2).encode()
    return files


def _openethereum(
    args: argparse.Namespace, spec: dict[str, Any], enodes: list[str], key: ValidatorKey | None
) -> dict[str, bytes]:
    out = args.out
    files = {"reserved-peers.txt": "".join(f"{enode}\n" for enode in enodes).encode()}
    lines = ["[network]", f"reserved_peers = {json.dumps(str(out / 'reserved-peers.txt'))}"]
    if key is not None:
        # OpenEthereum looks for keys in <keys_path>/<the chainspec's dataDir or name>/.
        chain_dir = spec.get("dataDir") or spec["name"]
        files[f"keys/{chain_dir}/key-{key.address}.json"] = key.keystore
        files["password"] = key.password + b"\n"
        lines += [
            f"node_key = {json.dumps(key.node_key)}",
            "[parity]",
            f"keys_path = {json.dumps(str(out / 'keys'))}",
            "[account]",
            f"unlock = [{json.dumps(key.address)}]",
            f"password = [{json.dumps(str(out / 'password'))}]",
            "[mining]",
            f"engine_signer = {json.dumps(key.address)}",
            "force_sealing = true",  # seal every step, empty or not: the block time is the step
            'reseal_on_txs = "none"',
        ]
    files["config.toml"] = ("\n".join(lines) + "\n").encode()
    return files


if __name__ == "__main__":
    sys.exit(main())
