"""The managed dev chain starts from chain-config, mines in each mode and always stops."""

import dataclasses
import os
import time
from pathlib import Path

import pytest

from bots.devtools.devchain import DevChain, DevChainParams, anvil_binary, dev_accounts
from bots.errors import DevChainError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


def test_devchain_uses_chain_config_id_gas_limit_and_accounts(chain_params: DevChainParams) -> None:
    with DevChain(chain_params) as chain:
        assert chain.url.startswith("http://127.0.0.1:")
        assert int(str(chain.rpc("eth_chainId")), 16) == chain_params.chain_id
        block = chain.rpc("eth_getBlockByNumber", ["latest", False])
        assert isinstance(block, dict)
        assert int(block["gasLimit"], 16) == chain_params.gas_limit
        first = dev_accounts(chain_params, 1)[0].address
        balance = int(str(chain.rpc("eth_getBalance", [first, "latest"])), 16)
        assert balance == chain_params.balance_ether * 10**18


def test_stop_ends_the_anvil_process(chain_params: DevChainParams) -> None:
    chain = DevChain(chain_params).start()
    pid = chain.pid
    assert pid is not None and _alive(pid)
    chain.stop()
    assert not _alive(pid)


def test_manual_mode_mines_only_on_request(chain_params: DevChainParams) -> None:
    with DevChain(chain_params, mode="manual") as chain:
        assert chain.rpc("eth_blockNumber") == "0x0"
        chain.rpc("evm_mine")
        assert chain.rpc("eth_blockNumber") == "0x1"


def test_interval_mode_mines_on_the_block_time(chain_params: DevChainParams) -> None:
    fast = dataclasses.replace(chain_params, block_time=1)
    with DevChain(fast, mode="interval") as chain:
        assert "--block-time" in chain.command()
        deadline = time.monotonic() + 10
        while int(str(chain.rpc("eth_blockNumber")), 16) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(str(chain.rpc("eth_blockNumber")), 16) >= 1


def test_two_chains_get_different_free_ports(chain_params: DevChainParams) -> None:
    with DevChain(chain_params) as first, DevChain(chain_params) as second:
        assert first.url != second.url


def test_missing_anvil_binary_is_a_clear_error(
    chain_params: DevChainParams, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTCMM_ANVIL", str(tmp_path / "no-anvil"))
    with pytest.raises(DevChainError, match="cannot start anvil"):
        DevChain(chain_params).start()


def test_anvil_comes_from_the_platform_package() -> None:
    assert "@foundry-rs" in str(anvil_binary())


def test_a_node_that_hangs_silently_fails_start_within_the_timeout(
    chain_params: DevChainParams, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    silent = tmp_path / "silent-anvil"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    monkeypatch.setenv("OTCMM_ANVIL", str(silent))
    chain = DevChain(chain_params, start_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(DevChainError, match="anvil did not start: no output"):
        chain.start()
    # Not a speed check: start must give up on its own, before the silent node would have
    # exited by itself (60 s), which is what made the old line-by-line wait return at all.
    assert time.monotonic() - started < 60
    assert chain.pid is None


def test_a_node_that_exits_at_once_reports_its_last_words(
    chain_params: DevChainParams, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-anvil"
    broken.write_text("#!/bin/sh\necho 'error: unsupported hardfork'\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("OTCMM_ANVIL", str(broken))
    with pytest.raises(DevChainError, match="anvil did not start: error: unsupported hardfork"):
        DevChain(chain_params).start()
