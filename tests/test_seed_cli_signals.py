"""`otcmm seed` as a process under SIGTERM and SIGINT, and deployment paths it must refuse.

The Job's pod is evicted (SIGTERM) or an operator presses Ctrl-C (SIGINT) while the seed runs;
the rerun must end like a run never stopped. A deployment file that cannot be written must be
refused before the first transaction, not found out after it.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bots.chain.keystore import keystore_address
from bots.seed.plan import load_plan
from bots.seed.run import run_seed
from bots.seed.sender import create_address
from tests.chainfixtures import World
from tests.test_seed_cli import job as job  # noqa: F401 - the fixture, shared
from tests.test_seed_cli import make_keystores, nonce, otcmm_env, seed, seed_args

pytestmark = pytest.mark.chain


def created_with_code(world: World, first: int, last: int) -> set[str]:
    """Addresses the initializer's nonces first..last-1 create that hold code."""
    deployer = world.addr("deployer")
    created = (create_address(deployer, n) for n in range(first, last))
    return {address for address in created if world.w3.eth.get_code(address)}


def holdings(world: World, job: Path, path: Path) -> dict[str, tuple[int, ...]]:
    """(wei, BND30, EURT) of the initializer and each participant, tokens as `path` records."""
    recorded = json.loads(path.read_text())
    tokens = [
        world.w3.eth.contract(address=recorded["assets"][s]["address"], abi=ERC20_BALANCE)
        for s in ("BND30", "EURT")
    ]
    owners = [keystore_address(job / "keys" / f"{n}.json") for n in ("maker-a", "taker")]
    return {
        owner: (
            int(world.w3.eth.get_balance(owner)),
            *(int(t.functions.balanceOf(owner).call()) for t in tokens),
        )
        for owner in [world.addr("deployer"), *owners]
    }


ERC20_BALANCE = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


class Lines:
    """A process's stderr read line by line in a thread, so waiting for a line has a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, needle: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            line = self._queue.get(timeout=left)
            if line is None:
                break
            self.lines.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r} in stderr: {self.lines}")

    def rest(self) -> list[str]:
        self._thread.join(timeout=60)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return self.lines


def poll_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("signum", "moment"),
    [(signal.SIGTERM, "second deploy mined"), (signal.SIGINT, "first deploy line")],
)
def test_signal_after_the_first_deploy_then_rerun_ends_like_an_uninterrupted_run(
    job: Path, world: World, signum: signal.Signals, moment: str
) -> None:
    """Today's Job gets SIGTERM on eviction and an operator presses Ctrl-C: either way the
    run stops at a boundary with one line, and the rerun ends with no orphan contract and the
    nonce count, deployment file and balances of a run that was never stopped."""
    make_keystores(job)
    before = world.snapshot()
    first = nonce(world)
    process = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", *seed_args(world)],
        cwd=job,
        env=otcmm_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stderr = Lines(process.stderr)
        stderr.wait_for("deploy OtcMarket")
        if moment == "second deploy mined":  # the first asset's deploy is on chain: its
            poll_until(lambda: nonce(world) >= first + 2)  # receipt is due any moment
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = stderr.rest()
    rerun = seed(job, world)
    assert rerun.returncode == 0, rerun.stderr
    final = nonce(world)
    assert final == first + 12
    recorded = json.loads((job / "deployment.json").read_text())
    contracts = {recorded["market"], *(a["address"] for a in recorded["assets"].values())}
    assert created_with_code(world, first, final) == contracts
    resumed = (job / "deployment.json").read_text()
    held = holdings(world, job, job / "deployment.json")

    world.revert(before)  # the same plan, never stopped, on the same chain state
    plan = load_plan(job / "seed.toml")
    run_seed(world.w3, world.accounts["deployer"], plan, job / "uninterrupted.json")
    assert nonce(world) == final
    assert (job / "uninterrupted.json").read_text() == resumed
    assert holdings(world, job, job / "uninterrupted.json") == held

    assert process.returncode == 128 + signum, lines  # and how the stopped run said so:
    errors = [line for line in lines if line.startswith("otcmm: error: ")]
    assert len(errors) == 1, lines
    assert errors[0].startswith(f"otcmm: error: stopped by {signum.name} ")
    assert errors[0].endswith(": run the seed again to resume")
    assert not any("Traceback" in line for line in lines)


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


def without_root_override() -> None:
    """In the child before exec: as root, give up the capabilities that ignore file modes, so
    a read-only directory is read-only (the Job runs as a non-root user anyway)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.parametrize("case", ["missing directory", "unwritable directory", "a directory"])
def test_unwritable_deployment_path_is_refused_before_anything_is_sent(
    job: Path, world: World, case: str
) -> None:
    make_keystores(job)
    if case == "missing directory":
        target = job / "nowhere" / "deployment.json"
        expected = f"deployment file {target}: directory {target.parent} does not exist"
    elif case == "unwritable directory":
        (job / "readonly").mkdir(mode=0o555)
        target = job / "readonly" / "deployment.json"
        expected = f"deployment file {target}: cannot write in {target.parent}: Permission denied"
    else:
        target = job / "deployment.json"
        target.mkdir()
        expected = f"deployment file {target} is a directory: give a file name in it"
    before = nonce(world)
    result = seed(job, world, "--deployment", str(target), preexec_fn=without_root_override)
    assert nonce(world) == before, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"otcmm: error: {expected}"]
    assert not target.is_file()
    assert not target.parent.exists() or not any(
        p.is_file() for p in target.parent.iterdir() if p.name.startswith(".")
    )
