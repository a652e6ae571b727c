"""The committed artifacts are exactly what the pinned compiler produces from the sources."""

from pathlib import Path

import pytest

from bots.devtools.compiler import EVM_VERSION, SOLC_LONG_VERSION, build_all, collect_sources
from bots.errors import CompileError
from bots.paths import BUILD_DIR


@pytest.fixture(scope="module")
def fresh() -> dict[Path, str]:
    return build_all("auto")


def test_fresh_compile_equals_committed_artifacts_byte_for_byte(fresh: dict[Path, str]) -> None:
    committed = sorted(BUILD_DIR.rglob("*.json"))
    assert sorted(fresh) == committed
    for path, text in fresh.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} differs"


def test_artifacts_record_compiler_and_london_target(fresh: dict[Path, str]) -> None:
    market = fresh[BUILD_DIR / "OtcMarket.json"]
    assert SOLC_LONG_VERSION in market
    assert f'"evmVersion": "{EVM_VERSION}"' in market


def test_deployed_code_has_no_push0_so_it_runs_on_london_chains() -> None:
    import json

    from eth_utils import to_bytes

    for name in ("OtcMarket", "AssetToken"):
        code = to_bytes(
            hexstr=json.loads((BUILD_DIR / f"{name}.json").read_text())["deployedBytecode"]
        )
        assert not _has_opcode(code, 0x5F), f"{name} uses PUSH0"


def _has_opcode(code: bytes, opcode: int) -> bool:
    i = 0
    while i < len(code):
        op = code[i]
        if op == 0xFE:  # INVALID marks the start of the metadata trailer
            break
        if op == opcode:
            return True
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return False


def test_sources_resolve_openzeppelin_from_node_modules() -> None:
    from bots.paths import CONTRACTS_DIR

    units = collect_sources([CONTRACTS_DIR / "AssetToken.sol"])
    assert "contracts/AssetToken.sol" in units
    assert "@openzeppelin/contracts/token/ERC20/ERC20.sol" in units
    assert all(not unit.startswith("/") for unit in units)


def test_missing_import_is_a_clear_compile_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bots.devtools.compiler as compiler

    monkeypatch.setattr(compiler, "REPO_ROOT", tmp_path)
    (tmp_path / "contracts").mkdir()
    source = tmp_path / "contracts" / "Broken.sol"
    source.write_text('import "@nowhere/Missing.sol";\n')
    with pytest.raises(CompileError, match="cannot find Solidity source @nowhere/Missing.sol"):
        collect_sources([source])
