"""Why a mined transaction failed: read from the chain, not guessed.

A revert inside a block can depend on what the block did before it (another maker's requote,
a take): replaying the transaction on its parent block then says "it would have worked". So the
reason is read from the mined transaction itself, in this order:
1. the node's own trace (`debug_traceTransaction` with the call tracer: anvil, geth,
   Nethermind), whose frames say "out of gas" or carry the revert data;
2. OpenEthereum's `trace_replayTransaction`, whose output is the revert data;
3. gas used equal to the limit: out of gas;
4. only then a replay on the parent block and on the transaction's own block, and the reason
   says so ("no trace from this node: replayed").

`Failure.kind` is a short label for metrics: the custom error's name (`UnexpectedRemaining`),
`out_of_gas`, `Error` (a string reason), `Panic`, or `unknown`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint, TxReceipt

from bots.chain.revert import decode_revert, replay_reason

_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")


@dataclass(frozen=True)
class Failure:
    """A failed transaction's reason: `kind` for metrics, `text` for people."""

    kind: str
    text: str


def mined_failure(w3: Web3, tx: Mapping[str, Any], receipt: TxReceipt) -> Failure:
    """The reason a mined transaction (`receipt["status"] == 0`) failed; never raises."""
    tx_hash = receipt["transactionHash"].to_0x_hex()
    limit, used = int(tx.get("gas", 0)), int(receipt["gasUsed"])
    out_of_gas = Failure("out_of_gas", f"out of gas: used {used:,} of its {limit:,} gas limit")
    trace = _call_trace(w3, tx_hash)
    if trace is not None:
        if any("out of gas" in str(frame.get("error", "")).lower() for frame in _frames(trace)):
            return out_of_gas
        return _from_data(trace.get("output"))
    output = _parity_output(w3, tx_hash)
    if output is not None:
        return _from_data(output)
    if limit and used >= limit:
        return out_of_gas
    text = replay_reason(w3, dict(tx), int(receipt["blockNumber"]))
    failure = _from_text(text)
    return Failure(failure.kind, f"{text} (no trace from this node: replayed)")


def refused(message: str) -> Failure:
    """A node's refusal of a raw transaction (never mined)."""
    return Failure("refused", message)


def _call_trace(w3: Web3, tx_hash: str) -> dict[str, Any] | None:
    params = [HexStr(tx_hash), {"tracer": "callTracer"}]
    result = _request(w3, "debug_traceTransaction", params)
    return result if isinstance(result, dict) else None


def _parity_output(w3: Web3, tx_hash: str) -> str | None:
    result = _request(w3, "trace_replayTransaction", [HexStr(tx_hash), ["trace"]])
    if not isinstance(result, dict):
        return None
    output = result.get("output")
    return output if isinstance(output, str) else None


def _request(w3: Web3, method: str, params: list[Any]) -> Any:
    """The result of a tracing call, or None when the node has no such method or fails."""
    try:
        response = w3.provider.make_request(RPCEndpoint(method), params)
    except (Web3Exception, OSError, ValueError):
        return None
    return response.get("result") if isinstance(response, dict) else None


def _frames(trace: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield trace
    for call in trace.get("calls") or ():
        if isinstance(call, dict):
            yield from _frames(call)


def _from_data(data: object) -> Failure:
    return _from_text(decode_revert(data if isinstance(data, str) else None))


def _from_text(text: str) -> Failure:
    match = _NAME.match(text)
    if match:
        return Failure(match.group(1), text)
    if text.startswith("reverted: "):
        return Failure("Error", text)
    if text.startswith("panic: "):
        return Failure("Panic", text)
    if "out of gas" in text.lower() or "outofgas" in text.lower():
        return Failure("out_of_gas", text)
    return Failure("unknown", text)
