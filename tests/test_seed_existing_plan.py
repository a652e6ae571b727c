"""Existing tokens in a seed plan: parsing, decimals filled in later, and pure planning."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bots.errors import ConfigError
from bots.market.deployment import AssetRecord, Deployment
from bots.seed.actions import (
    ChainState,
    DeployAsset,
    DeployMarket,
    Holdings,
    Issue,
    Offer,
    TopUpToken,
    UseAsset,
    plan_actions,
)
from bots.seed.assets import ExistingAsset
from bots.seed.plan import SeedPlan, load_plan
from bots.seed.preflight import GasEstimate, preflight

USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
DAI = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
MAKER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BND_ADDR = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

PLAN = f"""
[[assets]]
symbol = "BND30"
name = "Bond 2030 4%"
decimals = 2
supply = "1000"

[[assets]]
symbol = "USDC"
address = "{USDC}"

[[assets]]
symbol = "DAI"
name = "Dai Stablecoin"
address = "{DAI}"
decimals = 18

[[participants]]
name = "maker"
address = "{MAKER}"
tokens = {{ USDC = "250.5", DAI = "10" }}

[[offerings]]
id = "usdc-sale"
asset = "USDC"
amount = "100"
quote = "BND30"
price = "0.0125"
"""


def load(tmp_path: Path, text: str = PLAN) -> SeedPlan:
    path = tmp_path / "seed.toml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


def refused(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{tmp_path / 'seed.toml'}: ") for line in lines)
    return [line.split(": ", 1)[1] for line in lines]


def test_an_asset_with_an_address_is_an_existing_token(tmp_path: Path) -> None:
    plan = load(tmp_path)
    usdc, dai = plan.asset("USDC"), plan.asset("DAI")
    assert usdc == ExistingAsset(symbol="USDC", address=USDC)
    assert (usdc.decimals, usdc.label) == (None, "USDC")  # read from the token later
    assert isinstance(dai, ExistingAsset) and (dai.decimals, dai.label) == (18, "Dai Stablecoin")
    assert plan.units("DAI", Decimal("10")) == 10 * 10**18
    with pytest.raises(ConfigError, match="decimals of USDC are not known until its token is"):
        plan.units("USDC", Decimal("1"))


def test_decimals_read_later_check_the_amounts_then(tmp_path: Path) -> None:
    plan = load(tmp_path, PLAN.replace('USDC = "250.5"', 'USDC = "250.0000005"'))

    assert plan.with_decimals({"USDC": 7}).units("USDC", Decimal("250.0000005")) == 2_500_000_005
    with pytest.raises(ConfigError) as info:
        plan.with_decimals({"USDC": 6})
    assert str(info.value) == (
        f"{tmp_path / 'seed.toml'}: participants.0.tokens.USDC: 250.0000005 has more than 6 "
        "decimal places (USDC: not a whole number of base units)"
    )


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (f'address = "{USDC}"', f'address = "{USDC}"\nsupply = "5"'),
        (f'address = "{DAI}"', f'address = "{DAI.replace("B", "b", 1)}"'),
        (f'address = "{DAI}"', f'address = "{USDC}"'),
        ("decimals = 18", "decimals = 19"),
    ],
    ids=["supply", "checksum", "duplicate", "decimals"],
)
def test_a_bad_existing_asset_is_one_line_naming_it(
    tmp_path: Path, edit: str, problem: str
) -> None:
    (line,) = refused(tmp_path, PLAN.replace(edit, problem))
    expected = {
        "supply": "assets.1: a token given by address is never issued by the seed job: remove",
        "checksum": f"assets.2.address: '{DAI.replace('B', 'b', 1)}' has a bad EIP-55 checksum",
        "duplicate": f"assets.2.address: duplicate address '{USDC}'",
        "decimals": "assets.2.decimals: Input should be less than or equal to 18",
    }
    assert any(line.startswith(start) for start in expected.values()), line


def state(holdings: Holdings | None = None) -> ChainState:
    return ChainState(
        initializer=holdings or Holdings(10**18),
        participants={"maker": Holdings(0)},
        addresses={"maker": MAKER},
        supplies={},
    )


def test_existing_tokens_are_recorded_in_place_never_deployed_or_issued(tmp_path: Path) -> None:
    plan = load(tmp_path).with_decimals({"USDC": 6})

    actions = plan_actions(plan, None, state())

    assert actions[:4] == [
        DeployMarket(),
        DeployAsset("BND30", "Bond 2030 4%", 2, 0),
        UseAsset("USDC", USDC, "USDC", 6),
        UseAsset("DAI", DAI, "Dai Stablecoin", 18),
    ]
    assert [a for a in actions if isinstance(a, Issue)] == [Issue("BND30", 1000_00, 2)]
    assert TopUpToken("maker", MAKER, "USDC", 250_500_000, 6) in actions
    assert Offer("usdc-sale", "USDC", 100_000_000, 6, "BND30", 1_25, 2) in actions


def deployment(**assets: AssetRecord) -> Deployment:
    return Deployment(chain_id=8995, market=MARKET, assets=assets)


def test_a_recorded_existing_token_is_not_recorded_again(tmp_path: Path) -> None:
    plan = load(tmp_path).with_decimals({"USDC": 6})
    usdc = UseAsset("USDC", USDC, "USDC", 6).record
    dai = AssetRecord(address=DAI, name="Dai Stablecoin", decimals=18, existing=True)
    bnd = AssetRecord(address=BND_ADDR, name="Bond 2030 4%", decimals=2)

    actions = plan_actions(plan, deployment(BND30=bnd, USDC=usdc, DAI=dai), state())

    assert not [a for a in actions if isinstance(a, UseAsset | DeployAsset | DeployMarket)]


@pytest.mark.parametrize(
    ("symbol", "record", "message"),
    [
        (
            "USDC",
            AssetRecord(address=BND_ADDR, name="USDC", decimals=6),
            f"asset USDC was deployed by the seed job at {BND_ADDR}, the plan names the "
            f"existing token at {USDC}: use another symbol",
        ),
        (
            "BND30",
            AssetRecord(address=BND_ADDR, name="Bond 2030 4%", decimals=2, existing=True),
            f"asset BND30 is recorded as the existing token at {BND_ADDR}, the plan deploys it",
        ),
        (
            "DAI",
            AssetRecord(address=DAI, name="Dai", decimals=18, existing=True),
            f"asset DAI is recorded as 'Dai' at {DAI} with 18 decimals, the plan says "
            f"'Dai Stablecoin' at {DAI} with 18",
        ),
    ],
    ids=["deployed-now-existing", "existing-now-deployed", "renamed"],
)
def test_a_recorded_asset_that_the_plan_describes_otherwise_is_refused(
    tmp_path: Path, symbol: str, record: AssetRecord, message: str
) -> None:
    plan = load(tmp_path).with_decimals({"USDC": 6})
    with pytest.raises(ConfigError) as info:
        plan_actions(plan, deployment(**{symbol: record}), state())
    assert str(info.value).startswith(message)


def test_preflight_counts_an_existing_token_as_held_never_as_issued(tmp_path: Path) -> None:
    plan = load(tmp_path).with_decimals({"USDC": 6})
    actions = plan_actions(plan, None, state())
    holds = Holdings(10**18, {"USDC": 350_499_999, "DAI": 10 * 10**18})

    assert preflight(actions, holds, GasEstimate(0)) == [
        "initializer lacks 0.000001 USDC (needs 350.500000, has 350.499999)"
    ]
    more = Holdings(10**18, {"USDC": 350_500_000, "DAI": 10 * 10**18})
    assert preflight(actions, more, GasEstimate(0)) == []
