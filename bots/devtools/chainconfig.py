"""The PoA network's one source of truth (`chain-config/network.toml`) and what is rendered from it.

The node's chainspec and the anvil dev chain's parameters must never disagree, so both are
rendered from `network.toml` and committed under `chain-config/rendered/`; `check_rendered()`
(run by the tests and by `otcmm chain-config check`) catches an edit to one without the other.
The file holds public addresses only: keys stay with their operators.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bots.devtools.chainspec import render_chainspec
from bots.devtools.devchain import DevChainParams
from bots.devtools.network import Network, load_network
from bots.paths import CHAIN_CONFIG_DIR

RENDERED_DIR = CHAIN_CONFIG_DIR / "rendered"
CHAINSPEC_FILE = RENDERED_DIR / "chainspec.json"
DEVCHAIN_FILE = RENDERED_DIR / "devchain.json"


def devchain_params(network: Network) -> DevChainParams:
    """What anvil needs to behave like the PoA network (same id, limits, rules, fees)."""
    return DevChainParams(
        chain_id=network.chain_id,
        gas_limit=network.gas_limit,
        block_time=network.aura.step_duration,
        hardfork=network.hardfork,
        mnemonic=network.dev.mnemonic,
        accounts=network.dev.accounts,
        balance_ether=network.dev.balance_ether,
        base_fee=network.fees.base_fee_initial,
        gas_price=network.fees.min_gas_price,
    )


def render_all(network: Network) -> dict[Path, str]:
    """The exact text of every rendered file, keyed by its path."""
    return {
        CHAINSPEC_FILE: _json_text(render_chainspec(network)),
        DEVCHAIN_FILE: _json_text(dataclasses.asdict(devchain_params(network))),
    }


def _json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def check_rendered() -> list[Path]:
    """Rendered files whose committed text differs from a fresh render (missing ones included)."""
    return [path for path, text in render_all(load_network()).items() if _read(path) != text]


def write_rendered() -> list[Path]:
    """Re-render from `network.toml`, writing only the files that changed; returns those."""
    changed: list[Path] = []
    for path, text in render_all(load_network()).items():
        if _read(path) != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
