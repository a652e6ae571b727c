"""What a backtest run leaves behind: per-step records, the agents and the chain's facts.

Plain data, read off the chain by `bots.backtest.engine` and turned into figures by
`bots.backtest.analytics`. `Checkpoint` lets a caller look at a run before it ends (the
optimiser's intermediate objective).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bots.backtest.agents import Role
from bots.backtest.flows import Inventory
from bots.backtest.pricepath import PricePath
from bots.backtest.scenario import Scenario
from bots.market.events import MarketEvent
from bots.market.ledger import ConservationResult
from strategies.money import Token


@dataclass(frozen=True, slots=True)
class QuoteView:
    """A bot's live quotes right after its tick (quote per whole base): the best bid and ask,
    and every level of each side, best first (the plots draw them all)."""

    bid: float | None
    ask: float | None
    bids: tuple[float, ...] = ()
    asks: tuple[float, ...] = ()


@dataclass(frozen=True)
class StepRecord:
    step: int
    time: int
    price: Decimal
    first_block: int
    last_block: int
    quotes: dict[str, QuoteView]
    outcomes: dict[str, str]
    tx_errors: dict[str, int]
    gas_used: dict[str, int]  # cumulative per agent at the end of the step


@dataclass(frozen=True)
class AgentInfo:
    name: str
    role: Role
    address: str
    strategy: str
    params: dict[str, Any]
    offset: int
    inventory: Inventory
    txs: int
    txs_failed: int
    gas_used: int
    gas_paid_wei: int
    txs_failed_by_reason: dict[str, int] = field(default_factory=dict)  # "buy: OfferNotActive"


@dataclass
class RunResult:
    """Everything a report needs, read from the chain before it stopped."""

    scenario: Scenario
    path: PricePath
    base: Token
    quote: Token
    agents: list[AgentInfo]
    steps: list[StepRecord]
    events: list[MarketEvent]
    final_holdings: dict[str, tuple[int, int]]  # free + escrowed, base units
    conservation: ConservationResult
    wall_s: float
    loop_s: float  # the steps alone: no chain start, setup or final reads
    timings: dict[str, float] = field(default_factory=dict)
    rpc_calls: dict[str, int] = field(default_factory=dict)

    @property
    def txs(self) -> int:
        return sum(a.txs + a.txs_failed for a in self.agents)


@dataclass(frozen=True)
class Checkpoint:
    """Call `call(steps done, the run so far)` after every `every_steps` steps (not after the
    last: the finished run is the result). The run so far has no final holdings and an
    unchecked conservation; its last step's gas may still be the step before's (shared blocks
    settle a step's transactions in the next tick). Whatever `call` raises ends the run (the
    dev chain is stopped) and propagates out of `run_backtest`."""

    every_steps: int
    call: Callable[[int, RunResult], None]
