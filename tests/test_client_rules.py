"""The PoA network as Nethermind 1.28 and OpenEthereum 3.3.5 run it (issue 16).

No client binary runs here, so each test holds a rendered file (the chainspec, the kustomize
build of `k8s/`, the node config `prepare_node.py` writes) or the bots' fee logic against one
client rule modelled from the client's source in `tests/clientrules.py`. An edit of
`chain-config/network.toml` that brings back a zero base fee, a header the clients hash
differently, a shrinking gas limit or an unknown OpenEthereum key fails here.
"""

from __future__ import annotations

import json
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from bots.chain.fees import current_fees, eip1559_fees, legacy_fees
from bots.devtools.chainconfig import CHAINSPEC_FILE
from bots.devtools.network import load_network
from bots.k8s.nodeflags import node_flags
from tests import clientrules as rules
from tests.chainfixtures import World
from tests.test_k8s import K8S, _node_dirs, kustomize, named, prepare_node

SPEC: dict[str, Any] = json.loads(CHAINSPEC_FILE.read_text(encoding="utf-8"))
PARAMS = SPEC["params"]
GAS_LIMIT = int(SPEC["genesis"]["gasLimit"], 16)
BOUND_DIVISOR = int(PARAMS["gasLimitBoundDivisor"], 16)
GENESIS_BASE_FEE = int(SPEC["genesis"]["baseFeePerGas"], 16)
EIP1559 = rules.Eip1559(
    denominator=int(PARAMS["eip1559BaseFeeMaxChangeDenominator"], 16),
    elasticity=int(PARAMS["eip1559ElasticityMultiplier"], 16),
)
LONDON = int(PARAMS["eip1559Transition"], 16)
NODES = ("otcmm-validator", "otcmm-rpc")
GWEI = 10**9


@cache
def node_args(overlay: str, node: str) -> tuple[str, ...]:
    """The chain client's arguments in one StatefulSet of a built overlay."""
    pod = named(kustomize(K8S / "overlays" / overlay), "StatefulSet", node)["spec"]["template"]
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "node"]
    return tuple(container["args"])


def flags(args: tuple[str, ...]) -> dict[str, str | None]:
    """`--name value` pairs (a flag followed by another flag, or last, is a switch: None)."""
    out: dict[str, str | None] = {}
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            following = args[i + 1] if i + 1 < len(args) else "-"
            out[arg] = None if following.startswith("-") else following
    return out


def flag(overlay: str, node: str, name: str) -> int:
    value = flags(node_args(overlay, node)).get(name)
    assert value is not None, f"{overlay} {node}: no {name}"
    return int(value)


