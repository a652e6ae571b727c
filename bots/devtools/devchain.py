"""The managed dev chain: a real anvil node on a free loopback port.

Tests, the demo and backtests all start their chain through `DevChain`, so the parameters come
from `chain-config/` and the process is always stopped, by the PID otcmm holds (anvil's own: the
platform package's binary is started directly, not through npm's node wrapper). Anvil runs in
its own process group, so a Ctrl-C at the terminal reaches otcmm alone (the demo still needs
the chain to let its bots cancel), and it gets SIGTERM from the kernel if the thread that
started it ends without stopping it, e.g. when otcmm is killed (`bots.devtools.lifetime`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bots.devtools.lifetime import die_with_parent
from bots.errors import DevChainError
from bots.paths import NODE_MODULES

MiningMode = Literal["auto", "interval", "manual"]

_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}
_LISTENING = re.compile(r"Listening on (127\.0\.0\.1:\d+)")
_START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DevChainParams:
    """What a dev chain needs to mirror the PoA network (rendered from `chain-config/`)."""

    chain_id: int
    gas_limit: int
    block_time: int
    hardfork: str
    mnemonic: str
    accounts: int
    balance_ether: int
    base_fee: int
    gas_price: int


def dev_accounts(params: DevChainParams, count: int | None = None) -> list[LocalAccount]:
    """The dev chain's prefunded accounts, from its public DEV-ONLY mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(params.mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(params.accounts if count is None else count)
    ]


def anvil_binary() -> Path:
    """The anvil executable: `$OTCMM_ANVIL`, else the npm platform package, else PATH."""
    override = os.environ.get("OTCMM_ANVIL")
    if override:
        return Path(override)
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    if package:
        candidate = NODE_MODULES / "@foundry-rs" / package / "bin" / "anvil"
        if candidate.is_file():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise DevChainError(
        "anvil not found: run `npm ci` in the repository root (it installs "
        "@foundry-rs/anvil for this platform) or set OTCMM_ANVIL to an anvil binary"
    )


class DevChain:
    """A running anvil process; use as a context manager or call `stop()`.

    Modes: `auto` mines a block per transaction (tests), `interval` mines every
    `block_time` seconds like an AuRa validator (demo), `manual` mines only on `evm_mine`
    (backtests control the clock).
    """

    def __init__(
        self,
        params: DevChainParams,
        mode: MiningMode = "auto",
        extra_args: tuple[str, ...] = (),
        start_timeout_s: float = _START_TIMEOUT_S,
        port: int = 0,
    ) -> None:
        self.params = params
        self.port = port
        self.mode = mode
        self.extra_args = extra_args
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self._log_tail: list[str] = []
        self._listening = threading.Event()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        p = self.params
        cmd = [
            str(anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(p.chain_id),
            "--gas-limit", str(p.gas_limit),
            "--hardfork", p.hardfork,
            "--mnemonic", p.mnemonic,
            "--accounts", str(p.accounts),
            "--balance", str(p.balance_ether),
            "--block-base-fee-per-gas", str(p.base_fee),
            "--gas-price", str(p.gas_price),
        ]  # fmt: skip
        if self.mode == "interval":
            cmd += ["--block-time", str(p.block_time)]
        elif self.mode == "manual":
            cmd += ["--no-mining"]
        return cmd + list(self.extra_args)

    def start(self) -> DevChain:
        if self._process is not None:
            raise DevChainError("dev chain already started")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                process_group=0,  # not in the terminal's group: otcmm decides when it stops
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - only a prctl call
            )
        except OSError as exc:
            raise DevChainError(f"cannot start anvil: {exc}") from None
        self._listening.clear()
        threading.Thread(target=self._drain, daemon=True).start()
        self._await_listening()
        self._await_rpc()
        return self

    def _await_listening(self) -> None:
        """Wait, with a deadline even when anvil hangs silently, for its listening address."""
        if not self._listening.wait(self.start_timeout_s) or not self.url:
            self.stop()
            tail = " | ".join(s.strip() for s in self._log_tail[-3:] if s.strip())
            raise DevChainError(f"anvil did not start: {tail or 'no output'}")

    def _drain(self) -> None:
        """Read anvil's output from the start: it carries the listening address, and an
        unread pipe would fill and block the node. Ends (and wakes `start`) when anvil exits."""
        process = self._process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._remember(line)
            match = None if self.url else _LISTENING.search(line)
            if match:
                self.url = f"http://{match.group(1)}"
                self._listening.set()
        self._listening.set()

    def _remember(self, line: str) -> None:
        self._log_tail.append(line)
        del self._log_tail[:-50]

    def _await_rpc(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            try:
                if self.rpc("eth_chainId") == hex(self.params.chain_id):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise DevChainError(f"anvil at {self.url} did not answer JSON-RPC")

    def rpc(self, method: str, params: list[object] | None = None) -> object:
        """One raw JSON-RPC call (dev helpers like `evm_snapshot`, `evm_mine`)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        # S310: the URL is the loopback address anvil itself reported, never user input.
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url, data=body.encode(), headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            reply = json.loads(response.read())
        if "error" in reply:
            raise DevChainError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply["result"]

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def __enter__(self) -> DevChain:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
