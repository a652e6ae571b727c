"""The AuRa clients' rules that otcmm's network must satisfy, written out from their source.

Neither Nethermind nor OpenEthereum can run here, so each rule the PoA network depends on is
modelled from the clients' code, one function per rule, and `tests/test_client_rules.py`
checks the rendered chainspec, the rendered node flags and the bots' fee logic against them.
Versions: Nethermind 1.28.0 and OpenEthereum 3.3.5, the images `k8s/` pins. Every amount is
an integer (wei per gas, or gas); integer division rounds down, as in both clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import rlp
from eth_utils import keccak


@dataclass(frozen=True)
class Tx:
    """The fee fields of a transaction: EIP-1559 (max fee and tip) or legacy (gas price)."""

    max_fee: int
    tip: int
    legacy: bool = False

    @classmethod
    def of(cls, fields: dict[str, int]) -> Tx:
        if "gasPrice" in fields:
            return cls(fields["gasPrice"], fields["gasPrice"], legacy=True)
        return cls(fields["maxFeePerGas"], fields["maxPriorityFeePerGas"])


# --- pools and block producers ----------------------------------------------------------------


def nethermind_effective_price(tx: Tx, base_fee: int) -> int:
    """`Transaction.CalculateEffectiveGasPrice` (Nethermind.Core): min(max fee, base fee + tip)
    when the max fee covers the base fee; a 1559 transaction's `GasPrice` is its tip."""
    if tx.legacy:
        return tx.max_fee
    return min(tx.max_fee, base_fee + tx.tip) if tx.max_fee >= base_fee else tx.tip


def nethermind_accepts_from_peer(tx: Tx, base_fee: int) -> bool:
    """`TxPool/Filters/FeeTooLowFilter.cs`: after London, with no AuRa priority contract, a
    transaction that is not local (not sent to this node's own RPC) is dropped when its
    affordable gas price (`CalculateGasPrice`, the effective price) is 0."""
    return nethermind_effective_price(tx, base_fee) > 0


def nethermind_producer_includes(tx: Tx, base_fee: int, min_gas_price: int) -> bool:
    """`Consensus/Transactions/MinGasPriceTxFilter.cs`: the block producer takes a transaction
    whose premium (effective price - base fee) is at least `--Blocks.MinGasPrice`, and only if
    its max fee covers the base fee (`TryCalculatePremiumPerGas`)."""
    if tx.max_fee < base_fee:
        return False
    return nethermind_effective_price(tx, base_fee) - base_fee >= min_gas_price


def nethermind_replaces(old: Tx, new: Tx) -> bool:
    """`TxPool/Comparison/CompareReplacedTxByFee.cs`: a zero-fee transaction is always
    replaceable; else max fee and tip must each rise by at least a tenth (rounded down)."""
    if old.max_fee == 0:
        return True
    return (
        new.max_fee >= old.max_fee + old.max_fee // 10
        and new.tip >= old.tip + old.tip // 10
        and (new.max_fee, new.tip) != (old.max_fee, old.tip)
    )


def openethereum_effective_price(tx: Tx, base_fee: int) -> int:
    """`TypedTransaction::effective_gas_price`: min(max fee, base fee + tip)."""
    return tx.max_fee if tx.legacy else min(tx.max_fee, base_fee + tx.tip)


def openethereum_accepts_from_peer(tx: Tx, base_fee: int, min_gas_price: int) -> bool:
    """`miner/src/pool/verifier.rs`: a non-local transaction's effective priority fee (effective
    price - base fee) must be at least `--min-gas-price`, and its max fee at least its tip;
    `machine/impls.rs` `verify_transaction_unordered` refuses a max fee below the base fee."""
    if tx.max_fee < base_fee or tx.max_fee < tx.tip:
        return False
    return openethereum_effective_price(tx, base_fee) - base_fee >= min_gas_price


def openethereum_replaces(old: Tx, new: Tx, base_fee: int) -> bool:
    """`miner/src/pool/scoring.rs` `choose`: the new effective price must be at least the old
    one plus an eighth of it (`bump_gas_price`: old + old >> 3)."""
    old_price = openethereum_effective_price(old, base_fee)
    return openethereum_effective_price(new, base_fee) >= old_price + (old_price >> 3)


# --- base fee ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Eip1559:
    """The chainspec's EIP-1559 parameters."""

    denominator: int
    elasticity: int


