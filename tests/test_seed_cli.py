"""`otcmm seed` and `otcmm fleet keystores`, run as separate processes the way a Job runs them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bots.chain.keystore import create_keystore, keystore_address
from bots.seed.plan import fleet_keystores, load_plan
from tests.chainfixtures import World
from tests.clirun import otcmm as run_otcmm
from tests.clirun import otcmm_env as clean_env

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "seed-test-password"  # noqa: S105 - test fixture
N = 16  # light scrypt for tests

PLAN = """
[[assets]]
symbol = "BND30"
name = "Bond 2030 4%"
decimals = 2
supply = "100000"

[[assets]]
symbol = "EURT"
name = "Euro cash token"
decimals = 2
supply = "2500000"

[[participants]]
name = "maker-a"
keystore = "keys/maker-a.json"
gas = "2"
tokens = { BND30 = "20000", EURT = "EURT_TARGET" }

[[participants]]
name = "taker"
keystore = "keys/taker.json"
gas = "1"
tokens = { EURT = "1000" }

[[offerings]]
id = "bnd30-ipo"
asset = "BND30"
amount = "500"
quote = "EURT"
price = "99.50"
"""


def otcmm_env() -> dict[str, str]:
    """A clean environment (`tests.clirun`) with the tests' cheap scrypt cost."""
    return clean_env({"OTCMM_SCRYPT_N": str(N)})


def otcmm(
    *args: str, cwd: Path, preexec_fn: Callable[[], Any] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_otcmm(
        *args, cwd=cwd, env={"OTCMM_SCRYPT_N": str(N)}, timeout=300, preexec_fn=preexec_fn
    )


@pytest.fixture
def job(tmp_path: Path, world: World) -> Path:
    """A directory like the Job's volume: the plan, the initializer's keystore, a password."""
    (tmp_path / "password").write_text(PASSWORD + "\n")
    create_keystore(
        tmp_path / "initializer.json",
        PASSWORD,
        private_key=world.accounts["deployer"].key,
        scrypt_n=N,
    )
    write_plan(tmp_path, eurt_target="250000")
    return tmp_path


def write_plan(directory: Path, eurt_target: str) -> Path:
    path = directory / "seed.toml"
    path.write_text(PLAN.replace("EURT_TARGET", eurt_target))
    return path


def make_keystores(job: Path) -> subprocess.CompletedProcess[str]:
    return otcmm(
        "fleet", "keystores", "--plan", "seed.toml", "--password-file", "password", cwd=job
    )


def seed_args(world: World, *extra: str) -> list[str]:
    return [
        "seed",
        "--plan",
        "seed.toml",
        "--keystore",
        "initializer.json",
        "--password-file",
        "password",
        "--rpc-url",
        world.chain.url,
        *extra,
    ]


def seed(
    job: Path, world: World, *extra: str, preexec_fn: Callable[[], Any] | None = None
) -> subprocess.CompletedProcess[str]:
    return otcmm(*seed_args(world, *extra), cwd=job, preexec_fn=preexec_fn)


def nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.addr("deployer")))


def test_fleet_keystores_creates_missing_and_never_overwrites(job: Path) -> None:
    (job / "keys").mkdir()
    existing = create_keystore(job / "keys" / "taker.json", "other password", scrypt_n=N)
    before = (job / "keys" / "taker.json").read_text()
    result = make_keystores(job)
    assert result.returncode == 0, result.stderr
    maker = keystore_address(job / "keys" / "maker-a.json")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["created", "maker-a", maker]
    assert lines[1].split() == ["exists", "taker", existing]
    assert lines[2] == "1 created, 1 already existed"
    assert (job / "keys" / "taker.json").read_text() == before
    again = make_keystores(job)  # nothing to create: no password needed, nothing touched
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "0 created, 2 already existed"


def test_fleet_keystores_refuse_a_folder_they_cannot_write_before_creating_any(
    job: Path,
) -> None:
    """A participant's folder under a file: a traceback, and the first keystore already
    written (red team 4). Now one line, exit 2, and no keystore at all."""
    plan = job / "seed.toml"
    plan.write_text(plan.read_text().replace("keys/taker.json", "blocked/taker.json"))
    (job / "blocked").write_text("a file, not a folder")

    result = make_keystores(job)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "otcmm: error: keystore folder of taker blocked is a file: give a directory"
    ]
    assert not (job / "keys" / "maker-a.json").exists()


def test_fleet_keystores_python_api_returns_every_address(job: Path) -> None:
    plan = load_plan(job / "seed.toml")
    addresses = fleet_keystores(plan, PASSWORD, N)
    assert set(addresses) == {"maker-a", "taker"}
    assert addresses == fleet_keystores(plan, "ignored: nothing to create", N)


def test_dry_run_prints_the_plan_and_sends_nothing(job: Path, world: World) -> None:
    make_keystores(job)
    before = nonce(world)
    result = otcmm(
        "seed",
        "--plan",
        "seed.toml",
        "--keystore",
        "initializer.json",
        "--dry-run",
        "--rpc-url",
        world.chain.url,
        cwd=job,
    )  # no password: a dry run only needs the initializer's address
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "11 actions:"
    assert "   1. deploy OtcMarket" in result.stdout
    assert "offer bnd30-ipo: 500.00 BND30 for 49,750.00 EURT" in result.stdout
    assert result.stdout.rstrip().endswith("dry run: nothing sent")
    assert nonce(world) == before
    assert not (job / "deployment.json").exists()


