"""The step loop: the backtest owns the chain's clock, the agents' feeds and their clocks.

Deterministic by construction: anvil runs with `--no-mining`, a block-timestamp interval of 0
and `--order fifo`. Each step gives each agent its feed price (bots under test: the true price
`feed_lag_steps` ago; noise takers: the true price; informed takers: the true price or a later
step's) and ticks it: `Bot.tick`, the very pipeline `otcmm run` uses; then it records each
bot's live quotes (quote uptime, plots).

`blocks = "shared"` (the default): one block per step, as on a live chain. The agents tick in a
seeded order, all reading the last block, and every transaction they send waits in the pool
(held by its sender, as a live bot holds one between ticks) until the engine mines the step's
block, stamped with the step's time: transactions in the order sent, so a re-quote can race a
take. An agent gets one transaction into a block; its next tick settles it. The market's
operations go out with fixed gas limits (plain AssetTokens): a transaction is one round trip.
`blocks = "per_tx"` (the old way): an empty block stamped with the step's time first, then the
agents in scenario order, every raw transaction followed at once by an `evm_mine`
(`MiningProvider`), one transaction per block; the quotes recorded are the book after the
makers' ticks.

Either way the same scenario gives the same blocks, transactions and trades, byte for byte.
Anvil keeps only recent states (`--prune-history`): with every past state in memory it slows
down as the run grows, and the bots only ever read the latest block (logs and receipts stay).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint, RPCResponse

from bots.backtest.agents import Agent, SimClock, Timings, agent_plans, build_agent
from bots.backtest.pricepath import PricePath, build_path
from bots.backtest.results import AgentInfo, Checkpoint, QuoteView, RunResult, StepRecord
from bots.backtest.scenario import Scenario
from bots.backtest.world import Deployment, deploy
from bots.chain.rawrpc import raw_request
from bots.chain.rpc import RetryingHTTPProvider
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, DevChainParams, dev_accounts
from bots.devtools.network import load_network
from bots.errors import ChainError
from bots.market.ledger import ConservationResult, conservation
from strategies.api import LiveOffer
from strategies.money import offer_price

Progress = Callable[[int, int, int], None]
"""Called after each step with (steps done, steps in total, transactions so far)."""

STATES_KEPT = 256  # anvil's in-memory state history: plenty for reads at the latest block
RPC_TIMEOUT_S = 60.0


class MiningProvider(RetryingHTTPProvider):
    """Mines a block as soon as the node accepts a raw transaction (a `--no-mining` chain).

    `evm_mine` answers once the block exists, so the transactor's first receipt poll finds it:
    one transaction per block, in the order they were sent.
    """

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction" and "error" not in response:
            super().make_request(RPCEndpoint("evm_mine"), [])
        return response


class Engine:
    """One backtest on one dev chain; `run_backtest` is the way in."""

    def __init__(
        self, scenario: Scenario, path: PricePath, chain: DevChain, timings: Timings
    ) -> None:
        self.scenario = scenario
        self.path = path
        self.chain = chain
        self.timings = timings
        self.rpc_calls: Counter[str] = Counter()
        self.shared = scenario.blocks == "shared"
        provider = MiningProvider(chain.url, timeout_s=RPC_TIMEOUT_S)  # setup: mine each tx
        provider.on_request = self._count_rpc
        self.w3 = Web3(provider)
        self.trade_w3 = self.w3  # what the agents' bots use
        if self.shared:  # their transactions wait for the step's block
            trading = RetryingHTTPProvider(chain.url, timeout_s=RPC_TIMEOUT_S)
            trading.on_request = self._count_rpc
            self.trade_w3 = Web3(trading)
        self.clock = SimClock(float(path.times[0]))
        self.deployment: Deployment | None = None
        self.agents: list[Agent] = []
        self.steps: list[StepRecord] = []
        self.last_block = 0
        self.loop_s = 0.0
        self.header: dict[str, Any] = {}  # the step's first block, read once for all agents

    def _count_rpc(self, method: str) -> None:
        self.rpc_calls[method] += 1

    @property
    def market(self) -> Deployment:
        if self.deployment is None:
            raise ChainError("the backtest market is not deployed yet")
        return self.deployment

    # ------------------------------------------------------------------ setup
    def setup(self, deployer: LocalAccount) -> None:
        """Freeze the block clock, deploy, and fund every agent (all before step 0)."""
        with self.timings.phase("setup (deploy, fund)"):
            self.chain.rpc("anvil_setBlockTimestampInterval", [0])
            self.deployment = deploy(self.w3, deployer, self.scenario)
            self.agents = [
                build_agent(
                    plan,
                    self.w3,
                    self.deployment,
                    seed=self.scenario.seed,
                    clock=self.clock,
                    timings=self.timings,
                    trade_w3=self.trade_w3 if self.shared else None,
                    header=(lambda: self.header) if self.shared else None,
                )
                for plan in agent_plans(self.scenario)
            ]
            self.last_block = int(self.w3.eth.block_number)

    # ------------------------------------------------------------------ steps
    def run_steps(self, progress: Progress | None, checkpoint: Checkpoint | None = None) -> None:
        started = time.perf_counter()
        total = len(self.path)
        for step in range(total):
            self.step(step)
            if progress is not None:
                progress(step + 1, total, sum(a.gas.mined + a.gas.failed for a in self.agents))
            if checkpoint and (step + 1) % checkpoint.every_steps == 0 and step + 1 < total:
                checkpoint.call(step + 1, self.so_far(started))
        if self.shared and self.steps:
            self._record_quotes(None)  # the last step's block: nobody read it yet
        self.loop_s = time.perf_counter() - started

    def step(self, k: int) -> None:
        t = self.path.times[k]
        first_block = self.last_block + 1
        self.clock.now = float(t)
        if self.shared:
            outcomes, errors = self._shared_step(k, t)
            quotes: dict[str, QuoteView] = {}  # known once the next step reads the book
            self.last_block = first_block  # one block per step
            if self.steps:  # this step's ticks settled the last step's block: its gas
                gas = {a.name: a.gas.gas_used for a in self.agents}
                self.steps[-1] = dataclasses.replace(self.steps[-1], gas_used=gas)
        else:
            with self.timings.phase("chain clock (evm_mine, block number)"):
                raw_request(self.w3, "evm_mine", [t])
            outcomes, errors, quotes = self._per_tx_step(k, t)
            with self.timings.phase("chain clock (evm_mine, block number)"):
                self.last_block = int(self.w3.eth.block_number)
        gas = {a.name: a.gas.gas_used for a in self.agents}
        record = StepRecord(
            k, t, self.path.at(k), first_block, self.last_block, quotes, outcomes, errors, gas
        )
        self.steps.append(record)

    def _shared_step(self, k: int, t: int) -> tuple[dict[str, str], dict[str, int]]:
        """Every agent reads the last block (its header read once, here) and sends into the
        step's block, in a seeded order (the node keeps arrival order: `--order fifo`); then
        that block is mined, stamped with the step's time. The previous step's quotes are the
        book the first agent reads: the state that step's block left. `evm_mine_detailed`
        answers with the block it mined: the next step's header without a call of its own."""
        if not self.header:
            with self.timings.phase("chain clock (evm_mine, block number)"):
                self.header = raw_request(self.trade_w3, "eth_getBlockByNumber", ["latest", False])
        outcomes: dict[str, str] = {}
        errors: dict[str, int] = {}
        order = list(self.agents)
        seed = f"otcmm-backtest:{self.scenario.seed}:{k}"
        random.Random(seed).shuffle(order)  # noqa: S311 - a simulation's order, not a secret
        for agent in order:
            outcomes[agent.name], errors[agent.name] = self._tick(agent, k, t)
            if agent is order[0] and self.steps:
                self._record_quotes(agent.bot.view.last_book)
        with self.timings.phase("chain clock (evm_mine, block number)"):
            mined = raw_request(self.w3, "evm_mine_detailed", [t])
        if not isinstance(mined, list) or not mined or not isinstance(mined[-1], dict):
            raise ChainError(f"evm_mine_detailed answered {str(mined)[:80]!r}, not the block")
        self.header = mined[-1]
        return outcomes, errors

    def _record_quotes(self, book: tuple[list[LiveOffer], list[LiveOffer]] | None) -> None:
        """Fill in the last step's quotes from `book` (read from the chain if None)."""
        makers = [a for a in self.agents if a.role == "bot"]
        with self.timings.phase("quote read (book)"):
            quotes = self._quotes(makers, book)
        self.steps[-1] = dataclasses.replace(self.steps[-1], quotes=quotes)

    def _per_tx_step(
        self, k: int, t: int
    ) -> tuple[dict[str, str], dict[str, int], dict[str, QuoteView]]:
        """Agents in scenario order, each transaction mined alone at once (`MiningProvider`)."""
        outcomes: dict[str, str] = {}
        errors: dict[str, int] = {}
        makers = [a for a in self.agents if a.role == "bot"]
        flow = [a for a in self.agents if a.role != "bot"]
        for agent in makers:
            outcomes[agent.name], errors[agent.name] = self._tick(agent, k, t)
        book = None
        for agent in flow:
            outcomes[agent.name], errors[agent.name] = self._tick(agent, k, t)
            # The first taker's snapshot is the book right after the makers' ticks: reuse it.
            book = book or agent.bot.view.last_book
        with self.timings.phase("quote read (book)"):
            quotes = self._quotes(makers, book)
        return outcomes, errors, quotes

    def _tick(self, agent: Agent, k: int, t: int) -> tuple[str, int]:
        agent.feed.set(self.path.at(k + agent.plan.offset), float(t))
        with structlog.contextvars.bound_contextvars(bot=agent.name):
            with self.timings.phase("tick (total)"):
                report = agent.bot.tick()
        return report.outcome, len(report.done.errors)

    def _quotes(
        self, makers: list[Agent], book: tuple[list[LiveOffer], list[LiveOffer]] | None
    ) -> dict[str, QuoteView]:
        """Each bot's best live bid and ask in `book`, read from the chain if not given."""
        base, quote = self.market.base, self.market.quote
        bids, asks = book or self.market.market.book(base.address, quote.address)
        views = {}
        for agent in makers:
            own_bids = [
                offer_price(base, quote, o.buy_amt, o.pay_amt)
                for o in bids
                if o.owner == agent.address
            ]
            own_asks = [
                offer_price(base, quote, o.pay_amt, o.buy_amt)
                for o in asks
                if o.owner == agent.address
            ]
            views[agent.name] = QuoteView(
                _best(own_bids, max),
                _best(own_asks, min),
                tuple(float(p) for p in sorted(own_bids, reverse=True)),
                tuple(float(p) for p in sorted(own_asks)),
            )
        return views

    # ------------------------------------------------------------------ the end
    def finish(self, wall_started: float) -> RunResult:
        """Read the trades, final holdings and the conservation check off the chain."""
        m = self.market
        for agent in self.agents:  # the last step's transactions: mined, not yet settled
            agent.bot.executor.settle_held()
        if self.steps:  # their gas belongs to the last step, whose block mined them
            gas = {a.name: a.gas.gas_used for a in self.agents}
            self.steps[-1] = dataclasses.replace(self.steps[-1], gas_used=gas)
        with self.timings.phase("events and final reads"):
            first = self.steps[0].first_block if self.steps else self.last_block
            result = self._read(first)
            holdings = {a.name: self._holdings(a) for a in self.agents}
            holders = [m.deployer.address, *(a.address for a in self.agents)]
            check = conservation(m.market, list(m.tokens), holders)
        return dataclasses.replace(
            result,
            final_holdings=holdings,
            conservation=check,
            wall_s=time.perf_counter() - wall_started,
            loop_s=self.loop_s,
            timings=self._phase_table(),
            rpc_calls=dict(self.rpc_calls),
        )

    def so_far(self, wall_started: float) -> RunResult:
        """The run up to the last mined block, read without settling anything (only reads:
        the chain and the agents go on exactly as without it). See `Checkpoint`."""
        with self.timings.phase("checkpoint reads"):
            result = self._read(self.steps[0].first_block)
        elapsed = time.perf_counter() - wall_started
        return dataclasses.replace(result, wall_s=elapsed, loop_s=elapsed)

    def _read(self, first_block: int) -> RunResult:
        """The run's events from `first_block` and its agents as they stand, as a result with
        no holdings, no conservation check yet and no times (the callers fill those in)."""
        m = self.market
        return RunResult(
            scenario=self.scenario,
            path=self.path,
            base=m.base,
            quote=m.quote,
            agents=[self._info(a) for a in self.agents],
            steps=list(self.steps),
            events=m.market.events(first_block, self.last_block),
            final_holdings={},
            conservation=ConservationResult(False, ("not checked: the run is not over",)),
            wall_s=0.0,
            loop_s=0.0,
        )

    def _holdings(self, agent: Agent) -> tuple[int, int]:
        market = self.market.market
        escrow: Counter[str] = Counter()
        for offer in market.owner_offers(agent.address):
            escrow[offer.pay_token] += offer.remaining
        base, quote = self.market.base.address, self.market.quote.address
        return (
            market.balance_of(base, agent.address) + escrow[base],
            market.balance_of(quote, agent.address) + escrow[quote],
        )

    def _info(self, agent: Agent) -> AgentInfo:
        native = int(self.w3.eth.get_balance(Web3.to_checksum_address(agent.address)))
        return AgentInfo(
            name=agent.name,
            role=agent.role,
            address=agent.address,
            strategy=agent.plan.strategy,
            params=agent.plan.params,
            offset=agent.plan.offset,
            inventory=agent.plan.inventory,
            txs=agent.gas.mined,
            txs_failed=agent.gas.failed,
            txs_failed_by_reason=dict(sorted(agent.gas.failures.items())),
            gas_used=agent.gas.gas_used,
            gas_paid_wei=agent.native_start_wei - native,
        )

    def _phase_table(self) -> dict[str, float]:
        """Phases as measured, with the pure part of each tick (decide, guard, reconcile)
        derived as what the tick spent outside its snapshot and its execution."""
        s: dict[str, float] = dict(self.timings.seconds)
        tick = s.pop("tick (total)", 0.0)
        inner = s.get("snapshot (ChainView.read)", 0.0) + s.get(
            "execute (sign, send, receipt)", 0.0
        )
        s["decide, guard, reconcile, observe"] = max(0.0, tick - inner)
        return s


def _best(prices: list[Fraction], pick: Callable[[list[Fraction]], Fraction]) -> float | None:
    return float(pick(prices)) if prices else None


def run_backtest(
    scenario: Scenario,
    *,
    progress: Progress | None = None,
    params: DevChainParams | None = None,
    checkpoint: Checkpoint | None = None,
) -> RunResult:
    """Start a dev chain, replay the scenario, read the results, stop the chain (also when
    `progress` or `checkpoint` raises: the exception propagates)."""
    started = time.perf_counter()
    path = build_path(scenario)
    params = params or devchain_params(load_network())
    genesis = str(path.times[0] - 1)  # setup happens one second before step 0
    timings = Timings()
    with timings.phase("dev chain start"):
        # fifo: a block holds the step's transactions in the order the agents sent them
        extra = ("--timestamp", genesis, "--prune-history", str(STATES_KEPT), "--order", "fifo")
        chain = DevChain(params, mode="manual", extra_args=extra).start()
    with chain:
        engine = Engine(scenario, path, chain, timings)
        engine.setup(dev_accounts(params, 1)[0])
        engine.run_steps(progress, checkpoint)
        return engine.finish(started)
