"""The load benchmark's report: what one run measured, as text, and the checks that decide it.

Figures (all from the run itself):
- transactions by outcome and revert reason, read from the chain (every block of the run),
  beside the bots' `otcmm_tx_failed_total{label,reason}` at the last scrape before SIGTERM and
  the reasons the bots logged (the chain column until that scrape's block is the one to compare
  with the metrics: transactions mined later, during shutdown, are not in them yet);
- per bot: ticks in the measuring window against the window / tick interval, skipped ticks,
  ticks that raised and ticks whose transactions all failed; CPU seconds (user + system) over
  the whole process and peak RSS; RPC calls per second in the window; journal size at the end,
  its largest sampled size and the compactions seen; exit code and seconds from SIGTERM to exit;
- the node (anvil) and this benchmark process: CPU and peak RSS;
- conservation of both tokens and the book after shutdown.

`Checks.failed` lists what makes the run fail (exit 1): an out-of-gas revert, a bot that did not
exit 0, a conservation mismatch, an offer left on the book. `Checks.notes` are reported, not
fatal: reverts with an unknown reason, reverts not named in their bot's log, a journal past its
bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.load_chain import MinedTx
from bench.load_fleet import BotSpec
from bench.load_probe import JournalWatch, ProcUsage, Scrape
from bots.market.ledger import ConservationResult

MIB = 1024 * 1024
JOURNAL_SLACK_BYTES = 32 * 1024
"""A journal is compacted once a `done` record takes it past its bound, so it may exceed the
bound by the records appended since the last check: the signed bytes of a transaction or two
(a 60-action requote is ~8 KB of calldata, ~16 KB in hex) and their `done` lines."""


@dataclass
class BotResult:
    """One bot process, as watched and scraped during the run."""

    spec: BotSpec
    address: str
    usage: ProcUsage
    journal: JournalWatch
    first: Scrape | None = None
    last: Scrape | None = None
    exit_code: int | None = None
    lifetime_s: float = 0.0
    stop_s: float | None = None
    logged: dict[str, str] = field(default_factory=dict)

    def window(self, name: str) -> float:
        """How much the counter `name` grew between the first and the last scrape."""
        if self.first is None or self.last is None:
            return 0.0
        return self.last.total(name) - self.first.total(name)


@dataclass
class LoadResult:
    """Everything one run measured."""

    header: Sequence[str]
    tick_interval_s: float
    window_s: float
    journal_max_bytes: int
    first_block: int
    last_block: int
    scrape_block: int
    txs: Sequence[MinedTx]
    bots: Sequence[BotResult]
    anvil: ProcUsage
    bench_cpu_s: float
    bench_rss: int
    conservation: ConservationResult
    offers_left: int
    bot_offers_left: int


@dataclass(frozen=True)
class Checks:
    failed: tuple[str, ...]
    notes: tuple[str, ...]
    passed: tuple[str, ...]


def check(result: LoadResult) -> Checks:
    """The run's verdict: what failed, what is only noted, what passed (one line each)."""
    reverts = [tx for tx in result.txs if not tx.ok]
    out_of_gas = [tx for tx in reverts if tx.reason == "out_of_gas"]
    bad_exit = [f"{b.spec.name} exited {b.exit_code}" for b in result.bots if b.exit_code != 0]
    slowest = max((b.stop_s or 0.0 for b in result.bots), default=0.0)
    unknown = [tx for tx in reverts if tx.reason == "unknown"]
    unlogged = [tx for tx in reverts if not _logged(result, tx)]
    bound = result.journal_max_bytes + JOURNAL_SLACK_BYTES
    over = [b.spec.name for b in result.bots if b.journal.peak > bound]
    fatal = [
        (not out_of_gas, "no out-of-gas revert", f"{len(out_of_gas)} out-of-gas reverts"),
        (
            not bad_exit,
            f"every bot exited 0 ({slowest:.1f} s after SIGTERM at most)",
            "; ".join(bad_exit),
        ),
        (result.conservation.ok, "conservation exact", "conservation failed"),
        (result.bot_offers_left == 0, "no bot offer left", f"{result.bot_offers_left} left"),
    ]
    noted = [
        (not unknown, "every revert has a known reason", f"{len(unknown)} reverts: unknown"),
        (not unlogged, "every revert logged by its bot with the chain's reason", _few(unlogged)),
        (not over, f"journals within {bound:,} bytes", "past the bound: " + ", ".join(over)),
    ]
    return Checks(
        failed=tuple(bad for ok, _, bad in fatal if not ok),
        notes=tuple(bad for ok, _, bad in noted if not ok),
        passed=tuple(good for ok, good, _ in fatal + noted if ok),
    )


