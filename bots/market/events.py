"""The market's logs as typed events: trading (`LogMake`/`LogTake`/`LogKill`) and the
dead-man's switch (`LogDeadline`/`LogGuard`).

Pure decoding: of logs web3 has already parsed against the market's ABI (`MarketClient.events`
and `MarketClient.switch_events` fetch them), and of raw `eth_getLogs` entries
(`RawLogDecoder`, for a bot's book kept from logs). Amounts are base units, times unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eth_abi.abi import decode
from eth_utils.crypto import keccak

from bots.addresses import checksum

TradeKind = Literal["make", "take", "kill"]
SwitchKind = Literal["deadline", "guard"]
TRADE_LOGS: dict[TradeKind, str] = {"make": "LogMake", "take": "LogTake", "kill": "LogKill"}
SWITCH_LOGS: dict[SwitchKind, str] = {"deadline": "LogDeadline", "guard": "LogGuard"}


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One decoded trading log, in chain order."""

    kind: TradeKind
    offer_id: int
    block_number: int
    log_index: int
    maker: str
    pay_token: str
    buy_token: str
    pay_amt: int  # make: offered; take: quantity taken; kill: remaining returned
    buy_amt: int  # make: asked; take: amount paid to the maker; kill: remaining asked
    timestamp: int
    taker: str | None = None


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """One decoded dead-man's switch log.

    ``deadline``: ``maker``'s deadline changed to ``deadline`` (0: switch off), for all its
    guarded offers. ``guard``: ``requoteUntil`` made ``offer_ids`` guarded, ``deadline`` being
    the maker's deadline at that point. `LogMake` cannot say an offer is guarded (it keeps
    maker-otc's shape), so a ``guard`` event follows the makes of the same transaction.
    """

    kind: SwitchKind
    maker: str
    deadline: int
    block_number: int
    log_index: int
    offer_ids: tuple[int, ...] = ()


def trade_event(kind: TradeKind, log: Any) -> MarketEvent:
    """A `LogMake`/`LogTake`/`LogKill` log (web3-decoded) as a `MarketEvent` of `kind`."""
    args = log["args"]
    is_take = kind == "take"
    return MarketEvent(
        kind=kind,
        offer_id=int.from_bytes(args["id"], "big"),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
        maker=checksum(args["maker"]),
        pay_token=checksum(args["pay_gem"]),
        buy_token=checksum(args["buy_gem"]),
        pay_amt=int(args["take_amt"] if is_take else args["pay_amt"]),
        buy_amt=int(args["give_amt"] if is_take else args["buy_amt"]),
        timestamp=int(args["timestamp"]),
        taker=checksum(args["taker"]) if is_take else None,
    )


def switch_event(kind: SwitchKind, log: Any) -> SwitchEvent:
    """A `LogDeadline`/`LogGuard` log (web3-decoded) as a `SwitchEvent` of `kind`."""
    args = log["args"]
    return SwitchEvent(
        kind=kind,
        maker=checksum(args["maker"]),
        deadline=int(args["deadline"]),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
        offer_ids=tuple(int(i) for i in args["ids"]) if kind == "guard" else (),
    )


def chain_order(event: MarketEvent | SwitchEvent) -> tuple[int, int]:
    """Sort key putting events of both kinds in the order the chain emitted them."""
    return event.block_number, event.log_index


_KINDS: dict[str, TradeKind | SwitchKind] = {
    **{name: kind for kind, name in TRADE_LOGS.items()},
    **{name: kind for kind, name in SWITCH_LOGS.items()},
}


CACHED_LOGS = 4_096
_MISSING = object()


class RawLogDecoder:
    """Decodes the market's raw `eth_getLogs` entries (hex JSON) with eth_abi, straight from the
    market's ABI: web3's event machinery costs far more than the few logs of a block."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._events: dict[bytes, tuple[str, list[tuple[str, str, bool]]]] = {}
        self._cache: dict[tuple[Any, Any], object] = {}
        for item in abi:
            if item.get("type") == "event" and item["name"] in _KINDS:
                types = [i["type"] for i in item["inputs"]]
                signature = f"{item['name']}({','.join(types)})"
                inputs = [(i["name"], _topic_type(i), bool(i["indexed"])) for i in item["inputs"]]
                self._events[keccak(text=signature)] = (item["name"], inputs)

    def topic(self, name: str) -> str:
        """The log topic (0x-hex) of the event `name`; `KeyError` if it is not a known one."""
        for topic, (known, _) in self._events.items():
            if known == name:
                return "0x" + topic.hex()
        raise KeyError(name)

    def decode(self, logs: list[dict[str, Any]]) -> list[MarketEvent | SwitchEvent]:
        """Trading and switch events among `logs`, in chain order; other logs are skipped.

        `logs` are raw `eth_getLogs` entries (hex strings) or the same formatted by
        `bots.chain.receipts` (bytes, ints). A log with a block hash is decoded once: the
        decoder remembers the last `CACHED_LOGS` (block hash and log index name one log for
        good), so bots sharing a decoder (`shared`, the agents of a backtest) share the work.
        """
        decoded: list[MarketEvent | SwitchEvent] = []
        for log in logs:
            key = (log.get("blockHash"), log["logIndex"])
            event = self._cache.get(key, _MISSING) if key[0] is not None else _MISSING
            if event is _MISSING:
                event = self._decode_one(log)
                if key[0] is not None:
                    self._remember(key, event)
            if event is not None:
                decoded.append(event)  # type: ignore[arg-type]
        return sorted(decoded, key=chain_order)

    def _decode_one(self, log: dict[str, Any]) -> MarketEvent | SwitchEvent | None:
        topics = [_bytes(t) for t in log["topics"]]
        known = self._events.get(topics[0]) if topics else None
        if known is None:
            return None
        name, inputs = known
        entry = {
            "args": _args(inputs, topics[1:], _bytes(log["data"])),
            "blockNumber": _int(log["blockNumber"]),
            "logIndex": _int(log["logIndex"]),
        }
        kind = _KINDS[name]
        if name in SWITCH_LOGS.values():
            return switch_event(kind, entry)  # type: ignore[arg-type]
        return trade_event(kind, entry)  # type: ignore[arg-type]

    def _remember(self, key: tuple[Any, Any], event: MarketEvent | SwitchEvent | None) -> None:
        self._cache[key] = event
        if len(self._cache) > CACHED_LOGS:
            del self._cache[next(iter(self._cache))]  # the oldest: dicts keep insertion order


def _args(inputs: list[tuple[str, str, bool]], topics: list[bytes], data: bytes) -> dict[str, Any]:
    """The arguments of one log: the indexed ones from its topics (one 32-byte word each: the
    market's indexed arguments are all static types), the others from its data."""
    indexed = [kind for _, kind, is_indexed in inputs if is_indexed]
    plain = [kind for _, kind, is_indexed in inputs if not is_indexed]
    if len(topics) != len(indexed):
        raise ValueError(f"log has {len(topics)} indexed topics, its event {len(indexed)}")
    indexed_values = iter(decode(indexed, b"".join(topics)))
    plain_values = iter(decode(plain, data))
    return {
        name: next(indexed_values if is_indexed else plain_values) for name, _, is_indexed in inputs
    }


def _topic_type(arg: dict[str, Any]) -> str:
    """How an argument reads from its word: an indexed dynamic value's topic is its hash."""
    kind = str(arg["type"])
    dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("tuple")
    return "bytes32" if arg["indexed"] and dynamic else kind


def _bytes(value: str | bytes) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(value[2:])


def _int(value: str | int) -> int:
    return value if isinstance(value, int) else int(value, 16)