def reachable_base_fees(next_fee: rules.NextBaseFee, blocks: int = 3000) -> set[int]:
    """Every base fee a run of empty or full blocks reaches from genesis (the formula is
    monotonic in gas used, so these bound every other run)."""
    seen = {GENESIS_BASE_FEE}
    for used in (0, GAS_LIMIT // EIP1559.elasticity, GAS_LIMIT):
        fee = GENESIS_BASE_FEE
        for _ in range(blocks):
            fee = next_fee(fee, used, GAS_LIMIT, EIP1559)
            seen.add(fee)
    return seen


# --- 1. fees that Nethermind relays ------------------------------------------------------------


@pytest.mark.parametrize("client", sorted(rules.BASE_FEE_RULES))
def test_the_base_fee_stays_at_its_nonzero_genesis_value(client: str) -> None:
    assert reachable_base_fees(rules.BASE_FEE_RULES[client]) == {GENESIS_BASE_FEE}
    assert GENESIS_BASE_FEE >= 1
    assert int(PARAMS["eip1559BaseFeeInitialValue"], 16) == GENESIS_BASE_FEE  # either key read


@given(st.lists(st.integers(0, GAS_LIMIT), max_size=50))
def test_no_sequence_of_blocks_moves_the_base_fee(used: list[int]) -> None:
    for next_fee in rules.BASE_FEE_RULES.values():
        fee = GENESIS_BASE_FEE
        for gas in used:
            fee = next_fee(fee, gas, GAS_LIMIT, EIP1559)
            assert fee == GENESIS_BASE_FEE


def test_the_dev_chain_runs_the_networks_fee_policy_and_every_pool_takes_the_bots_fees(
    world: World,
) -> None:
    base_fee = int(world.w3.eth.get_block("latest")["baseFeePerGas"])
    assert base_fee == GENESIS_BASE_FEE
    tx = rules.Tx.of(current_fees(world.w3).fields)
    assert rules.nethermind_accepts_from_peer(tx, base_fee)
    for overlay in ("dev", "openshift"):
        floor = flag(overlay, "otcmm-validator", "--Blocks.MinGasPrice")
        assert rules.nethermind_producer_includes(tx, base_fee, floor)
    floor = flag("openethereum", "otcmm-validator", "--min-gas-price")
    assert rules.openethereum_accepts_from_peer(tx, base_fee, floor)


@given(base_fee=st.integers(0, 10**12), tip=st.integers(0, 10**11))
def test_bot_fees_are_relayed_and_sealed_at_any_base_fee_and_suggested_tip(
    base_fee: int, tip: int
) -> None:
    floor = load_network().fees.min_gas_price
    tx = rules.Tx.of(eip1559_fees(base_fee, tip).fields)
    assert rules.nethermind_accepts_from_peer(tx, base_fee)
    assert rules.nethermind_producer_includes(tx, base_fee, floor)
    assert rules.openethereum_accepts_from_peer(tx, base_fee, floor)
    assert tx.max_fee >= 2 * base_fee + tx.tip  # the tip is paid in full until the base fee doubles
    assert rules.nethermind_accepts_from_peer(rules.Tx.of(legacy_fees(tip).fields), base_fee)


@given(
    base_fee=st.integers(0, 10**12),
    tip=st.integers(0, 10**11),
    later_base_fee=st.integers(0, 10**12),
    bumps=st.integers(1, 4),
)
def test_every_bump_replaces_the_stuck_transaction_in_both_pools(
    base_fee: int, tip: int, later_base_fee: int, bumps: int
) -> None:
    fees = eip1559_fees(base_fee, tip)
    for _ in range(bumps):
        old, fees = fees, fees.bumped()
        old_tx, new_tx = rules.Tx.of(old.fields), rules.Tx.of(fees.fields)
        assert new_tx.tip <= new_tx.max_fee
        assert rules.nethermind_replaces(old_tx, new_tx)
        assert rules.openethereum_replaces(old_tx, new_tx, later_base_fee)
    old_legacy = rules.Tx.of(legacy_fees(tip).fields)
    new_legacy = rules.Tx.of(legacy_fees(tip).bumped().fields)
    assert rules.nethermind_replaces(old_legacy, new_legacy)
    assert rules.openethereum_replaces(old_legacy, new_legacy, later_base_fee)


# --- 2. one header encoding -------------------------------------------------------------------


def _headers() -> list[rules.AuraHeader]:
    """The genesis block as the chainspec renders it, then an empty and a full block at every
    base fee either client can reach."""
    fees = set().union(*(reachable_base_fees(rule) for rule in rules.BASE_FEE_RULES.values()))
    timestamp = int(SPEC["genesis"]["timestamp"], 16)
    headers = [rules.AuraHeader(0, GAS_LIMIT, 0, timestamp, GENESIS_BASE_FEE)]
    for number, fee in enumerate(sorted(fees), start=1):
        headers += [
            rules.AuraHeader(number, GAS_LIMIT, 0, 5 * number, fee, step=number),
            rules.AuraHeader(number, GAS_LIMIT, GAS_LIMIT, 5 * number, fee, step=number),
        ]
    return headers


@pytest.mark.parametrize("header", _headers(), ids=lambda h: f"block{h.number}-fee{h.base_fee}")
def test_both_clients_encode_and_hash_every_header_the_same(header: rules.AuraHeader) -> None:
    nethermind = rules.nethermind_header_rlp(header)
    openethereum = rules.openethereum_header_rlp(header, LONDON)
    assert nethermind == openethereum
    assert Web3.keccak(nethermind) == Web3.keccak(openethereum)


def test_a_zero_base_fee_would_give_the_clients_different_hashes() -> None:
    """The rule the test above guards, shown on the old network file's genesis."""
    zero = rules.AuraHeader(0, GAS_LIMIT, 0, 0, base_fee=0)
    assert rules.nethermind_header_rlp(zero) != rules.openethereum_header_rlp(zero, LONDON)


# --- 3. a gas limit that holds ----------------------------------------------------------------


@pytest.mark.parametrize("node", NODES)
def test_openethereum_nodes_keep_the_networks_gas_limit(node: str) -> None:
    floor = flag("openethereum", node, "--gas-floor-target")
    cap = flag("openethereum", node, "--gas-cap")
    assert floor == cap == GAS_LIMIT == load_network().gas_limit
    limit = GAS_LIMIT
    for number in range(1, 3001):
        limit = rules.openethereum_next_gas_limit(
            limit, BOUND_DIVISOR, floor, cap, london=number >= LONDON
        )
        assert limit == GAS_LIMIT


def test_openethereum_defaults_would_shrink_the_limit_to_10m_in_about_1100_blocks() -> None:
    """Why the flags above exist: the rule with OpenEthereum's default floor target and cap."""
    limit, blocks = GAS_LIMIT, 0
    while limit > rules.OPENETHEREUM_DEFAULT_GAS_CAP:
        limit = rules.openethereum_next_gas_limit(
            limit,
            BOUND_DIVISOR,
            rules.OPENETHEREUM_DEFAULT_GAS_FLOOR_TARGET,
            rules.OPENETHEREUM_DEFAULT_GAS_CAP,
            london=True,
        )
        blocks += 1
    assert 1000 < blocks < 1200


@pytest.mark.parametrize("overlay", ["dev", "openshift"])
@pytest.mark.parametrize("node", NODES)
def test_nethermind_nodes_keep_the_networks_gas_limit(overlay: str, node: str) -> None:
    target = flag(overlay, node, "--Blocks.TargetBlockGasLimit")
    assert target == GAS_LIMIT
    limit = GAS_LIMIT
    for _ in range(3000):
        limit = rules.nethermind_next_gas_limit(limit, BOUND_DIVISOR, target)
        assert limit == GAS_LIMIT


def test_the_rendered_flags_follow_the_network_file() -> None:
    network = load_network()
    fees = network.fees.model_copy(update={"min_gas_price": 7})
    edited = network.model_copy(update={"gas_limit": 20_000_000, "fees": fees})
    assert node_flags(edited, "openethereum") == [
        "--min-gas-price", "7", "--gas-floor-target", "20000000", "--gas-cap", "20000000",
    ]  # fmt: skip
    assert node_flags(edited, "nethermind") == [
        "--Blocks.MinGasPrice", "7", "--Blocks.TargetBlockGasLimit", "20000000",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("overlay", "name"),
    [("dev", "--Blocks.MinGasPrice"), ("openshift", "--Blocks.MinGasPrice")]
    + [("openethereum", "--min-gas-price")],
)
@pytest.mark.parametrize("node", NODES)
def test_every_node_has_the_networks_fee_floor(overlay: str, name: str, node: str) -> None:
    assert flag(overlay, node, name) == load_network().fees.min_gas_price


# --- 4. what each client's parser accepts -----------------------------------------------------


@pytest.mark.parametrize("node", NODES)
def test_openethereum_accepts_every_option_of_its_manifests(node: str) -> None:
    parsed = flags(node_args("openethereum", node))
    unknown = set(parsed) - rules.OPENETHEREUM_VALUE_FLAGS - rules.OPENETHEREUM_SWITCHES
    assert not unknown, f"not OpenEthereum 3.3.5 options: {sorted(unknown)}"
    for name, value in parsed.items():
        takes_value = name in rules.OPENETHEREUM_VALUE_FLAGS
        assert (value is not None) == takes_value, name


@pytest.mark.parametrize("role", ["validator", "rpc"])
def test_openethereum_accepts_every_key_of_the_config_prepare_node_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    monkeypatch.setenv("POD_NAME", f"otcmm-{role}-0")
    monkeypatch.setenv("POD_NAMESPACE", "market")
    argv = ["--client", "openethereum", "--role", role, *_node_dirs(tmp_path)]
    assert prepare_node.main(argv) == 0
    config = tomllib.loads((tmp_path / "node" / "config.toml").read_text(encoding="utf-8"))
    assert config, "an empty config would prove nothing"
    for section, keys in config.items():
        assert section in rules.OPENETHEREUM_CONFIG_KEYS, f"unknown section [{section}]"
        unknown = set(keys) - rules.OPENETHEREUM_CONFIG_KEYS[section]
        assert not unknown, f"[{section}] keys OpenEthereum refuses: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", ["dev", "openshift"])
def test_nethermind_seals_on_validators_only_through_the_direct_key(overlay: str) -> None:
    for node, mining in (("otcmm-validator", "true"), ("otcmm-rpc", "false")):
        parsed = flags(node_args(overlay, node))
        assert parsed["--Mining.Enabled"] == mining
        assert "--Init.IsMining" not in parsed  # migrated into Mining.Enabled
        # it only stops a block producer from waiting for an initial sync nobody can serve
        assert ("--Aura.AllowAuRaPrivateChains" in parsed) == (mining == "true")
