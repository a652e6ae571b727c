"""The agents of a backtest: each an account with an in-process `Bot` wired like `otcmm run`'s.

`bots.service.process.build` wires a bot from a config file and a keystore; here the same pieces
(`Transactor`, `MarketClient`, `ChainView`, `Executor`, `RiskLimits`, `Tolerance`, `BotMetrics`)
are wired from the scenario, with a feed and a clock the engine sets each step. The view and the
executor are timed subclasses, so a backtest can say where its time goes.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from eth_account.signers.local import LocalAccount
from web3 import Web3

from bots.backtest.flows import Inventory, flow_offset, flow_strategy
from bots.backtest.scenario import Scenario
from bots.backtest.world import Deployment, agent_account, fund
from bots.chain.transactor import Transactor, TxEvent
from bots.feeds.sources import PriceReading
from bots.market.client import MarketClient
from bots.service.metrics import BotMetrics
from bots.tick.executor import Execution, Executor
from bots.tick.limits import ReconcileConfig, RiskLimits
from bots.tick.reconcile import Plan, Tolerance
from bots.tick.runner import Bot
from bots.tick.snapshot import ChainView, Observation
from strategies.api import LiveOffer, Take
from strategies.registry import build_strategy

Role = Literal["bot", "noise", "price_sensitive", "informed"]
RECEIPT_TIMEOUT_S = 30.0


class SimClock:
    """The time every bot sees: the current step's block timestamp."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteppedFeed:
    """A `PriceFeed` whose price and observation time the engine sets each step."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.price = Decimal(0)
        self.observed_at = 0.0

    def set(self, price: Decimal, at: float) -> None:
        self.price, self.observed_at = price, at

    def read(self) -> PriceReading:
        return PriceReading(self.price, self.observed_at, self.name)


class Timings:
    """Wall seconds per phase of the loop, to show where a backtest spends its time."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


class TimedChainView(ChainView):
    """`ChainView` whose reads are timed (the snapshot phase of a tick)."""

    timings: Timings

    def read(self, tick: int, held: Sequence[str] = ()) -> Observation:
        with self.timings.phase("snapshot (ChainView.read)"):
            return super().read(tick, held)


class TimedExecutor(Executor):
    """`Executor` whose executions are timed (sign, send, mine, receipt)."""

    timings: Timings

    def execute(
        self,
        plan: Plan,
        takes: Sequence[Take],
        offers: Sequence[LiveOffer] = (),
        *,
        deadline: int | None = None,
    ) -> Execution:
        with self.timings.phase("execute (sign, send, receipt)"):
            return super().execute(plan, takes, offers, deadline=deadline)


@dataclass
class GasMeter:
    """Counts one agent's transactions and gas from its transactor's events."""

    mined: int = 0
    failed: int = 0
    gas_used: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # failed transactions by reason

    def __call__(self, event: TxEvent) -> None:
        if event.kind == "mined":
            self.mined += 1
        elif event.kind == "failed":
            self.failed += 1
            self.failures[f"{event.label}: {event.reason or 'unknown'}"] += 1
        self.gas_used += event.gas_used or 0


@dataclass
class Agent:
    """One trading account of the backtest and the in-process bot that trades it."""

    plan: AgentPlan
    account: LocalAccount
    bot: Bot
    feed: SteppedFeed
    gas: GasMeter
    native_start_wei: int

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def role(self) -> Role:
        return self.plan.role

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass(frozen=True)
class AgentPlan:
    """What the scenario says about one agent, whatever its kind."""

    name: str
    role: Role
    offset: int  # the feed shows the true price of step + offset
    strategy: str
    params: dict[str, Any]
    inventory: Inventory
    limits: RiskLimits
    tolerance: Tolerance


def agent_plans(scenario: Scenario) -> list[AgentPlan]:
    """Bots under test first, in file order, then the counter-flow: the order they tick in."""
    plans = [
        AgentPlan(
            name=bot.name,
            role="bot",
            offset=-bot.feed_lag_steps,
            strategy=bot.strategy.name,
            params=bot.strategy.params,
            inventory=bot.inventory,
            limits=bot.risk,
            tolerance=bot.reconcile.tolerance(),
        )
        for bot in scenario.bots
    ]
    for flow in scenario.flow:
        strategy, params = flow_strategy(scenario.seed, flow)
        plans.append(
            AgentPlan(
                name=flow.name,
                role=flow.kind,
                offset=flow_offset(flow),
                strategy=strategy,
                params=params,
                inventory=flow.inventory,
                limits=RiskLimits(),
                tolerance=ReconcileConfig().tolerance(),
            )
        )
    return plans


def build_agent(
    plan: AgentPlan,
    w3: Web3,
    deployment: Deployment,
    *,
    seed: int,
    clock: SimClock,
    timings: Timings,
    trade_w3: Web3 | None = None,
    header: Callable[[], dict[str, Any]] | None = None,
) -> Agent:
    """Fund the agent's account (through `w3`, which mines each transaction), then wire its
    bot as `bots.service.process.build` does.

    With `trade_w3` (shared blocks) the bot trades through it: its transactions are sent and
    held at once (the engine mines the step's block after every agent ticked, and the next tick
    settles them), and the market's own operations go out with fixed gas limits (the
    backtest's tokens are plain AssetTokens), so a transaction costs one round trip; `header`
    hands every agent of a step the block header the engine read once.
    """
    shared_blocks = trade_w3 is not None
    account = agent_account(seed, plan.name)
    fund(deployment, Transactor(w3, account), plan.inventory)
    meter = GasMeter()  # counts from here on: the steps' transactions, not the setup's
    transactor = Transactor(
        trade_w3 or w3,
        account,
        receipt_timeout_s=0.0 if shared_blocks else RECEIPT_TIMEOUT_S,
        gas_price_cap_wei=plan.limits.max_gas_price_wei,
        on_event=meter,
        fee_ttl_s=1.0,  # as a live bot: one fee lookup serves a tick's transactions
    )
    client = MarketClient(
        trade_w3 or w3, deployment.market.market_address, transactor, fixed_gas=shared_blocks
    )
    view = TimedChainView(client, deployment.base, deployment.quote, account.address, header=header)
    executor = TimedExecutor(client)
    view.timings = executor.timings = timings
    feed = SteppedFeed(f"backtest:{plan.name}")
    bot = Bot(
        view=view,
        strategy=build_strategy(plan.strategy, plan.params),
        feed=feed,
        executor=executor,
        limits=plan.limits,
        tolerance=plan.tolerance,
        metrics=BotMetrics(clock=clock),
        clock=clock,
    )
    native = int(w3.eth.get_balance(account.address))
    return Agent(plan, account, bot, feed, meter, native)
