"""JSON-RPC calls straight through the provider: raw results, no web3 formatting.

web3's middleware onion and result formatters cost more CPU than a local node's answer, so the
hot reads and sends of a tick (and of every backtest step) go out here: the provider's own
`make_request` / `make_batch_request` (with `RetryingHTTPProvider`: checked answers, retries,
the tick budget) and the `result` as the node sent it (hex strings, plain dicts).
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from bots.errors import ChainError


def raw_request(w3: Web3, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call straight through the provider: the raw `result` (hex strings, plain
    dicts), without web3's formatters and middleware, which cost more CPU than a read of a
    local node. Raises `ChainError` naming the method for an error answer."""
    return raw_result(method, w3.provider.make_request(RPCEndpoint(method), params))


def raw_batch(w3: Web3, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """`calls` as one JSON-RPC batch (one round trip), raw results in request order; see
    `raw_request`."""
    answers = raw_batch_answers(w3, calls)
    return [raw_result(method, a) for (method, _), a in zip(calls, answers, strict=True)]


def raw_batch_answers(w3: Web3, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """`calls` as one batch; the whole JSON-RPC answer of each (`result` or `error`), in
    request order, for callers that read an error answer as a fact (`bots.chain.receipts`).
    Raises `ChainError` when the node refuses the batch as a whole."""
    provider = w3.provider
    if not isinstance(provider, HTTPProvider):  # a provider without batches: one by one
        return [provider.make_request(RPCEndpoint(m), p) for m, p in calls]
    answers = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in calls])
    if not isinstance(answers, list):
        raise ChainError(f"RPC refused a batch of {len(calls)}: {_message(answers)}")
    return list(answers)


def raw_result(method: str, answer: Any) -> Any:
    """The `result` of one JSON-RPC answer to `method`; `ChainError` naming it for an error."""
    if not isinstance(answer, dict) or "error" in answer:
        raise ChainError(f"RPC refused {method}: {_message(answer)}")
    return answer.get("result")


def _message(answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return "malformed answer"
