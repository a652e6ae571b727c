"""The bots' transactions as the chain recorded them, and as the bots' logs named them.

Every block of the run is read with its receipts; each transaction sent by a bot is kept with
its function (decoded from the selector against the committed ABIs: the same names the bots use
as metric labels, e.g. `requoteUntil`, `buy`, `approve`) and its outcome. A reverted one gets
its reason from the mined transaction itself (`bots.chain.failure.mined_failure`: the node's
trace, out of gas, the decoded custom error), the same function the bots use, so the chain's
reason and the bot's must agree word for word.

The logs are the bots' own JSON lines: a failed transaction is logged at info level or above
as "transaction failed" (a tick) or "cancel failed; retrying" (shutdown) with its text, which
ends "(tx 0x...)", so each revert on chain can be looked up in the log of the bot that sent it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, cast

from eth_typing import ABIFunction
from eth_utils.abi import function_abi_to_4byte_selector
from web3 import Web3

from bots.artifacts import all_abis
from bots.chain.failure import mined_failure

_TX_IN_TEXT = re.compile(r"\(tx (0x[0-9a-fA-F]{64})\)")


@dataclass(frozen=True)
class MinedTx:
    """A bot's transaction as mined: `reason` is "" when it succeeded."""

    bot: str
    tx_hash: str
    block: int
    label: str
    ok: bool
    gas_used: int
    gas_limit: int
    reason: str = ""
    text: str = ""


@cache
def _functions() -> dict[bytes, str]:
    names: dict[bytes, str] = {}
    for abi in all_abis():
        for item in abi:
            if item.get("type") == "function":
                names[bytes(function_abi_to_4byte_selector(cast(ABIFunction, item)))] = str(
                    item["name"]
                )
    return names


def label_of(tx: Mapping[str, Any]) -> str:
    """The called function's name; "deploy" or "send value" for calls without one."""
    if tx.get("to") is None:
        return "deploy"
    data = bytes(tx.get("input") or b"")
    if len(data) < 4:
        return "send value"
    return _functions().get(data[:4], "0x" + data[:4].hex())


def mined_txs(
    w3: Web3, senders: Mapping[str, str], first_block: int, last_block: int
) -> list[MinedTx]:
    """Every transaction of `senders` (address -> bot name) mined in the given blocks."""
    by_address = {Web3.to_checksum_address(a): name for a, name in senders.items()}
    found: list[MinedTx] = []
    for number in range(first_block, last_block + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        ours = [
            tx
            for tx in block["transactions"]
            if isinstance(tx, Mapping) and Web3.to_checksum_address(tx["from"]) in by_address
        ]
        if not ours:
            continue
        receipts = {r["transactionHash"]: r for r in w3.eth.get_block_receipts(number)}
        for tx in ours:
            found.append(_mined(w3, by_address[Web3.to_checksum_address(tx["from"])], tx, receipts))
    return found


def _mined(w3: Web3, bot: str, tx: Mapping[str, Any], receipts: Mapping[Any, Any]) -> MinedTx:
    receipt = receipts[tx["hash"]]
    ok = int(receipt["status"]) == 1
    mined = MinedTx(
        bot=bot,
        tx_hash=tx["hash"].to_0x_hex(),
        block=int(receipt["blockNumber"]),
        label=label_of(tx),
        ok=ok,
        gas_used=int(receipt["gasUsed"]),
        gas_limit=int(tx["gas"]),
    )
    if ok:
        return mined
    failure = mined_failure(w3, tx, receipt)
    return replace(mined, reason=failure.kind, text=failure.text)


def logged_failures(log: Path) -> dict[str, str]:
    """tx hash (lower case) -> the failure text a bot logged for it (info level and above)."""
    named: dict[str, str] = {}
    for line in _json_lines(log):
        if line.get("level") not in ("info", "warning", "error", "critical"):
            continue
        text = str(line.get("error", ""))
        for tx_hash in _TX_IN_TEXT.findall(text):
            named[tx_hash.lower()] = text
    return named


def _json_lines(log: Path) -> Iterator[dict[str, Any]]:
    try:
        raw = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for text in raw.splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue  # a traceback or a half-written last line
        if isinstance(line, dict):
            yield line


def listening_address(log: Path) -> str | None:
    """The `host:port` a bot's metrics server bound, from its "listening" log line."""
    for line in _json_lines(log):
        if line.get("event") == "metrics and probes listening":
            return str(line.get("address"))
    return None
