"""The seed job with tokens that exist already, many of them bending ERC20, on the dev chain.

The plan (`tests/seedtokens.py`) names every test token of `contracts/test/RealWorldTokens.sol`
and AssetTokens with 6 and 18 decimals by address, beside one asset the seed job deploys: they
are recorded in the deployment file, never deployed or issued, handed out from the
initializer's balance and offered, also for the approve-race token whose allowance to the
market is left at 7 USDR. Then a bot finds two of them by symbol in the deployment file and
trades.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from bots.artifacts import load_artifact
from bots.errors import ConfigError
from bots.market.client import MarketClient
from bots.market.deployment import load_deployment
from bots.seed.preflight import SeedError
from bots.seed.run import run_seed
from bots.service.config import load_config
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from tests.chainfixtures import TwoAssetMarket, World, rolled_back
from tests.clirun import otcmm as run_otcmm
from tests.seedtokens import (
    DECIMALS,
    ETHER,
    OFFERS,
    PLAN,
    TARGETS,
    TRANSACTIONS,
    Existing,
    deploy_existing,
    fresh_address,
    participants,
    plan_text,
    write_plan,
)
from tests.tickrig import make_rig

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def existing(session_world: World) -> Iterator[Existing]:
    with rolled_back(session_world):
        yield deploy_existing(session_world)


def nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.accounts["deployer"].address))


def seed(world: World, existing: Existing, directory: Path, text: str = PLAN) -> dict[str, str]:
    """Run the plan (with `text`'s edits) once; the participants' addresses."""
    who = participants(world)
    plan = write_plan(directory, plan_text(existing, who, text))
    run_seed(world.w3, world.accounts["deployer"], plan, directory / "deployment.json")
    return who


def test_existing_tokens_are_recorded_handed_out_and_offered_never_issued(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    supplies = {s: t.functions.totalSupply().call() for s, t in existing.tokens.items()}
    who = participants(world)
    plan = write_plan(tmp_path, plan_text(existing, who))
    path = tmp_path / "deployment.json"

    report = run_seed(world.w3, world.accounts["deployer"], plan, path)

    assert report.transactions == TRANSACTIONS
    deployment = load_deployment(path)
    assert deployment is not None and deployment.market == existing.market
    for symbol, token in existing.tokens.items():
        record = deployment.assets[symbol]
        assert (record.address, record.decimals, record.existing) == (
            token.address,
            DECIMALS[symbol],  # USDR and WETH: read from the token; BARE: the plan's
            True,
        )
        assert token.functions.totalSupply().call() == supplies[symbol]  # nothing minted
    assert deployment.assets["MKRX"].name == "Maker-style Token"
    assert deployment.assets["USDR"].name == "USDR"  # no name in the plan: the symbol
    assert deployment.assets["BND30"].existing is None
    kinds = [(r.kind, r.key) for r in deployment.transactions]
    assert [k for k in kinds if k[0] in ("deploy asset", "issue")] == [
        ("deploy asset", "BND30"),
        ("issue", "BND30"),
    ]
    by_offering: dict[str, list[str]] = {}
    for kind, key in kinds:
        if key is not None and key.endswith("-sale"):
            by_offering.setdefault(key, []).append(kind)
    assert by_offering == {
        "usdr-sale": ["reset allowance", "approve", "offer"],  # 7 USDR were left
        "cap-sale": ["approve", "offer"],
        "mkrx-sale": ["approve", "offer"],
        "bare-sale": ["approve", "offer"],
        "usd6-sale": ["offer"],  # the allowance left covers it
        "weth-sale": ["approve", "offer"],
    }
    for name, targets in TARGETS.items():
        for symbol, units in targets.items():
            token = MarketClient(world.w3, existing.market).token(deployment.address_of(symbol))
            assert token.functions.balanceOf(who[name]).call() == units, (name, symbol)
    assert world.w3.eth.get_balance(Web3.to_checksum_address(who["desk"])) == ETHER // 2
    market = MarketClient(world.w3, existing.market)
    made = [
        (o.pay_token, o.pay_amt, o.buy_amt) for o in market.owner_offers(world.addr("deployer"))
    ]
    assert made == [(deployment.address_of(s), pay, buy) for s, pay, buy in OFFERS]
    usdr = existing.tokens["USDR"].functions.allowance(world.addr("deployer"), existing.market)
    assert usdr.call() == 0  # reset, then exactly the offering's amount, escrowed since


def test_a_rerun_sends_nothing_and_leaves_the_file_alone(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    who = participants(world)
    plan = write_plan(tmp_path, plan_text(existing, who))
    path = tmp_path / "deployment.json"
    run_seed(world.w3, world.accounts["deployer"], plan, path)
    before, recorded = nonce(world), path.read_text()

    report = run_seed(world.w3, world.accounts["deployer"], plan, path)

    assert (report.actions, report.transactions) == ((), 0)
    assert nonce(world) == before and path.read_text() == recorded


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (('address = "{USD6}"\ndecimals = 6', 'address = "{USD6}"\ndecimals = 18'),
         "assets.5.decimals: the token USD6 at {USD6} reports 6 decimals, the plan says 18"),
        (('address = "{BARE}"\ndecimals = 8', 'address = "{BARE}"'),
         "assets.4: the token BARE at {BARE} has no decimals(): give decimals in the plan"),
        (('address = "{CAP}"', 'address = "{nobody}"'),
         "assets.2.address: no contract at {nobody} on this chain"),
        (('address = "{WETH}"', 'address = "{big}"'),
         "assets.6: the token WETH at {big} reports 24 decimals; at most 18 are handled"),
        (('USDR = "5000"', 'USDR = "5000.0000001"'),
         "participants.0.tokens.USDR: 5000.0000001 has more than 6 decimal places "
             "(USDR: not a whole number of base units)"),
    ],
    ids=["decimals-disagree", "decimals-missing", "no-contract", "24-decimals", "inexact"],
)  # fmt: skip
def test_a_plan_that_does_not_fit_its_tokens_is_refused_before_anything_is_sent(
    tmp_path: Path, world: World, existing: Existing, edit: tuple[str, str], line: str
) -> None:
    big = world.asset("BIG", decimals=24).address
    who = {**participants(world), "nobody": fresh_address(), "big": big}
    text = plan_text(existing, who, PLAN.replace(*edit))
    plan = write_plan(tmp_path, text)
    before = nonce(world)

    with pytest.raises(ConfigError) as info:
        run_seed(world.w3, world.accounts["deployer"], plan, tmp_path / "deployment.json")

    addresses = {s: t.address for s, t in existing.tokens.items()}
    assert str(info.value) == f"{tmp_path / 'seed.toml'}: {line.format(**addresses, **who)}"
    assert nonce(world) == before and not (tmp_path / "deployment.json").exists()


def test_preflight_counts_what_the_initializer_holds_of_an_existing_token(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    text = PLAN.replace('WETH = "3"', 'WETH = "1000001"')  # it holds 1000000 WETH
    plan = write_plan(tmp_path, plan_text(existing, participants(world), text))
    before = nonce(world)

    with pytest.raises(SeedError) as info:
        run_seed(world.w3, world.accounts["deployer"], plan, tmp_path / "deployment.json")

    assert str(info.value).splitlines()[1:] == [
        "initializer lacks 3.000000000000000000 WETH "
        "(needs 1,000,003.000000000000000000, has 1,000,000.000000000000000000)"
    ]
    assert nonce(world) == before


def test_an_existing_token_cannot_move_to_another_address_once_recorded(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    seed(world, existing, tmp_path)
    other = world.asset("USD", decimals=6)
    who = participants(world)
    moved = plan_text(existing, who).replace(existing.tokens["USD6"].address, other.address)
    plan = write_plan(tmp_path, moved)

    with pytest.raises(ConfigError) as info:
        run_seed(world.w3, world.accounts["deployer"], plan, tmp_path / "deployment.json")

    recorded = existing.tokens["USD6"].address
    assert str(info.value) == (
        f"asset USD6 is recorded as 'USD6' at {recorded} with 6 decimals, the plan says 'USD6' "
        f"at {other.address} with 6: use another symbol, or another deployment file"
    )


def otcmm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args, cwd=cwd)


def test_cli_dry_run_names_the_existing_tokens_and_refuses_a_wrong_decimals_in_one_line(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    who = participants(world)
    write_plan(tmp_path, plan_text(existing, who))
    args = ("seed", "--plan", "seed.toml", "--dev-account", "0", "--rpc-url", world.chain.url)

    shown = otcmm(*args, "--dry-run", cwd=tmp_path)
    write_plan(tmp_path, plan_text(existing, who, PLAN.replace("decimals = 6", "decimals = 2")))
    refused = otcmm(*args, cwd=tmp_path)

    assert shown.returncode == 0, shown.stderr
    usdr, bare = existing.tokens["USDR"].address, existing.tokens["BARE"].address
    assert f"use existing asset USDR at {usdr} (6 decimals)" in shown.stdout
    assert f"use existing asset BARE at {bare} (8 decimals)" in shown.stdout
    assert "issue" not in shown.stdout.replace("issue 10,000.00 BND30", "")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("reports 6 decimals, the plan says 2")
    assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not (tmp_path / "deployment.json").exists()


BOT = """
name = "bare-maker"
rpc_url = "{url}"
deployment = "deployment.json"
base = "BARE"
quote = "USDR"
base_decimals = 8          # the token has no decimals()

[keystore]
path = "keys/maker.json"

[strategy]
name = "fixed_spread"
params = {{ spread_bps = 100, levels = 2, size = 500000000 }}

[feed]
kind = "static"
price = "100"
"""


def test_a_bot_finds_existing_tokens_by_symbol_in_the_deployment_file_and_trades(
    tmp_path: Path, world: World, existing: Existing
) -> None:
    who = seed(world, existing, tmp_path)
    (tmp_path / "bot.toml").write_text(BOT.format(url=world.chain.url))

    config = load_config(tmp_path / "bot.toml")

    bare, usdr = existing.tokens["BARE"], existing.tokens["USDR"]
    assert (config.market, config.base, config.quote) == (
        existing.market,
        bare.address,
        usdr.address,
    )
    market = token(world, config.market, "OtcMarket")
    pair = TwoAssetMarket(world, market, token(world, config.base), token(world, config.quote))
    params = FixedSpreadParams(**config.strategy.params)
    decimals = (config.base_decimals, config.quote_decimals)
    rig = make_rig(pair, "carol", FixedSpread(params), decimals=decimals)  # the plan's maker
    assert rig.owner == who["maker"]

    report = rig.tick()

    assert report.execution.errors == [], report.execution.errors
    assert sorted(side for side, _, _ in rig.quoted()) == ["ask", "ask", "bid", "bid"]
    ask = min((o for o in rig.own() if o.pay_token == bare.address), key=lambda o: o.buy_amt)
    world.send("dave", usdr.functions.approve(market.address, 2**256 - 1))  # the plan's taker
    world.send("dave", market.functions.buy(ask.id, ask.remaining // 2))
    assert bare.functions.balanceOf(who["taker"]).call() == ask.remaining // 2
    assert rig.bot.view.market.offer(ask.id).remaining == ask.remaining - ask.remaining // 2  # type: ignore[union-attr]


def token(world: World, address: str, artifact: str = "AssetToken") -> Contract:
    checksummed = Web3.to_checksum_address(address)
    return world.w3.eth.contract(address=checksummed, abi=load_artifact(artifact).abi)
