"""chain-config/: the committed network file, its renders, and validation of bad input."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from bots.devtools import chainconfig
from bots.devtools.chainconfig import (
    CHAINSPEC_FILE,
    DEVCHAIN_FILE,
    check_rendered,
    devchain_params,
    render_all,
    write_rendered,
)
from bots.devtools.chainspec import render_chainspec
from bots.devtools.network import NETWORK_FILE, Network, load_network
from bots.errors import ConfigError
from bots.paths import CHAIN_CONFIG_DIR

# Written out here rather than imported, so dropping one from the renderer fails a test.
LONDON_AND_EARLIER = {
    "eip150Transition",
    "eip155Transition",
    "eip160Transition",
    "eip161abcTransition",
    "eip161dTransition",
    "maxCodeSizeTransition",
    "eip140Transition",
    "eip211Transition",
    "eip214Transition",
    "eip658Transition",
    "eip145Transition",
    "eip1014Transition",
    "eip1052Transition",
    "eip1283Transition",
    "eip1283DisableTransition",
    "eip1283ReenableTransition",
    "eip1706Transition",
    "eip1344Transition",
    "eip1884Transition",
    "eip2028Transition",
    "eip2929Transition",
    "eip2930Transition",
    "eip1559Transition",
    "eip3198Transition",
    "eip3529Transition",
    "eip3541Transition",
}
PRECOMPILES = {
    1: "ecrecover",
    2: "sha256",
    3: "ripemd160",
    4: "identity",
    5: "modexp",
    6: "alt_bn128_add",
    7: "alt_bn128_mul",
    8: "alt_bn128_pairing",
    9: "blake2_f",
}


@pytest.fixture(scope="module")
def network() -> Network:
    return load_network()


@pytest.fixture(scope="module")
def spec(network: Network) -> dict[str, Any]:
    return render_chainspec(network)


def test_committed_network_file_loads(network: Network) -> None:
    assert network.name == "otcmm-dev"
    assert network.chain_id == network.network_id == 8995
    assert network.aura.step_duration == 5
    assert network.gas_limit == 30_000_000
    assert network.fees.min_gas_price == 0


def test_committed_rendered_files_equal_a_fresh_render() -> None:
    stale = check_rendered()
    assert stale == [], f"re-render with `otcmm chain-config render`: {stale}"


def test_committed_chainspec_is_the_json_of_render_chainspec(spec: dict[str, Any]) -> None:
    assert json.loads(CHAINSPEC_FILE.read_text(encoding="utf-8")) == spec


def test_chainspec_engine_is_authority_round_with_step_and_validators(
    network: Network, spec: dict[str, Any]
) -> None:
    params = spec["engine"]["authorityRound"]["params"]
    assert params["stepDuration"] == 5
    assert params["validators"] == {"list": [v.lower() for v in network.aura.validators]}
    assert params["maximumUncleCount"] == 0
    assert params["maximumUncleCountTransition"] == 0


def test_chainspec_chain_and_network_id_are_0x2323(spec: dict[str, Any]) -> None:
    assert spec["params"]["chainID"] == "0x2323"
    assert spec["params"]["networkID"] == "0x2323"


def test_chainspec_turns_on_every_london_and_earlier_transition_at_genesis(
    spec: dict[str, Any],
) -> None:
    params = spec["params"]
    missing = LONDON_AND_EARLIER - params.keys()
    assert not missing
    assert {key: params[key] for key in LONDON_AND_EARLIER} == dict.fromkeys(
        LONDON_AND_EARLIER, "0x0"
    )


def test_chainspec_keeps_the_base_fee_at_1_wei(spec: dict[str, Any]) -> None:
    assert spec["genesis"]["baseFeePerGas"] == "0x1"
    assert spec["params"]["eip1559BaseFeeInitialValue"] == "0x1"
    # target == limit: no block can be over target, so the base fee never rises, and an eighth
    # of 1 wei rounds to 0, so it never falls (tests/test_client_rules.py runs both formulas)
    assert spec["params"]["eip1559ElasticityMultiplier"] == "0x1"
    assert spec["params"]["eip1559BaseFeeMaxChangeDenominator"] == "0x8"


def test_chainspec_genesis_has_an_empty_aura_seal(spec: dict[str, Any]) -> None:
    genesis = spec["genesis"]
    assert genesis["seal"] == {"authorityRound": {"step": "0x0", "signature": "0x" + "0" * 130}}
    assert genesis["gasLimit"] == hex(30_000_000)
    assert genesis["difficulty"] == "0x20000"


def test_chainspec_prefunds_every_configured_account(
    network: Network, spec: dict[str, Any]
) -> None:
    assert network.prefunded
    for prefund in network.prefunded:
        account = spec["accounts"][prefund.address.lower()]
        assert int(account["balance"], 16) == prefund.balance_wei


def test_chainspec_has_precompiles_1_to_9_priced_from_genesis(spec: dict[str, Any]) -> None:
    for index, name in PRECOMPILES.items():
        builtin = spec["accounts"][f"0x{index:040x}"]["builtin"]
        assert builtin["name"] == name
        assert list(builtin["pricing"]) == ["0"]
    modexp = spec["accounts"][f"0x{5:040x}"]["builtin"]["pricing"]["0"]["price"]
    assert modexp == {"modexp2565": {}}


def test_devchain_params_mirror_the_network(network: Network) -> None:
    params = devchain_params(network)
    assert params.chain_id == 8995
    assert params.gas_limit == 30_000_000
    assert params.block_time == 5
    assert params.hardfork == "london"
    assert params.mnemonic == network.dev.mnemonic
    assert params.accounts == network.dev.accounts
    assert params.balance_ether == network.dev.balance_ether
    assert params.base_fee == 1
    assert params.gas_price == 0


def test_committed_devchain_json_matches_devchain_params(network: Network) -> None:
    committed = json.loads(DEVCHAIN_FILE.read_text(encoding="utf-8"))
    assert committed == dataclasses.asdict(devchain_params(network))


def test_committed_dev_addresses_derive_from_the_dev_mnemonic(network: Network) -> None:
    Account.enable_unaudited_hdwallet_features()
    derived = [
        Account.from_mnemonic(network.dev.mnemonic, account_path=f"m/44'/60'/0'/0/{i}").address
        for i in range(network.dev.accounts + 1)
    ]
    assert set(network.aura.validators) <= set(derived)
    assert [p.address for p in network.prefunded] == derived[: network.dev.accounts]
    assert {p.balance_wei for p in network.prefunded} == {network.dev.balance_ether * 10**18}


def test_render_all_renders_the_two_files(network: Network) -> None:
    assert set(render_all(network)) == {CHAINSPEC_FILE, DEVCHAIN_FILE}
    assert all(text.endswith("}\n") for text in render_all(network).values())


def test_write_rendered_writes_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_file, dev_file = tmp_path / "chainspec.json", tmp_path / "devchain.json"
    monkeypatch.setattr(chainconfig, "CHAINSPEC_FILE", spec_file)
    monkeypatch.setattr(chainconfig, "DEVCHAIN_FILE", dev_file)

    assert check_rendered() == [spec_file, dev_file]
    assert write_rendered() == [spec_file, dev_file]
    assert write_rendered() == []
    assert check_rendered() == []
    dev_file.write_text("{}\n", encoding="utf-8")
    assert check_rendered() == [dev_file]


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    """The committed network file with one edit, so each case breaks exactly one thing."""
    text = NETWORK_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "network.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


VALIDATOR = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("step_duration = 5", "step_duration = -5", "aura.step_duration: must be > 0"),
        ("step_duration = 5", "step_duration = 0", "aura.step_duration: must be > 0"),
        ("step_duration = 5", 'step_duration = "5"', "aura.step_duration: "),
        (VALIDATOR, "0x1234", "aura.validators[0]: '0x1234' is not an address: expected 0x"),
        # mixed case with a wrong EIP-55 checksum: a typo, not a different spelling
        (
            VALIDATOR,
            VALIDATOR.replace("Bcd4", "bCd4"),
            f"aura.validators[0]: '{VALIDATOR.replace('Bcd4', 'bCd4')}' has a bad EIP-55 checksum",
        ),
        (VALIDATOR, VALIDATOR[2:], f"aura.validators[0]: '{VALIDATOR[2:]}' is not an address"),
        (
            f'validators = ["{VALIDATOR}"]',
            f'validators = ["{VALIDATOR}", "{VALIDATOR.lower()}"]',
            "aura.validators: listed more than once",
        ),
        (f'validators = ["{VALIDATOR}"]', "validators = []", "aura.validators: needs at least 1"),
        (f'validators = ["{VALIDATOR}"]', "", "aura.validators: required field is missing"),
        ("[aura]\n", "[aura]\ncolour = 1\n", "aura.colour: unknown field"),
        ("chain_id = 8995", "chain_id = 0", "chain_id: must be > 0"),
        ('hardfork = "london"', 'hardfork = "berlin"', "hardfork: must be one of 'london'"),
        ("gas_limit = 30_000_000", "gas_limit = 4999", "gas_limit: must be >= 5000"),
        (
            'balance_wei = "10000000000000000000000"',
            'balance_wei = "10 ether"',
            "prefunded[0].balance_wei: must be a whole number of wei",
        ),
        (
            'balance_wei = "10000000000000000000000"',
            "balance_wei = -1",
            "prefunded[0].balance_wei: must be >= 0",
        ),
        ("accounts = 10", "accounts = 0", "dev.accounts: must be > 0"),
        (
            "base_fee_initial = 1",
            "base_fee_initial = 0",
            "fees.base_fee_initial: must be >= 1 wei: Nethermind drops zero-fee transactions",
        ),
        (
            "base_fee_max_change_denominator = 8",
            "base_fee_max_change_denominator = 1",
            "fees.base_fee_max_change_denominator: must be >= 2: with 1, one empty block",
        ),
        ("min_gas_price = 0", "min_gas_price = -1", "fees.min_gas_price: must be >= 0"),
    ],
)
def test_invalid_network_file_raises_one_line_naming_the_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_network(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {expected}")


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    path = _variant(tmp_path, "step_duration = 5", "step_duration = 0\ncolour = 1")
    with pytest.raises(ConfigError) as caught:
        load_network(path)
    assert str(caught.value).splitlines() == [
        f"{path}: aura.step_duration: must be > 0",
        f"{path}: aura.colour: unknown field (check for a typo)",
    ]


def test_errors_name_repository_files_relative_to_the_repository() -> None:
    with pytest.raises(ConfigError) as caught:
        load_network(NETWORK_FILE.parent / "missing.toml")
    assert str(caught.value) == "network file not found: chain-config/missing.toml"


def test_malformed_toml_raises_a_one_line_config_error(tmp_path: Path) -> None:
    path = tmp_path / "network.toml"
    path.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid TOML") as caught:
        load_network(path)
    assert "\n" not in str(caught.value)


_KEY_LIKE = re.compile(r"(?<![0-9a-fA-F])(?:0x)?([0-9a-fA-F]{64})(?![0-9a-fA-F])")


def test_no_committed_chain_config_file_contains_a_private_key() -> None:
    files = [NETWORK_FILE, *sorted((CHAIN_CONFIG_DIR / "rendered").glob("*"))]
    assert CHAINSPEC_FILE in files and DEVCHAIN_FILE in files
    for path in files:
        hits = [
            m.group(1)
            for m in _KEY_LIKE.finditer(path.read_text(encoding="utf-8"))
            if set(m.group(1)) != {"0"}
        ]
        assert hits == [], f"{path.name} holds a 32-byte hex string that could be a private key"