def _logged(result: LoadResult, tx: MinedTx) -> bool:
    """Whether the sending bot logged `tx`'s hash with the reason read from the chain."""
    bot = next(b for b in result.bots if b.spec.name == tx.bot)
    return tx.text in bot.logged.get(tx.tx_hash.lower(), "")


def _few(txs: Sequence[MinedTx]) -> str:
    shown = ", ".join(f"{t.bot} {t.label} {t.reason} {t.tx_hash}" for t in txs[:5])
    more = f" and {len(txs) - 5} more" if len(txs) > 5 else ""
    return f"{len(txs)} reverts not in their bot's log with that reason: {shown}{more}"


def summary(result: LoadResult) -> dict[str, Any]:
    """The report's figures as JSON-ready data (`--json`), for scripts and tests."""
    verdict = check(result)
    return {
        "mined": len(result.txs),
        "reverted": sum(not tx.ok for tx in result.txs),
        "reverts": [
            {"bot": t.bot, "label": t.label, "reason": t.reason, "tx": t.tx_hash, "text": t.text}
            for t in result.txs
            if not t.ok
        ],
        "bots": {
            b.spec.name: {
                "strategy": b.spec.strategy,
                "exit_code": b.exit_code,
                "stop_s": b.stop_s,
                "ticks": b.window("otcmm_ticks_total"),
                "skipped": b.window("otcmm_ticks_skipped_total"),
                "rpc_per_s": _rate(b),
                "cpu_s": b.usage.cpu_s,
                "peak_rss": b.usage.peak_rss,
                "journal_bytes": b.journal.size,
                "journal_peak": b.journal.peak,
                "compactions": b.journal.compactions,
            }
            for b in result.bots
        },
        "anvil": {"cpu_s": result.anvil.cpu_s, "peak_rss": result.anvil.peak_rss},
        "window_s": result.window_s,
        "offers_left": result.offers_left,
        "conservation_ok": result.conservation.ok,
        "failed": list(verdict.failed),
        "notes": list(verdict.notes),
    }


def render(result: LoadResult) -> str:
    checks = check(result)
    lines = ["== otcmm load benchmark ==", *result.header, ""]
    lines += _transactions(result) + [""] + _reverts(result) + [""]
    lines += _ticks(result) + [""] + _resources(result) + [""]
    lines += ["conservation:", *[f"  {line}" for line in result.conservation.lines]]
    lines += [
        f"book after shutdown: {result.offers_left} offers ({result.bot_offers_left} of the bots)",
        "",
        "checks:",
        *[f"  ok    {line}" for line in checks.passed],
        *[f"  note  {line}" for line in checks.notes],
        *[f"  FAIL  {line}" for line in checks.failed],
        "=> " + ("FAILED" if checks.failed else "PASSED"),
    ]
    return "\n".join(lines)


def _transactions(result: LoadResult) -> list[str]:
    txs = result.txs
    reverted = sum(not tx.ok for tx in txs)
    share = f" ({100 * reverted / len(txs):.1f}%)" if txs else ""
    lines = [
        f"transactions (read from the chain, blocks {result.first_block}..{result.last_block}):",
        f"  mined {len(txs):,}: ok {len(txs) - reverted:,}, reverted {reverted:,}{share}",
        f"  {'function':<14}{'mined':>8}{'ok':>8}{'reverted':>10}{'gas used':>14}",
    ]
    for label, count in Counter(tx.label for tx in txs).most_common():
        mine = [tx for tx in txs if tx.label == label]
        bad = sum(not tx.ok for tx in mine)
        gas = sum(tx.gas_used for tx in mine)
        lines.append(f"  {label:<14}{count:>8,}{count - bad:>8,}{bad:>10,}{gas:>14,}")
    return lines