def test_run_then_rerun_sends_zero_transactions(job: Path, world: World) -> None:
    make_keystores(job)
    first = seed(job, world, "--chain-id", str(world.w3.eth.chain_id))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("11 actions, 12 transactions, ")
    assert "[11/11] offer bnd30-ipo" in first.stderr
    deployment = json.loads((job / "deployment.json").read_text())
    assert set(deployment) == {
        "chain_id",
        "market",
        "assets",
        "offerings",
        "donations",
        "transactions",
    }
    assert [t["nonce"] for t in deployment["transactions"]] == list(
        range(nonce(world) - 12, nonce(world))
    )
    assert all(t["status"] == 1 and "raw" not in t for t in deployment["transactions"])
    assert deployment["assets"]["EURT"]["decimals"] == 2
    maker = keystore_address(job / "keys" / "maker-a.json")
    row = next(line for line in first.stdout.splitlines() if line.startswith("maker-a"))
    assert row.split() == ["maker-a", maker, "2", "20,000.00", "250,000.00"]
    before = nonce(world)
    second = seed(job, world)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("0 actions, 0 transactions, 0 gas used")
    assert nonce(world) == before


def test_preflight_failure_exits_5_and_sends_nothing(job: Path, world: World) -> None:
    make_keystores(job)
    write_plan(job, eurt_target="2500000")  # plus the taker's 1000: more than the supply
    before = nonce(world)
    result = seed(job, world)
    assert result.returncode == 5
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("otcmm: error: ") for line in lines)
    assert "initializer lacks 1,000.00 EURT (needs 2,501,000.00, has 2,500,000.00)" in lines[-1]
    assert nonce(world) == before
    assert not (job / "deployment.json").exists()


def test_wrong_chain_id_exits_4(job: Path, world: World) -> None:
    make_keystores(job)
    result = seed(job, world, "--chain-id", "1")
    assert result.returncode == 4
    assert "expected 1" in result.stderr


def test_missing_keystores_are_a_config_error(job: Path, world: World) -> None:
    result = seed(job, world, "--dry-run")
    assert result.returncode == 2
    assert "participant maker-a: keystore not found" in result.stderr


def test_progress_is_a_bar_on_a_terminal_and_lines_in_a_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from bots.cli.progress import every_step, progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, expected in ((Terminal(), "3/3"), (io.StringIO(), "[3/3] last step")):
        monkeypatch.setattr("sys.stderr", stream)
        with progress("seed", "tx", every_step) as update:
            update(1, 3, "first step")
            update(3, 3, "last step")
        assert expected in stream.getvalue()
    assert "\r" not in stream.getvalue()  # a log gets whole lines, never redraws


def refused_with_one_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("otcmm: error: "), result.stderr
    assert text in lines[0], lines[0]


def test_an_existing_asset_that_is_not_an_erc20_exits_4_and_sends_nothing(
    job: Path, world: World
) -> None:
    make_keystores(job)
    market = world.deploy("OtcMarket").address  # a contract, but not a token
    plan = job / "seed.toml"
    plan.write_text(
        plan.read_text() + f'\n[[assets]]\nsymbol = "OTC"\naddress = "{market}"\ndecimals = 2\n'
    )
    before = nonce(world)
    for extra in (("--dry-run",), ()):
        result = seed(job, world, *extra)
        refused_with_one_line(result, 4, f"asset OTC: the contract at {market} is not an ERC20")
    assert nonce(world) == before
    assert not (job / "deployment.json").exists()


def test_a_deployment_whose_market_is_a_token_exits_4_and_sends_nothing(
    job: Path, world: World
) -> None:
    make_keystores(job)
    token = world.asset("EURT").address
    recorded = {"chain_id": world.w3.eth.chain_id, "market": token}
    (job / "deployment.json").write_text(json.dumps(recorded))
    before = nonce(world)
    for extra in (("--dry-run",), ()):
        result = seed(job, world, *extra)
        refused_with_one_line(result, 4, f"the contract at {token} is not an OtcMarket")
    assert nonce(world) == before
    assert json.loads((job / "deployment.json").read_text()) == recorded


def test_a_deployment_whose_asset_is_the_market_exits_4_and_sends_nothing(
    job: Path, world: World
) -> None:
    make_keystores(job)
    market = world.deploy("OtcMarket").address
    asset = {"address": market, "decimals": 2, "name": "Bond"}
    recorded = {"chain_id": world.w3.eth.chain_id, "market": market, "assets": {"BND30": asset}}
    (job / "deployment.json").write_text(json.dumps(recorded))
    before = nonce(world)
    result = seed(job, world)
    refused_with_one_line(result, 4, f"asset BND30: the contract at {market} is not an ERC20")
    assert nonce(world) == before
