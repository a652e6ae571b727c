"""What a run means: fills, the equity curve, and P&L split into spread capture and inventory.

Definitions (all in whole quote tokens, marked to the TRUE reference price of each step, which
the bots under test may see only with a lag):

- equity(k) = base held(k) x price(k) + quote held(k), holdings being free + escrowed after
  step k; P&L(k) = equity(k) - equity at the start (starting inventory at price(0)).
- spread capture = sum over own fills of signed size x (reference at the fill - fill price),
  signed + for a buy and - for a sell: what each trade was worth the moment it happened.
- inventory P&L = P&L - spread capture = sum over steps of base held before the step x the
  price change: what holding the inventory earned or lost while the price moved.
- gas cost = gas used x `market.gas_cost_per_mgas` / 1e6; net P&L = P&L - gas cost.
- mark-out after k steps (maker fills only) = sum of signed size x (price(step + k) - fill
  price); adverse selection = spread capture of those fills - their mark-out = sum of signed
  size x (price(step) - price(step + k)): how far the price went against the fills afterwards.

Amounts are exact (`Decimal`) up to the statistics (drawdown, Sharpe: `bots.backtest.stats`,
which also says when a window is long enough to show a Sharpe ratio), which are floats.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import Any, Literal

from bots.backtest.metrics import METRICS
from bots.backtest.results import AgentInfo, QuoteView, RunResult
from bots.backtest.stats import judge_sharpe, max_drawdown
from bots.market.events import MarketEvent
from bots.market.ledger import ConservationResult
from strategies.money import Token

MILLION = Decimal(1_000_000)
PRECISION = 120  # digits: 2**256 token units (78 digits) at prices up to 1e31, 6 decimals


@dataclass(frozen=True, slots=True)
class Fill:
    """One `LogTake` on the pair, with the step it happened in and the true price then."""

    step: int
    time: int
    block: int
    log_index: int
    offer_id: int
    maker: str
    taker: str
    maker_side: Literal["buy", "sell"]  # the maker's side in the base token
    base_amt: int
    quote_amt: int
    price: Decimal  # quote per whole base, as traded (28 significant digits)
    reference: Decimal

    def sign_for(self, address: str) -> int:
        """+1 if `address` bought base in this fill, -1 if it sold, 0 if not a party."""
        maker_buys = 1 if self.maker_side == "buy" else -1
        if address == self.maker:
            return maker_buys
        return -maker_buys if address == self.taker else 0


@dataclass(frozen=True, slots=True)
class EquityPoint:
    step: int
    time: int
    reference: Decimal
    base: int
    quote: int
    equity: Decimal
    pnl: Decimal
    spread: Decimal
    inventory: Decimal
    gas_used: int
    gas_cost: Decimal
    pnl_net: Decimal
    quotes: QuoteView | None


@dataclass(frozen=True)
class AgentReport:
    """One agent's figures; see the module docstring for the definitions."""

    name: str
    role: str
    address: str
    strategy: str
    params: dict[str, Any]
    feed_offset_steps: int
    start_base: int
    start_quote: int
    end_base: int
    end_quote: int
    equity_start: Decimal
    equity_end: Decimal
    pnl_total: Decimal
    pnl_spread: Decimal
    pnl_inventory: Decimal
    gas_used: int
    gas_cost: Decimal
    gas_paid_wei: int
    pnl_net: Decimal
    return_pct: float | None
    fills: int
    fills_maker: int
    fills_taker: int
    volume_base: Decimal
    volume_quote: Decimal
    maker_volume_base: Decimal
    taker_volume_base: Decimal
    posted_base: Decimal
    fill_ratio: float | None
    quote_uptime: float | None
    markout_steps: int
    markout_pnl: Decimal
    adverse_selection: Decimal
    adverse_selection_bps: float | None
    max_drawdown: float
    max_drawdown_pct: float | None
    sharpe: float | None  # None when the window is too short (bots.backtest.stats)
    sharpe_short_window: float | None  # the estimate of a window too short to show it
    sharpe_stderr: float | None
    window_days: float
    txs: int
    txs_failed: int
    txs_failed_by_reason: dict[str, int]
    tx_errors: int
    outcomes: dict[str, int]
    base_min: int
    base_max: int


@dataclass
class Analysis:
    result: RunResult
    fills: list[Fill]
    agents: list[AgentReport]
    equity: dict[str, list[EquityPoint]]
    accounting: ConservationResult

    def agent(self, name: str) -> AgentReport:
        return next(a for a in self.agents if a.name == name)

    @property
    def ok(self) -> bool:
        return self.result.conservation.ok and self.accounting.ok


def whole(amount: int, token: Token) -> Decimal:
    return Decimal(amount).scaleb(-token.decimals)


