"""The market's logs as typed events: trading (`LogMake`/`LogTake`/`LogKill`) and the
dead-man's switch (`LogDeadline`/`LogGuard`).

Pure decoding of logs web3 has already parsed against the market's ABI; `MarketClient.events`
and `MarketClient.switch_events` fetch them. Amounts are base units, times unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from web3 import Web3

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
        maker=Web3.to_checksum_address(args["maker"]),
        pay_token=Web3.to_checksum_address(args["pay_gem"]),
        buy_token=Web3.to_checksum_address(args["buy_gem"]),
        pay_amt=int(args["take_amt"] if is_take else args["pay_amt"]),
        buy_amt=int(args["give_amt"] if is_take else args["buy_amt"]),
        timestamp=int(args["timestamp"]),
        taker=Web3.to_checksum_address(args["taker"]) if is_take else None,
    )


def switch_event(kind: SwitchKind, log: Any) -> SwitchEvent:
    """A `LogDeadline`/`LogGuard` log (web3-decoded) as a `SwitchEvent` of `kind`."""
    args = log["args"]
    return SwitchEvent(
        kind=kind,
        maker=Web3.to_checksum_address(args["maker"]),
        deadline=int(args["deadline"]),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
        offer_ids=tuple(int(i) for i in args["ids"]) if kind == "guard" else (),
    )


def chain_order(event: MarketEvent | SwitchEvent) -> tuple[int, int]:
    """Sort key putting events of both kinds in the order the chain emitted them."""
    return event.block_number, event.log_index
