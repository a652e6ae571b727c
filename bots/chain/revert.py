"""Turning revert data into a readable reason: `NotOfferOwner(id=7, caller=0xAbc…)`.

The market reverts with custom errors; a bot operator must see which one and with what values,
not a hex blob.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxParams

from bots.artifacts import all_abis
from bots.chain.rpc import rpc_error_message

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x32: "array index out of bounds",
}


@cache
def _known_errors() -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for abi in all_abis():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(arg) for arg in item["inputs"])
            names = tuple(arg["name"] for arg in item["inputs"])
            signature = f"{item['name']}({','.join(types)})"
            errors[function_signature_to_4byte_selector(signature)] = (item["name"], types, names)
    return errors


def _abi_type(arg: dict[str, Any]) -> str:
    if arg["type"].startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in arg["components"])
        return f"({inner}){arg['type'][5:]}"
    return str(arg["type"])


def decode_revert(data: bytes | str | None) -> str:
    """Best-effort readable form of revert data; never raises."""
    raw = _as_bytes(data)
    if not raw:
        return "reverted without a reason"
    selector, body = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            return f"reverted: {decode(['string'], body)[0]}"
        if selector == _PANIC:
            code = decode(["uint256"], body)[0]
            return f"panic: {_PANIC_CODES.get(code, hex(code))}"
        known = _known_errors().get(selector)
        if known:
            name, types, names = known
            values = decode(list(types), body)
            args = ", ".join(f"{n}={_show(v, n)}" for n, v in zip(names, values, strict=True))
            return f"{name}({args})"
    except Exception:  # noqa: BLE001, S110 - malformed revert data is reported raw below
        pass
    return f"reverted with unknown data 0x{raw.hex()}"


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""


def _show(value: Any, name: str = "") -> str:
    if name == "id" and isinstance(value, int):
        return hex(value)  # offer ids in hex, as in logs, `otcmm book` and trades.csv
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def revert_data(exc: ContractCustomError | ContractLogicError) -> str | None:
    """The raw revert data web3 attached to a failed call or estimate, if any."""
    data = exc.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None


def replay_reason(w3: Web3, tx: dict[str, Any], block_number: int) -> str:
    """Re-run a failed transaction as a call to learn why it reverted: on its parent block,
    then on its own block (that block's timestamp and the state it left), which explains
    reverts that depend on the time (an expired offer) or on a transaction mined before it in
    the same block."""
    call = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
    for block in (block_number - 1, block_number):
        try:
            w3.eth.call(cast(TxParams, call), block)
        except (ContractCustomError, ContractLogicError) as exc:
            return decode_revert(revert_data(exc))
        except Web3RPCError as exc:
            return f"reverted ({rpc_error_message(exc)})"
    return "reverted on chain (the replays succeeded: state changed in between)"