def analyse(result: RunResult) -> Analysis:
    """The run's fills, curves, reports and checks, in `PRECISION` digits: the default 28 cannot
    hold a large accepted price's equity to the cent (a 1e30 price times a 1e6 holding)."""
    with localcontext(Context(prec=PRECISION)):
        return _analyse(result)


def _analyse(result: RunResult) -> Analysis:
    fills = extract_fills(result)
    reports, curves, lines, ok = [], {}, [], True
    for info in result.agents:
        own = [f for f in fills if f.sign_for(info.address)]
        curve = equity_curve(result, info, own)
        curves[info.name] = curve
        reports.append(agent_report(result, info, own, curve))
        end = (curve[-1].base, curve[-1].quote) if curve else _start(info)
        chain = result.final_holdings[info.name]
        agent_ok = end == chain
        ok = ok and agent_ok
        lines.append(
            f"{info.name}: fills give {end[0]} {result.base.symbol} + {end[1]} "
            f"{result.quote.symbol}, chain holds {chain[0]} + {chain[1]}: "
            f"{'OK' if agent_ok else 'MISMATCH'}"
        )
    return Analysis(result, fills, reports, curves, ConservationResult(ok, tuple(lines)))


def extract_fills(result: RunResult) -> list[Fill]:
    """Takes on the backtest's pair, in chain order, each placed in its step."""
    firsts = [s.first_block for s in result.steps]
    fills = []
    for event in result.events:
        if event.kind != "take" or event.taker is None:
            continue
        step = max(0, bisect_right(firsts, event.block_number) - 1)
        fills.append(_fill(event, step, result))
    return fills


def _fill(event: MarketEvent, step: int, result: RunResult) -> Fill:
    base, quote = result.base, result.quote
    if event.pay_token == base.address:  # an ask was lifted: the maker sold base
        side: Literal["buy", "sell"] = "sell"
        base_amt, quote_amt = event.pay_amt, event.buy_amt
    else:  # a bid was hit: the maker bought base
        side, base_amt, quote_amt = "buy", event.buy_amt, event.pay_amt
    price = whole(quote_amt, quote) / whole(base_amt, base)
    return Fill(
        step=step,
        time=result.steps[step].time,
        block=event.block_number,
        log_index=event.log_index,
        offer_id=event.offer_id,
        maker=event.maker,
        taker=event.taker or "",
        maker_side=side,
        base_amt=base_amt,
        quote_amt=quote_amt,
        price=price,
        reference=result.steps[step].price,
    )


def _start(info: AgentInfo) -> tuple[int, int]:
    return info.inventory.base, info.inventory.quote


def equity_curve(result: RunResult, info: AgentInfo, own: Sequence[Fill]) -> list[EquityPoint]:
    """Holdings, equity and the P&L split after every step."""
    base, quote = result.base, result.quote
    per_mgas = result.scenario.market.gas_cost_per_mgas
    by_step: defaultdict[int, list[Fill]] = defaultdict(list)
    for fill in own:
        by_step[fill.step].append(fill)
    held_base, held_quote = _start(info)
    start_equity = whole(held_base, base) * result.path.at(0) + whole(held_quote, quote)
    spread = Decimal(0)
    curve = []
    for record in result.steps:
        for fill in by_step[record.step]:
            sign = fill.sign_for(info.address)
            held_base += sign * fill.base_amt
            held_quote -= sign * fill.quote_amt
            spread += sign * whole(fill.base_amt, base) * (fill.reference - fill.price)
        equity = whole(held_base, base) * record.price + whole(held_quote, quote)
        pnl = equity - start_equity
        gas = record.gas_used[info.name]
        gas_cost = gas * per_mgas / MILLION
        curve.append(
            EquityPoint(
                step=record.step,
                time=record.time,
                reference=record.price,
                base=held_base,
                quote=held_quote,
                equity=equity,
                pnl=pnl,
                spread=spread,
                inventory=pnl - spread,
                gas_used=gas,
                gas_cost=gas_cost,
                pnl_net=pnl - gas_cost,
                quotes=record.quotes.get(info.name),
            )
        )
    return curve


