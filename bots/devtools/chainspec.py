"""Render the network as a Parity-format AuRa chainspec (read by Nethermind and OpenEthereum 3.x).

Only keys both clients understand are emitted: OpenEthereum rejects unknown keys in `params`,
`genesis` and the engine params, so Nethermind-only spellings (`eip2200Transition`,
`eip2565Transition`, `eip1108Transition`, `eip152Transition`) are left out. Both clients take
those rules from the same place instead: EIP-2200 from the EIP-1283 re-enable + EIP-1706 pair,
and the precompile repricings (EIP-1108, EIP-2565) and BLAKE2 (EIP-152) from the builtin pricing
blocks in `accounts`, which Nethermind's `ChainSpecLoader` reads to derive the same transitions.
"""

from __future__ import annotations

from typing import Any

from bots.devtools.network import MIN_GAS_LIMIT, Network

# Every London-and-earlier rule, each switched on at genesis. Homestead (EIP-2/7) has no key:
# both clients always apply it outside Ethash. EIP-98 (intermediate state roots) is not wanted:
# EIP-658 status codes replace it.
LONDON_TRANSITIONS: tuple[str, ...] = (
    # Tangerine Whistle, Spurious Dragon (EIP-170's limit is `maxCodeSize`)
    "eip150Transition",
    "eip155Transition",
    "eip160Transition",
    "eip161abcTransition",
    "eip161dTransition",
    "maxCodeSizeTransition",
    # Byzantium
    "eip140Transition",
    "eip211Transition",
    "eip214Transition",
    "eip658Transition",
    # Constantinople; Petersburg drops EIP-1283; Istanbul re-enables it + EIP-1706 (= EIP-2200)
    "eip145Transition",
    "eip1014Transition",
    "eip1052Transition",
    "eip1283Transition",
    "eip1283DisableTransition",
    "eip1283ReenableTransition",
    "eip1706Transition",
    # Istanbul
    "eip1344Transition",
    "eip1884Transition",
    "eip2028Transition",
    # Berlin
    "eip2929Transition",
    "eip2930Transition",
    # London
    "eip1559Transition",
    "eip3198Transition",
    "eip3529Transition",
    "eip3541Transition",
    # EIP-3607 (refuse transactions whose sender has code) belongs to no fork: geth applies it
    # to every block, and both clients already default this transition to block 0. Written
    # out so the chainspec says what the clients do rather than relying on their defaults.
    "eip3607Transition",
    # Strict checks from the start: a new chain has no legacy blocks to stay compatible with
    "validateChainIdTransition",
    "validateReceiptsTransition",
)

GENESIS_DIFFICULTY = "0x20000"
GENESIS_SIGNATURE = "0x" + "00" * 65  # the genesis block is not sealed by anyone
MAX_CODE_SIZE = 24_576  # EIP-170
GAS_LIMIT_BOUND_DIVISOR = 0x400  # a block may move the gas limit by 1/1024 of its parent's
MAX_EXTRA_DATA_SIZE = 32  # bytes of free-form header data (client version)


def render_chainspec(network: Network) -> dict[str, Any]:
    """The chainspec as JSON-ready data; addresses lower case, like the clients' own specs."""
    return {
        "name": network.name,
        "engine": _engine(network),
        "params": _params(network),
        "genesis": _genesis(network),
        "accounts": _accounts(network),
    }


def _engine(network: Network) -> dict[str, Any]:
    return {
        "authorityRound": {
            "params": {
                "stepDuration": network.aura.step_duration,
                "validators": {"list": [v.lower() for v in network.aura.validators]},
                "blockReward": "0x0",  # no issuance: the coin only exists to be metered
                "maximumUncleCountTransition": 0,
                "maximumUncleCount": 0,  # AuRa forks resolve by step; uncles serve nothing
                "validateScoreTransition": 0,
                "validateStepTransition": 0,
            }
        }
    }


def _params(network: Network) -> dict[str, Any]:
    fees = network.fees
    params: dict[str, Any] = {
        "networkID": hex(network.network_id),
        "chainID": hex(network.chain_id),
        "gasLimitBoundDivisor": hex(GAS_LIMIT_BOUND_DIVISOR),
        "maximumExtraDataSize": hex(MAX_EXTRA_DATA_SIZE),
        "minGasLimit": hex(MIN_GAS_LIMIT),
        "maxCodeSize": hex(MAX_CODE_SIZE),
        "eip1559BaseFeeInitialValue": hex(fees.base_fee_initial),
        "eip1559BaseFeeMaxChangeDenominator": hex(fees.base_fee_max_change_denominator),
        "eip1559ElasticityMultiplier": hex(fees.elasticity_multiplier),
    }
    params.update(dict.fromkeys(LONDON_TRANSITIONS, "0x0"))
    return params


def _genesis(network: Network) -> dict[str, Any]:
    return {
        "seal": {"authorityRound": {"step": "0x0", "signature": GENESIS_SIGNATURE}},
        "difficulty": GENESIS_DIFFICULTY,
        "gasLimit": hex(network.gas_limit),
        "timestamp": "0x0",
        # Nethermind gives a London genesis 1 gwei unless told; OpenEthereum reads this too.
        # Never 0 (bots.devtools.network refuses it): Nethermind leaves a zero base fee out of
        # the header's encoding and OpenEthereum does not, so the genesis hashes would differ.
        "baseFeePerGas": hex(network.fees.base_fee_initial),
    }


def _accounts(network: Network) -> dict[str, Any]:
    accounts = {address: {"balance": "0x1", "builtin": spec} for address, spec in _builtins()}
    for prefund in network.prefunded:
        accounts[prefund.address.lower()] = {"balance": hex(prefund.balance_wei)}
    return accounts


def _builtins() -> list[tuple[str, dict[str, Any]]]:
    """Precompiles 0x01..0x09 with their London prices, all from block 0.

    Prices use the per-block form (`{"0": {"price": ...}}`): Nethermind derives the EIP-152/1108/
    2565 transitions from these keys and ignores the single-price form. Each holds 1 wei so it
    is never an "empty" account that EIP-161 state clearing would touch.
    """
    prices: list[tuple[str, dict[str, Any]]] = [
        ("ecrecover", {"linear": {"base": 3000, "word": 0}}),
        ("sha256", {"linear": {"base": 60, "word": 12}}),
        ("ripemd160", {"linear": {"base": 600, "word": 120}}),
        ("identity", {"linear": {"base": 15, "word": 3}}),
        ("modexp", {"modexp2565": {}}),  # EIP-2565 (Berlin)
        ("alt_bn128_add", {"alt_bn128_const_operations": {"price": 150}}),  # EIP-1108 (Istanbul)
        ("alt_bn128_mul", {"alt_bn128_const_operations": {"price": 6000}}),  # EIP-1108
        ("alt_bn128_pairing", {"alt_bn128_pairing": {"base": 45000, "pair": 34000}}),  # EIP-1108
        ("blake2_f", {"blake2_f": {"gas_per_round": 1}}),  # EIP-152 (Istanbul)
    ]
    return [
        (f"0x{index:040x}", {"name": name, "pricing": {"0": {"price": price}}})
        for index, (name, price) in enumerate(prices, start=1)
    ]
