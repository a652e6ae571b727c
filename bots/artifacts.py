"""Loading the committed contract artifacts (the runtime never needs a compiler)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bots.errors import ToolchainError
from bots.paths import BUILD_DIR


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str, *, test_only: bool = False) -> Artifact:
    """Load `contracts/build/<name>.json` (or `build/test/` for test-only contracts)."""
    path = (BUILD_DIR / "test" if test_only else BUILD_DIR) / f"{name}.json"
    return _read(path)


def _read(path: Path) -> Artifact:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolchainError(f"missing contract artifact {path}: run `otcmm compile`") from None
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


@cache
def all_abis() -> tuple[tuple[dict[str, Any], ...], ...]:
    """Every committed ABI, production and test-only, for decoding custom errors."""
    paths = sorted(BUILD_DIR.glob("*.json")) + sorted((BUILD_DIR / "test").glob("*.json"))
    return tuple(tuple(_read(path).abi) for path in paths)
