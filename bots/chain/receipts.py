"""Transaction receipts read straight from the node, formatted once, without web3's layers.

A bot reads the receipt of every transaction it sends. Through `w3.eth.get_transaction_receipt`
each read passes web3's middleware onion and its recursive result formatters, which cost several
times the local node's answer (issue 14's profile). Here the raw JSON-RPC answer is formatted
into the shape web3 gives (`TxReceipt`): quantities as `int`, hashes and data as `HexBytes`,
addresses EIP-55 checksummed, logs likewise; fields this module does not know stay as the node
sent them. Receipts of several hashes go out as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from hexbytes import HexBytes
from web3 import Web3
from web3.types import RPCEndpoint, TxReceipt

from bots.addresses import checksum
from bots.chain.rawrpc import raw_batch_answers, raw_result
from bots.errors import ChainError

RECEIPT = "eth_getTransactionReceipt"
_QUANTITIES = (
    "blockNumber",
    "cumulativeGasUsed",
    "effectiveGasPrice",
    "gasUsed",
    "status",
    "transactionIndex",
    "type",
    "blobGasUsed",
    "blobGasPrice",
    "logIndex",
)
_BYTES = ("blockHash", "transactionHash", "logsBloom", "data", "root")
_ADDRESSES = ("from", "to", "contractAddress", "address")
_REQUIRED = ("transactionHash", "blockNumber", "blockHash", "status", "gasUsed")


def fetch_receipts(w3: Web3, hashes: Sequence[str]) -> list[TxReceipt | None]:
    """The receipts of `hashes` (0x-hex), in the order asked, None for each not mined yet or
    not yet indexed (geth answers "transaction indexing is in progress" for a while after a
    start): one call for one hash, one batch for several. Raises `ChainError` for any other
    error answer or a receipt that does not parse."""
    calls = receipt_calls(hashes)
    if len(calls) == 1:
        answers = [w3.provider.make_request(RPCEndpoint(RECEIPT), calls[0][1])]
    else:
        answers = raw_batch_answers(w3, calls)
    return [receipt_from_answer(a, h) for a, h in zip(answers, hashes, strict=True)]


def receipt_calls(hashes: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """The JSON-RPC calls asking for the receipts of `hashes`, to put in a batch."""
    return [(RECEIPT, [tx_hash]) for tx_hash in hashes]


def receipt_from_answer(answer: Any, tx_hash: str | None = None) -> TxReceipt | None:
    """The receipt in one JSON-RPC answer to `eth_getTransactionReceipt` of `tx_hash` (see
    `fetch_receipts`): None when not mined or not indexed yet, else formatted; `ChainError`
    for another error answer, or a receipt that is not one of `tx_hash` (see
    `format_receipt`)."""
    if isinstance(answer, Mapping) and _indexing(answer.get("error")):
        return None
    result = raw_result(RECEIPT, answer)
    return None if result is None else format_receipt(result, tx_hash)


def _indexing(error: Any) -> bool:
    message = error.get("message") if isinstance(error, Mapping) else None
    return isinstance(message, str) and "index" in message and "progress" in message


def format_receipt(raw: Mapping[str, Any], tx_hash: str | None = None) -> TxReceipt:
    """A raw `eth_getTransactionReceipt` result in web3's `TxReceipt` shape (see the module
    docstring). Raises `ChainError` if a known field is not what the JSON-RPC spec says, a
    field a bot relies on is missing, the status is neither 0 nor 1, or the receipt is of
    another transaction than `tx_hash` (a node or proxy that lies must not make a bot believe
    a transaction mined, or failed: the caller keeps chasing it)."""
    try:
        receipt = _fields(raw)
        receipt["logs"] = [_fields(log) for log in raw.get("logs") or []]
    except (TypeError, ValueError, AttributeError) as exc:
        raise ChainError(f"RPC sent a receipt that does not parse: {exc}") from None
    missing = [key for key in _REQUIRED if receipt.get(key) is None]
    if missing:
        raise ChainError(f"RPC sent a receipt without {', '.join(missing)}")
    if receipt["status"] not in (0, 1):
        raise ChainError(f"RPC sent a receipt with status {receipt['status']} (0 or 1 expected)")
    if tx_hash is not None and receipt["transactionHash"] != HexBytes(tx_hash):
        raise ChainError(
            f"RPC sent the receipt of {receipt['transactionHash'].to_0x_hex()} when asked for "
            f"{tx_hash}"
        )
    return cast(TxReceipt, receipt)


def _fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    out: dict[str, Any] = dict(raw)
    _convert(out, _QUANTITIES, _quantity)
    _convert(out, _BYTES, HexBytes)
    _convert(out, _ADDRESSES, checksum)
    if "topics" in out:
        out["topics"] = [HexBytes(topic) for topic in out["topics"]]
    return out


def _convert(out: dict[str, Any], keys: Sequence[str], convert: Callable[[Any], Any]) -> None:
    for key in keys:
        value = out.get(key)
        if value is not None:
            out[key] = convert(value)


def _quantity(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{value!r} is not a hex quantity")
    return int(value, 16)
