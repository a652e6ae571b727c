"""bench.load: a short real run (2 makers, 1 taker) and the parts its figures rest on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from bench.load_chain import MinedTx, listening_address, logged_failures
from bench.load_fleet import RunSettings, bot_config_text, fleet, seed_plan_text
from bench.load_probe import JournalWatch, ProcUsage, Scrape, parse_metrics
from bench.load_report import BotResult, LoadResult, check
from bots.market.ledger import ConservationResult
from bots.service.metrics import BotMetrics
from strategies.registry import build_strategy

REPO = Path(__file__).resolve().parents[1]
TX = "0x" + "ab" * 32


@pytest.mark.chain
def test_a_short_load_run_passes_its_checks_and_reports_every_section(tmp_path: Path) -> None:
    # A small journal bound, so the makers' journals are compacted while they run.
    args = ["--makers", "2", "--takers", "1", "--minutes", "0.2", "--block-time", "1"]
    args += ["--journal-max-bytes", "4096", "--workdir", str(tmp_path)]
    args += ["--json", str(tmp_path / "load.json")]
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for section in (
        "transactions (read from the chain, blocks ",
        "failures by function and reason",
        "ticks in the ",
        "RPC calls per second, all bots (otcmm_rpc_calls_total): ",
        "processes (CPU = user + system",
        "conservation:",
        "book after shutdown: 0 offers (0 of the bots)",
    ):
        assert section in out, out
    for passed in (
        "ok    no out-of-gas revert",
        "ok    every bot exited 0",
        "ok    conservation exact",
        "ok    no bot offer left",
        "ok    journals within 36,864 bytes",
    ):
        assert passed in out, out
    assert out.rstrip().endswith("=> PASSED"), out
    assert re.search(r"requoteUntil +[1-9]", out), out  # the makers quoted
    assert re.search(r"^  anvil +\d+\.\d +\d+\.\d", out, re.M), out
    figures = json.loads((tmp_path / "load.json").read_text())
    assert figures["mined"] > 0 and not figures["failed"], figures
    assert set(figures["bots"]) == {"maker-01", "maker-02", "taker-01"}
    for name, bot in figures["bots"].items():
        assert bot["exit_code"] == 0 and bot["ticks"] > 0, (name, bot)
        assert bot["cpu_s"] > 0 and bot["peak_rss"] > 0 and bot["rpc_per_s"] > 0, (name, bot)
        assert bot["journal_peak"] <= 4096 + 32 * 1024, (name, bot)
    makers = [figures["bots"][name] for name in ("maker-01", "maker-02")]
    assert sum(bot["compactions"] for bot in makers) >= 1, makers
    assert figures["anvil"]["cpu_s"] > 0 and figures["conservation_ok"]


def test_every_fleet_member_is_a_valid_bot_config_and_the_plan_funds_them_all() -> None:
    bots = fleet(10, 4)
    assert {b.strategy for b in bots} == {
        "fixed_spread", "bands", "avellaneda_stoikov", "noise", "taker"
    }  # fmt: skip
    assert {b.strategy for b in fleet(3, 1)} == {
        "fixed_spread",
        "bands",
        "avellaneda_stoikov",
        "noise",
    }
    run = RunSettings("http://127.0.0.1:1", 8995, "http://127.0.0.1:2/", 1.0, 4096, "info")
    for bot in bots:
        config = tomllib.loads(bot_config_text(bot, run))
        assert config["strategy"]["params"] == {
            k: list(v) if isinstance(v, tuple) else v for k, v in bot.params.items()
        }
        build_strategy(config["strategy"]["name"], config["strategy"]["params"])
        assert config["runtime"]["journal_max_bytes"] == 4096
        assert config["runtime"]["journal"] == f"state/{bot.name}/journal.jsonl"
    plan = tomllib.loads(seed_plan_text(bots))
    assert [p["name"] for p in plan["participants"]] == [b.name for b in bots]
    assert plan["assets"][0]["supply"] == str(10 * 2000 + 4 * 1000)


def test_metrics_are_read_by_label_from_a_bots_own_exposition() -> None:
    metrics = BotMetrics()
    for _ in range(3):
        metrics.tick_started()
    metrics.tx_failed("requoteUntil", "UnexpectedRemaining")
    metrics.tx_failed("buy", "OfferNotActive")
    metrics.tx_failed("buy", "OfferNotActive")
    scrape = parse_metrics(metrics.render().decode(), at=1.0)
    assert scrape.total("otcmm_ticks_total") == 3
    failed = scrape.by_labels("otcmm_tx_failed_total")
    assert failed[(("label", "buy"), ("reason", "OfferNotActive"))] == 2
    assert failed[(("label", "requoteUntil"), ("reason", "UnexpectedRemaining"))] == 1


def test_failures_and_the_metrics_address_are_read_from_json_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    text = f"requoteUntil: UnexpectedRemaining(id=1, expected=5, actual=0) (tx {TX})"
    log.write_text(
        '{"event": "metrics and probes listening", "address": "127.0.0.1:4567", "level": "info"}\n'
        f'{{"event": "transaction failed", "error": "{text}", "level": "error"}}\n'
        "Traceback (most recent call last):\n"
        '{"event": "tx failed", "error": "(tx 0x' + "cd" * 32 + ')", "level": "debug"}\n',
        encoding="utf-8",
    )
    assert listening_address(log) == "127.0.0.1:4567"
    assert logged_failures(log) == {TX: text}


def test_proc_usage_keeps_a_childs_cpu_time_until_it_is_reaped(tmp_path: Path) -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", burn])
    usage = ProcUsage(child.pid)
    deadline = time.monotonic() + 60
    while usage.sample():  # True while alive; the child is not reaped, so it turns zombie
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert usage.exited and usage.cpu_s >= 0.3 and usage.peak_rss > 1024 * 1024
    assert child.wait() == 0
    assert not ProcUsage(child.pid).sample()  # reaped: nothing left to read


def test_a_journal_watch_counts_shrinks_as_compactions(tmp_path: Path) -> None:
    watch = JournalWatch(tmp_path / "journal.jsonl")
    for size in (0, 300, 900, 100, 500, 50):
        (tmp_path / "journal.jsonl").write_bytes(b"x" * size)
        watch.sample()
    assert (watch.size, watch.peak, watch.compactions) == (50, 900, 2)


def _result(
    txs: list[MinedTx], exit_code: int = 0, logged: dict[str, str] | None = None
) -> LoadResult:
    bot = BotResult(
        fleet(1, 0)[0], "0x" + "11" * 20, ProcUsage(1), JournalWatch(Path("/nonexistent"))
    )
    bot.exit_code, bot.logged = exit_code, logged or {}
    bot.first = bot.last = Scrape(0.0, {})
    return LoadResult(
        header=(), tick_interval_s=1.0, window_s=10.0, journal_max_bytes=4096, first_block=1,
        last_block=9, scrape_block=8, txs=txs, bots=[bot], anvil=ProcUsage(1), bench_cpu_s=0.0,
        bench_rss=0, conservation=ConservationResult(True, ()), offers_left=0, bot_offers_left=0,
    )  # fmt: skip


def _revert(reason: str, text: str) -> MinedTx:
    return MinedTx("maker-01", TX, 5, "requoteUntil", False, 120_000, 120_000, reason, text)


def test_an_out_of_gas_revert_or_a_bad_exit_fails_the_run_and_unlogged_reverts_are_noted() -> None:
    oog = _revert("out_of_gas", "out of gas: used 120,000 of its 120,000 gas limit")
    verdict = check(_result([oog], logged={TX: f"requoteUntil: {oog.text} (tx {TX})"}))
    assert verdict.failed == ("1 out-of-gas reverts",) and not verdict.notes
    assert any(line.startswith("every bot exited 0") for line in verdict.passed)
    assert check(_result([], exit_code=8)).failed == ("maker-01 exited 8",)
    race = _revert("UnexpectedRemaining", "UnexpectedRemaining(id=1, expected=5, actual=0)")
    verdict = check(_result([race]))
    assert not verdict.failed
    assert verdict.notes[0].startswith("1 reverts not in their bot's log with that reason")
    assert not check(_result([race], logged={TX: f"requoteUntil: {race.text} (tx {TX})"})).notes