def agent_report(
    result: RunResult, info: AgentInfo, own: Sequence[Fill], curve: Sequence[EquityPoint]
) -> AgentReport:
    base = result.base
    start_base, start_quote = _start(info)
    start_equity = whole(start_base, base) * result.path.at(0) + whole(start_quote, result.quote)
    last = curve[-1] if curve else None
    markout, adverse, maker_quote_volume = _markouts(result, info, own)
    drawdown, drawdown_pct = max_drawdown(_net_series(start_equity, curve))
    verdict = judge_sharpe(_net_series(start_equity, curve), [s.time for s in result.steps])
    volumes = _volumes(info, own, result)
    return AgentReport(
        name=info.name,
        role=info.role,
        address=info.address,
        strategy=info.strategy,
        params=info.params,
        feed_offset_steps=info.offset,
        start_base=start_base,
        start_quote=start_quote,
        end_base=last.base if last else start_base,
        end_quote=last.quote if last else start_quote,
        equity_start=start_equity,
        equity_end=last.equity if last else start_equity,
        pnl_total=last.pnl if last else Decimal(0),
        pnl_spread=last.spread if last else Decimal(0),
        pnl_inventory=last.inventory if last else Decimal(0),
        gas_used=info.gas_used,
        gas_cost=last.gas_cost if last else Decimal(0),
        gas_paid_wei=info.gas_paid_wei,
        pnl_net=last.pnl_net if last else Decimal(0),
        return_pct=_ratio(last.pnl_net * 100, start_equity) if last else None,
        **volumes,
        quote_uptime=_uptime(result, info),
        markout_steps=result.scenario.markout_steps,
        markout_pnl=markout,
        adverse_selection=adverse,
        adverse_selection_bps=_ratio(adverse * 10_000, maker_quote_volume),
        max_drawdown=drawdown,
        max_drawdown_pct=drawdown_pct,
        sharpe=verdict.sharpe,
        sharpe_short_window=verdict.short_window,
        sharpe_stderr=verdict.stderr,
        window_days=verdict.window_days,
        txs=info.txs,
        txs_failed=info.txs_failed,
        txs_failed_by_reason=info.txs_failed_by_reason,
        tx_errors=sum(s.tx_errors.get(info.name, 0) for s in result.steps),
        outcomes=dict(Counter(s.outcomes[info.name] for s in result.steps)),
        base_min=min((p.base for p in curve), default=start_base),
        base_max=max((p.base for p in curve), default=start_base),
    )


def _volumes(info: AgentInfo, own: Sequence[Fill], result: RunResult) -> dict[str, Any]:
    base, quote = result.base, result.quote
    maker = [f for f in own if f.maker == info.address]
    taker = [f for f in own if f.maker != info.address]
    posted = sum(
        (e.pay_amt if e.pay_token == base.address else e.buy_amt)
        for e in result.events
        if e.kind == "make" and e.maker == info.address
    )
    maker_base = sum(f.base_amt for f in maker)
    return {
        "fills": len(own),
        "fills_maker": len(maker),
        "fills_taker": len(taker),
        "volume_base": whole(sum(f.base_amt for f in own), base),
        "volume_quote": whole(sum(f.quote_amt for f in own), quote),
        "maker_volume_base": whole(maker_base, base),
        "taker_volume_base": whole(sum(f.base_amt for f in taker), base),
        "posted_base": whole(posted, base),
        "fill_ratio": maker_base / posted if posted else None,
    }


def _markouts(
    result: RunResult, info: AgentInfo, own: Sequence[Fill]
) -> tuple[Decimal, Decimal, Decimal]:
    """(mark-out P&L, adverse selection, quote volume) of the agent's maker fills."""
    k = result.scenario.markout_steps
    markout = adverse = volume = Decimal(0)
    for fill in own:
        if fill.maker != info.address:
            continue
        size = fill.sign_for(info.address) * whole(fill.base_amt, result.base)
        later = result.path.at(fill.step + k)
        markout += size * (later - fill.price)
        adverse += size * (fill.reference - later)
        volume += whole(fill.quote_amt, result.quote)
    return markout, adverse, volume


def _uptime(result: RunResult, info: AgentInfo) -> float | None:
    """Share of steps with both a bid and an ask live after the bot's tick (makers only)."""
    if info.role != "bot" or not result.steps:
        return None
    both = 0
    for record in result.steps:
        view = record.quotes.get(info.name)
        both += view is not None and view.bid is not None and view.ask is not None
    return both / len(result.steps)


def _ratio(numerator: Decimal, denominator: Decimal) -> float | None:
    return float(numerator / denominator) if denominator else None


def _net_series(start: Decimal, curve: Sequence[EquityPoint]) -> list[float]:
    """Net equity (after gas cost) from the start through every step."""
    return [float(start)] + [float(p.equity - p.gas_cost) for p in curve]


def metric_value(agent: AgentReport, metric: str) -> float | int | None:
    """One of `METRICS` of `agent` as a plain number (floats rounded to 6 places), or None
    where it is undefined (no maker fills, nothing posted, a Sharpe window too short).
    Raises ValueError for a name not in `METRICS`."""
    if metric not in METRICS:
        raise ValueError(f"not a metric: {metric!r}")
    value = getattr(agent, metric)
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    return value if isinstance(value, int) else None


def report_of(result: RunResult, name: str) -> AgentReport:
    """Agent `name`'s figures from a run so far (no accounting check: the run may be partial,
    see `bots.backtest.engine.Checkpoint`)."""
    info = next(a for a in result.agents if a.name == name)
    own = [f for f in extract_fills(result) if f.sign_for(info.address)]
    return agent_report(result, info, own, equity_curve(result, info, own))
