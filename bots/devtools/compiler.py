"""Reproducible compilation of the Solidity contracts into committed JSON artifacts.

The runtime never compiles: it loads `contracts/build/*.json`. This module rebuilds those files
byte for byte, so an operator can prove which bytecode runs. It drives py-solc-x with a native
solc 0.8.28 when one is installed (or installable), and otherwise solc-js 0.8.28 from
`node_modules` through a small shim that speaks the native command line.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import solcx
from solcx.exceptions import SolcError
from solcx.install import get_executable

from bots.errors import CompileError, ToolchainError
from bots.paths import BUILD_DIR, CONTRACTS_DIR, NODE_MODULES, REPO_ROOT

SOLC_VERSION = "0.8.28"
SOLC_LONG_VERSION = "0.8.28+commit.7893614a"
EVM_VERSION = "london"  # no PUSH0: the contracts must run on OpenEthereum/Nethermind AuRa chains
OPTIMIZER_RUNS = 10_000  # deployed once, called all day: favour call gas over deployment size

SHIM = Path(__file__).with_name("solcjs_shim.js")

CompilerChoice = Literal["auto", "native", "solcjs"]

_IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class SourceGroup:
    """Contracts compiled together into one artifact folder."""

    source_dir: Path
    build_dir: Path


PRODUCTION = SourceGroup(CONTRACTS_DIR, BUILD_DIR)
TEST_ONLY = SourceGroup(CONTRACTS_DIR / "test", BUILD_DIR / "test")
GROUPS = (PRODUCTION, TEST_ONLY)


def compiler_settings() -> dict[str, Any]:
    """Settings that, with the sources, fully determine the bytecode."""
    return {
        "evmVersion": EVM_VERSION,
        "viaIR": True,
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "metadata": {"bytecodeHash": "ipfs"},
        "outputSelection": {
            "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}
        },
    }


def collect_sources(entry_points: Iterable[Path]) -> dict[str, str]:
    """Map source unit names to contents, following imports into node_modules.

    Unit names are repo-relative (`contracts/OtcMarket.sol`) or package paths
    (`@openzeppelin/...`), never absolute, so the metadata hash does not depend on where the
    checkout lives.
    """
    sources: dict[str, str] = {}
    pending = [path.resolve().relative_to(REPO_ROOT).as_posix() for path in entry_points]
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        sources[unit] = _read_unit(unit)
        for imported in _IMPORT.findall(sources[unit]):
            if imported.startswith("."):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(unit), imported))
            pending.append(imported)
    return dict(sorted(sources.items()))


def _read_unit(unit: str) -> str:
    path = NODE_MODULES / unit if unit.startswith("@") else REPO_ROOT / unit
    if not path.is_file():
        hint = " (run `npm ci`)" if unit.startswith("@") else ""
        raise CompileError(f"cannot find Solidity source {unit}{hint}")
    return path.read_text(encoding="utf-8")


def find_compiler(choice: CompilerChoice = "auto") -> Path:
    """Return a solc 0.8.28 executable: native when possible, else the solc-js shim."""
    if choice in ("auto", "native"):
        native = _native_solc()
        if native is not None:
            return native
        if choice == "native":
            raise ToolchainError(f"no native solc {SOLC_VERSION} is installed or installable")
    if not (NODE_MODULES / "solc" / "package.json").is_file():
        raise ToolchainError("solc-js is not installed: run `npm ci` in the repository root")
    if shutil.which("node") is None:
        raise ToolchainError("node is not on PATH: it is needed to run solc-js")
    return SHIM


def _native_solc() -> Path | None:
    on_path = shutil.which("solc")
    if on_path and _reports_version(Path(on_path)):
        return Path(on_path)
    try:
        return Path(get_executable(SOLC_VERSION))
    except Exception:  # noqa: BLE001, S110 - not installed yet: try installing below
        pass
    try:
        solcx.install_solc(SOLC_VERSION, show_progress=False)
        return Path(get_executable(SOLC_VERSION))
    except Exception:  # noqa: BLE001 - offline or unsupported platform: fall back to solc-js
        return None


def _reports_version(binary: Path) -> bool:
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return False
    return f"Version: {SOLC_VERSION}+" in out


def compile_group(group: SourceGroup, solc_binary: Path) -> dict[str, dict[str, Any]]:
    """Compile one source group; return artifacts keyed by contract name."""
    entry_points = sorted(group.source_dir.glob("*.sol"))
    if not entry_points:
        return {}
    settings = compiler_settings()
    standard_input = {
        "language": "Solidity",
        "sources": {
            unit: {"content": text} for unit, text in collect_sources(entry_points).items()
        },
        "settings": settings,
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=solc_binary)
    except SolcError as exc:
        raise CompileError(_first_error(exc)) from None
    own_units = {p.resolve().relative_to(REPO_ROOT).as_posix() for p in entry_points}
    artifacts: dict[str, dict[str, Any]] = {}
    for unit in sorted(own_units):
        for name, contract in sorted(output["contracts"].get(unit, {}).items()):
            if not contract["evm"]["bytecode"]["object"]:
                continue  # abstract contract or interface: nothing to deploy
            artifacts[name] = {
                "contractName": name,
                "sourceName": unit,
                "abi": contract["abi"],
                "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
                "metadata": contract["metadata"],
                "compiler": {
                    "version": SOLC_LONG_VERSION,
                    "settings": _artifact_settings(settings),
                },
            }
    return artifacts


def _artifact_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key != "outputSelection"}


def _first_error(exc: SolcError) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "Error" in line:
            return f"solc: {line.strip()}"
    return f"solc failed: {text.splitlines()[0] if text else 'no output'}"


def render_artifact(artifact: dict[str, Any]) -> str:
    """The exact text committed for an artifact (stable key order, trailing newline)."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def build_all(choice: CompilerChoice = "auto") -> dict[Path, str]:
    """Compile every group; return file contents keyed by their artifact path."""
    solc_binary = find_compiler(choice)
    files: dict[Path, str] = {}
    for group in GROUPS:
        for name, artifact in compile_group(group, solc_binary).items():
            files[group.build_dir / f"{name}.json"] = render_artifact(artifact)
    return files


def write_artifacts(files: dict[Path, str]) -> list[Path]:
    """Write artifacts, removing stale ones; return the paths that changed."""
    changed: list[Path] = []
    for group in GROUPS:
        group.build_dir.mkdir(parents=True, exist_ok=True)
        for stale in group.build_dir.glob("*.json"):
            if stale not in files:
                stale.unlink()
                changed.append(stale)
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
