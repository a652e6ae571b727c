"""Bots as separate OS processes on a real dev chain, the way containers run them.

Each bot gets a fresh random key in its own keystore, gas money and tokens, a TOML config, and
runs as `python -m bots.cli run --config ...`. Its JSON log lines are collected so tests can wait
for what a bot says it did, and then check the chain for what it actually did.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from bots.chain.keystore import create_keystore
from bots.chain.transactor import Transactor
from bots.demo.roundtrip import Market, deploy_market
from bots.devtools.devchain import DevChain, DevChainParams, MiningMode, dev_accounts
from bots.market.client import MarketClient

PASSWORD = "integration-test-password"  # noqa: S105 - a throwaway dev keystore
LOW_SCRYPT_N = 2**10


@dataclass
class BotProcess:
    """A running bot process and the JSON lines it logged so far."""

    name: str
    config: Path
    address: str
    process: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def pump(self) -> None:
        """Move lines the reader thread collected into `lines` (non-blocking)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                return
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first logged line (old or new) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            self.pump()
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.process.poll() is not None:
                self.pump()
                raise AssertionError(f"{self.name} exited {self.process.returncode}: {self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: timed out waiting; last lines: {self.tail()}")

    def events(self, name: str) -> list[dict[str, Any]]:
        self.pump()
        return [line for line in self.lines if line.get("event") == name]

    def tail(self, count: int = 15) -> str:
        self.pump()
        return "\n".join(self.raw[-count:])

    def terminate(self, timeout: float = 90.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)
        self.pump()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@dataclass
class BotWorld:
    """A dev chain with a deployed market, a funder, and a directory for bot files."""

    chain: DevChain
    w3: Web3
    market: Market
    funder: Transactor
    workdir: Path
    bots: list[BotProcess] = field(default_factory=list)

    @property
    def reader(self) -> MarketClient:
        return MarketClient(self.w3, self.market.market.address)

    def new_bot(
        self,
        name: str,
        strategy: dict[str, Any],
        *,
        base: int,
        quote: int,
        feed: dict[str, Any] | None = None,
        extra: str = "",
    ) -> Path:
        """Create a funded keystore and a config for bot `name`; return the config path."""
        home = self.workdir / name
        home.mkdir(parents=True)
        (home / "password").write_text(PASSWORD + "\n", encoding="utf-8")
        address = create_keystore(home / "key.json", PASSWORD, scrypt_n=LOW_SCRYPT_N)
        self.funder.send_value(address, 10**18)
        for token, amount in ((self.market.base, base), (self.market.quote, quote)):
            if amount:
                self.funder.transact(token.functions.issue(address, amount))
        feed = feed or {"kind": "static", "price": "100"}
        config = home / "bot.toml"
        config.write_text(
            _config_text(self, name, strategy, feed) + extra,
            encoding="utf-8",
        )
        return config

    def start(self, config: Path, *args: str, address: str | None = None) -> BotProcess:
        """Start `otcmm run`; `address` is needed only if the keystore does not record it."""
        env = {**os.environ, "OTCMM_SCRYPT_N": str(LOW_SCRYPT_N), "PYTHONUNBUFFERED": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("OTCMM_") or k == "OTCMM_SCRYPT_N"}
        env["OTCMM_SCRYPT_N"] = str(LOW_SCRYPT_N)
        process = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", "run", "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        address = address or json.loads((config.parent / "key.json").read_text())["address"]
        bot = BotProcess(config.parent.name, config, Web3.to_checksum_address(address), process)
        threading.Thread(target=_read_lines, args=(process, bot._queue), daemon=True).start()
        self.bots.append(bot)
        return bot

    def stop_all(self) -> None:
        for bot in self.bots:
            if bot.process.poll() is None:
                bot.kill()


def _read_lines(process: subprocess.Popen[str], sink: queue.Queue[str | None]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        sink.put(line.rstrip("\n"))
    sink.put(None)


def _config_text(world: BotWorld, name: str, strategy: dict[str, Any], feed: dict[str, Any]) -> str:
    params = ", ".join(f"{k} = {json.dumps(v)}" for k, v in strategy["params"].items())
    feed_text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in feed.items())
    return f"""
name = "{name}"
rpc_url = "{world.chain.url}"
chain_id = {int(world.w3.eth.chain_id)}
market = "{world.market.market.address}"
base = "{world.market.base.address}"
quote = "{world.market.quote.address}"
tick_interval_s = 0.5

[keystore]
path = "key.json"
password_file = "password"

[strategy]
name = "{strategy["name"]}"
params = {{ {params} }}

[feed]
{feed_text}

[runtime]
metrics_port = 0
log_format = "json"
log_level = "debug"
journal = "journal.jsonl"
receipt_timeout_s = 30
stuck_after_s = 10
"""


def start_bot_world(
    params: DevChainParams, workdir: Path, mode: MiningMode = "auto"
) -> Iterator[BotWorld]:
    with DevChain(params, mode=mode) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        (deployer,) = dev_accounts(params, 1)
        market = deploy_market(w3, deployer)
        world = BotWorld(chain, w3, market, market.deployer, workdir)
        try:
            yield world
        finally:
            world.stop_all()