def _reverts(result: LoadResult) -> list[str]:
    chain = Counter((tx.label, tx.reason) for tx in result.txs if not tx.ok)
    early = Counter(
        (tx.label, tx.reason) for tx in result.txs if not tx.ok and tx.block <= result.scrape_block
    )
    metrics = _failed_metrics(result.bots)
    logged = Counter((t.label, t.reason) for t in result.txs if not t.ok and _logged(result, t))
    lines = [
        "failures by function and reason: on chain (whole run; to block"
        f" {result.scrape_block}, the last scrape before SIGTERM),",
        "  in the bots' otcmm_tx_failed_total at that scrape, and named with the chain's reason"
        " in the sending bot's log:",
        f"  {'function':<14}{'reason':<26}{'chain':>7}{'to scrape':>11}{'metrics':>9}{'logged':>8}",
    ]
    for label, reason in sorted(set(chain) | set(metrics)):
        pair = (label, reason)
        lines.append(
            f"  {label:<14}{reason:<26}{chain[pair]:>7,}{early[pair]:>11,}"
            f"{metrics[pair]:>9,}{logged[pair]:>8,}"
        )
    if not chain and not metrics:
        lines.append("  (none)")
    return lines


def _failed_metrics(bots: Sequence[BotResult]) -> Counter[tuple[str, str]]:
    """Sum of `otcmm_tx_failed_total` by (label, reason) over the bots' last scrapes."""
    counts: Counter[tuple[str, str]] = Counter()
    for bot in bots:
        series = bot.last.by_labels("otcmm_tx_failed_total") if bot.last else {}
        for labels, value in series.items():
            named = dict(labels)
            counts[(named.get("label", "?"), named.get("reason", "?"))] += int(value)
    return counts


def _ticks(result: LoadResult) -> list[str]:
    scheduled = result.window_s / result.tick_interval_s
    lines = [
        f"ticks in the {result.window_s:.0f} s window ({scheduled:.0f} scheduled at"
        f" {result.tick_interval_s:g} s):",
        f"  {'bot':<10}{'strategy':<28}{'ticks':>7}{'% sched':>8}{'skipped':>9}{'raised':>8}"
        f"{'tx failed':>11}{'RPC/s':>8}",
    ]
    for bot in result.bots:
        ticks = bot.window("otcmm_ticks_total")
        lines.append(
            f"  {bot.spec.name:<10}{bot.spec.describe:<28}{ticks:>7.0f}"
            f"{100 * ticks / scheduled if scheduled else 0:>8.0f}"
            f"{bot.window('otcmm_ticks_skipped_total'):>9.0f}"
            f"{bot.window('otcmm_tick_errors_total'):>8.0f}"
            f"{bot.window('otcmm_tick_tx_failures_total'):>11.0f}"
            f"{_rate(bot):>8.1f}"
        )
    total = sum(_rate(b) for b in result.bots)
    lines.append(f"  RPC calls per second, all bots (otcmm_rpc_calls_total): {total:.1f}")
    return lines


def _rate(bot: BotResult) -> float:
    if bot.first is None or bot.last is None or bot.last.at <= bot.first.at:
        return 0.0
    return bot.window("otcmm_rpc_calls_total") / (bot.last.at - bot.first.at)


def _resources(result: LoadResult) -> list[str]:
    lines = [
        "processes (CPU = user + system over the whole process; RSS = peak resident):",
        f"  {'process':<10}{'exit':>5}{'stop s':>8}{'CPU s':>9}{'% core':>8}{'RSS MiB':>9}"
        f"{'journal KiB':>13}{'peak KiB':>10}{'compactions':>13}",
    ]
    for bot in result.bots:
        stop = "-" if bot.stop_s is None else f"{bot.stop_s:.1f}"
        share = 100 * bot.usage.cpu_s / bot.lifetime_s if bot.lifetime_s else 0.0
        lines.append(
            f"  {bot.spec.name:<10}{_code(bot.exit_code):>5}{stop:>8}{bot.usage.cpu_s:>9.1f}"
            f"{share:>8.1f}{bot.usage.peak_rss / MIB:>9.1f}{bot.journal.size / 1024:>13.1f}"
            f"{bot.journal.peak / 1024:>10.1f}{bot.journal.compactions:>13}"
        )
    lines.append(
        f"  {'anvil':<10}{'':>5}{'':>8}{result.anvil.cpu_s:>9.1f}{'':>8}"
        f"{result.anvil.peak_rss / MIB:>9.1f}"
    )
    lines.append(
        f"  {'this bench':<10}{'':>5}{'':>8}{result.bench_cpu_s:>9.1f}{'':>8}"
        f"{result.bench_rss / MIB:>9.1f}"
    )
    lines.append(f"  journal bound: journal_max_bytes {result.journal_max_bytes:,} bytes")
    return lines


def _code(code: int | None) -> str:
    return "-" if code is None else str(code)