def nethermind_next_base_fee(base_fee: int, used: int, limit: int, p: Eip1559) -> int:
    """`Nethermind.Core/BaseFeeCalculator.cs` (no `eip1559BaseFeeMinValue` in our spec)."""
    target = limit // p.elasticity
    if used == target:
        return base_fee
    if used > target:
        return base_fee + max(base_fee * (used - target) // target // p.denominator, 1)
    return max(base_fee - base_fee * (target - used) // target // p.denominator, 0)


def openethereum_next_base_fee(base_fee: int, used: int, limit: int, p: Eip1559) -> int:
    """`ethcore/src/machine/impls.rs` `calc_base_fee`: the same EIP-1559 formula."""
    target = limit // p.elasticity
    if used == target:
        return base_fee
    if used > target:
        delta = max(base_fee * (used - target) // target // p.denominator, 1)
        return base_fee + delta
    return max(base_fee - base_fee * (target - used) // target // p.denominator, 0)


NextBaseFee = Callable[[int, int, int, Eip1559], int]
BASE_FEE_RULES: dict[str, NextBaseFee] = {
    "nethermind": nethermind_next_base_fee,
    "openethereum": openethereum_next_base_fee,
}


# --- block headers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuraHeader:
    """A London AuRa block header's fields (no withdrawals: AuRa chains stop before Shanghai)."""

    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    base_fee: int
    step: int = 0
    signature: bytes = bytes(65)
    difficulty: int = 0x20000
    extra_data: bytes = b""

    def common_fields(self) -> list[object]:
        empty_trie = keccak(rlp.encode(b""))
        return [
            bytes(32),  # parent hash
            keccak(rlp.encode([])),  # uncles hash
            bytes(20),  # author
            empty_trie,  # state root (equal in both clients; its value does not matter here)
            empty_trie,  # transactions root
            empty_trie,  # receipts root
            bytes(256),  # logs bloom
            self.difficulty,
            self.number,
            self.gas_limit,
            self.gas_used,
            self.timestamp,
            self.extra_data,
            self.step,  # AuRa seal: step, then signature
            self.signature,
        ]


def nethermind_header_rlp(header: AuraHeader) -> bytes:
    """`Serialization.Rlp/HeaderDecoder.cs` `Encode`: the base fee is written only when it is
    not 0 (or when a later fork's field follows it, which AuRa chains never have)."""
    fields = header.common_fields()
    if header.base_fee != 0:
        fields.append(header.base_fee)
    return rlp.encode(fields)


def openethereum_header_rlp(header: AuraHeader, eip1559_transition: int) -> bytes:
    """`ethcore/types/src/header.rs` `stream_rlp`: the base fee is written whenever it is set,
    and it is set on every block from `eip1559Transition` on, whatever its value."""
    fields = header.common_fields()
    if header.number >= eip1559_transition:
        fields.append(header.base_fee)
    return rlp.encode(fields)


# --- gas limit --------------------------------------------------------------------------------

OPENETHEREUM_DEFAULT_GAS_FLOOR_TARGET = 8_000_000  # `--gas-floor-target` (bin/oe/cli/mod.rs)
OPENETHEREUM_DEFAULT_GAS_CAP = 10_000_000  # `--gas-cap`


def openethereum_next_gas_limit(
    parent_limit: int, bound_divisor: int, floor_target: int, cap: int, london: bool
) -> int:
    """`ethcore/src/machine/impls.rs` `populate_from_parent` (non-Ethash engines): the limit
    moves by up to parent/divisor - 1 per block towards `--gas-cap` after London, towards
    `--gas-floor-target` before it. (The EIP-1559 bump at the transition block is x elasticity,
    and London is on from genesis here, so no block of ours is that block.)"""
    target = cap if london else floor_target
    if parent_limit < target:
        return min(target, parent_limit + parent_limit // bound_divisor - 1)
    return max(target, parent_limit - parent_limit // bound_divisor + 1)


def nethermind_next_gas_limit(parent_limit: int, bound_divisor: int, target: int | None) -> int:
    """`Consensus/TargetAdjustedGasLimitCalculator.cs`: no `--Blocks.TargetBlockGasLimit`
    keeps the parent's limit; one moves towards it by at most parent/divisor - 1 per block."""
    if target is None:
        return parent_limit
    step = parent_limit // bound_divisor - 1
    if target > parent_limit:
        return min(target, parent_limit + step)
    return max(target, parent_limit - step)


# --- OpenEthereum's strict configuration ------------------------------------------------------

# `bin/oe/cli/mod.rs` (3.3.5): every section struct of config.toml is `#[serde(deny_unknown_
# fields)]`, so one unknown key stops the node at start-up. Sections and their keys:
OPENETHEREUM_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "parity": frozenset(
        "mode mode_timeout mode_alarm chain base_path db_path keys_path identity "
        "no_persistent_txqueue".split()
    ),
    "account": frozenset("unlock password keys_iterations refresh_time fast_unlock".split()),
    "ui": frozenset({"path"}),
    "network": frozenset(
        "warp warp_barrier port interface min_peers max_peers snapshot_peers max_pending_peers "
        "nat allow_ips id bootnodes discovery node_key reserved_peers reserved_only".split()
    ),
    "rpc": frozenset(
        "disable port interface cors apis hosts server_threads processing_threads max_payload "
        "keep_alive experimental_rpcs poll_lifetime allow_missing_blocks".split()
    ),
    "websockets": frozenset(
        "disable port interface apis origins hosts max_connections max_payload".split()
    ),
    "ipc": frozenset({"disable", "path", "apis"}),
    "secretstore": frozenset(
        "disable disable_http disable_auto_migrate acl_contract service_contract "
        "service_contract_srv_gen service_contract_srv_retr service_contract_doc_store "
        "service_contract_doc_sretr self_secret admin_public nodes server_set_contract "
        "interface port http_interface http_port path".split()
    ),
    "mining": frozenset(
        "author engine_signer force_sealing reseal_on_uncle reseal_on_txs reseal_min_period "
        "reseal_max_period work_queue_size tx_gas_limit tx_time_limit relay_set min_gas_price "
        "gas_price_percentile usd_per_tx usd_per_eth price_update_period gas_floor_target "
        "gas_cap extra_data tx_queue_size tx_queue_per_sender tx_queue_mem_limit "
        "tx_queue_locals tx_queue_strategy tx_queue_ban_count tx_queue_ban_time "
        "tx_queue_no_unfamiliar_locals tx_queue_no_early_reject remove_solved notify_work "
        "refuse_service_transactions infinite_pending_block max_round_blocks_to_import "
        "new_transactions_stats_period".split()
    ),
    "footprint": frozenset(
        "tracing pruning pruning_history pruning_memory fast_and_loose cache_size "
        "cache_size_db cache_size_blocks cache_size_queue cache_size_state db_compaction "
        "fat_db scale_verifiers num_verifiers".split()
    ),
    "snapshots": frozenset({"enable", "processing_threads"}),
    "misc": frozenset({"logging", "log_file", "color", "ports_shift", "unsafe_expose"}),
    "stratum": frozenset({"interface", "port", "secret"}),
    "metrics": frozenset({"enable", "prefix", "port", "interface"}),
}

# The same file's `usage!` block: the long options of the node (not of its subcommands; the
# Secret Store's are left out, it is never used here). Clap refuses any other option
# (`should_exit_gracefully_on_unknown_argument`), so a typo stops the node at start-up.
OPENETHEREUM_VALUE_FLAGS = frozenset(
    "--mode --mode-timeout --mode-alarm --chain --keys-path --identity --base-path --db-path "
    "--config --ports-shift --keys-iterations --accounts-refresh --unlock --password --ui-path "
    "--warp-barrier --port --interface --min-peers --max-peers --snapshot-peers --nat "
    "--allow-ips --max-pending-peers --network-id --bootnodes --node-key --reserved-peers "
    "--jsonrpc-port --jsonrpc-interface --jsonrpc-apis --jsonrpc-hosts --jsonrpc-threads "
    "--jsonrpc-cors --jsonrpc-server-threads --jsonrpc-max-payload --poll-lifetime --ws-port "
    "--ws-interface --ws-apis --ws-origins --ws-hosts --ws-max-connections --ws-max-payload "
    "--metrics-prefix --metrics-port --metrics-interface --ipc-path --ipc-apis "
    "--reseal-on-txs --reseal-min-period --reseal-max-period --work-queue-size --relay-set "
    "--usd-per-tx --usd-per-eth --price-update-period --gas-floor-target --gas-cap "
    "--tx-queue-mem-limit --tx-queue-size --tx-queue-per-sender --tx-queue-locals "
    "--tx-queue-strategy --stratum-interface --stratum-port --min-gas-price "
    "--gas-price-percentile --author --engine-signer --tx-gas-limit --tx-time-limit "
    "--extra-data --notify-work --stratum-secret --max-round-blocks-to-import "
    "--new-transactions-stats-period --logging --log-file --tracing --pruning "
    "--pruning-history --pruning-memory --cache-size-db --cache-size-blocks "
    "--cache-size-queue --cache-size-state --db-compaction --fat-db --cache-size "
    "--num-verifiers --snapshot-threads".split()
)
OPENETHEREUM_SWITCHES = frozenset(
    "--unsafe-expose --fast-unlock --no-warp --no-discovery --reserved-only "
    "--no-ancient-blocks --jsonrpc-allow-missing-blocks --no-jsonrpc --jsonrpc-no-keep-alive "
    "--jsonrpc-experimental --no-ws --metrics --no-ipc --force-sealing --reseal-on-uncle "
    "--remove-solved --tx-queue-no-unfamiliar-locals --tx-queue-no-early-reject "
    "--refuse-service-transactions --infinite-pending-block --no-persistent-txqueue "
    "--stratum --can-restart --no-color --no-config --scale-verifiers --no-seal-check "
    "--enable-snapshotting".split()
)
