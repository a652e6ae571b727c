"""The seed job: plan parsing, pure planning and preflight, and full runs on the dev chain."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from bots.chain.keystore import create_keystore
from bots.errors import ChainError, ConfigError
from bots.market.client import MarketClient
from bots.market.deployment import (
    AssetRecord,
    Deployment,
    DonationRecord,
    OfferingRecord,
    load_deployment,
    save_deployment,
)
from bots.seed.actions import (
    ChainState,
    DeployAsset,
    DeployMarket,
    Donate,
    Holdings,
    Issue,
    Offer,
    TopUpGas,
    TopUpToken,
    plan_actions,
)
from bots.seed.amounts import format_units
from bots.seed.plan import SeedPlan, load_plan, participant_addresses, to_units
from bots.seed.preflight import GasEstimate, SeedError, preflight
from bots.seed.run import format_report, run_seed
from tests.chainfixtures import World

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BND_ADDR = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
EURT_ADDR = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
ETHER = 10**18

PLAN = """
[[assets]]
symbol = "BND30"
name = "Bond 2030 4%"
decimals = 2
supply = "1000000"
cap = "5000000"

[[assets]]
symbol = "EURT"
name = "Euro cash token"
decimals = 2
supply = 2500000

[[participants]]
name = "maker-a"
address = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
gas = "5"
tokens = { BND30 = "20000", EURT = "250000.50" }

[[participants]]
name = "taker"
keystore = "keys/taker.json"
gas = "0.5"
tokens = { EURT = "1000" }

[[offerings]]
id = "bnd30-ipo"
asset = "BND30"
amount = "500"
quote = "EURT"
price = "99.333"

[[donations]]
id = "welcome-grant-1"
to = "taker"
asset = "EURT"
amount = "1000"

[[donations]]
id = "faucet-gas"
to = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
asset = "native"
amount = "0.25"
"""


def write_plan(tmp_path: Path, text: str = PLAN) -> Path:
    path = tmp_path / "seed.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> list[str]:
    path = write_plan(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    return lines


@pytest.fixture
def plan(tmp_path: Path) -> SeedPlan:
    return load_plan(write_plan(tmp_path))


def empty_state(plan: SeedPlan, native: int = 100 * ETHER) -> ChainState:
    addresses = {"maker-a": ALICE, "taker": "0x90F79bf6EB2c4f870365E785982E1f101E93b906"}
    return ChainState(
        initializer=Holdings(native),
        participants={name: Holdings(0) for name in addresses},
        addresses=addresses,
        supplies={},
    )


def deployed(**extra: object) -> Deployment:
    assets = {
        "BND30": AssetRecord(address=BND_ADDR, name="Bond 2030 4%", decimals=2),
        "EURT": AssetRecord(address=EURT_ADDR, name="Euro cash token", decimals=2),
    }
    return Deployment.model_validate(
        {"chain_id": 8995, "market": MARKET, "assets": assets, **extra}
    )


# ---------------------------------------------------------------- the plan file


def test_plan_amounts_convert_to_exact_base_units(plan: SeedPlan) -> None:
    assert plan.asset("BND30").supply_units == 1_000_000_00
    assert plan.asset("BND30").cap_units == 5_000_000_00
    assert plan.asset("EURT").cap_units == 0  # uncapped, as the contract reads it
    maker = plan.participants[0]
    assert maker.address == ALICE  # checksummed
    assert plan.units("EURT", maker.tokens["EURT"]) == 250_000_50
    assert plan.units("native", maker.gas) == 5 * ETHER


def test_keystore_paths_are_relative_to_the_plan(tmp_path: Path, plan: SeedPlan) -> None:
    assert plan.participants[1].keystore == tmp_path / "keys" / "taker.json"


def test_fractional_base_units_name_the_field(tmp_path: Path) -> None:
    lines = config_error(tmp_path, PLAN.replace('EURT = "1000"', 'EURT = "1000.001"'))
    assert len(lines) == 1
    assert "participants.1.tokens.EURT: 1000.001 has more than 2 decimal places" in lines[0]


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = (
        PLAN.replace('quote = "EURT"', 'quote = "USDT"')
        .replace('gas = "5"', 'gas = "0.0000000000000000001"')
        .replace('id = "faucet-gas"', 'id = "welcome-grant-1"')
        .replace('to = "taker"', 'to = "nobody"')
    )
    lines = config_error(tmp_path, text)
    assert len(lines) == 4, lines
    joined = "\n".join(lines)
    assert "offerings.0.quote: unknown asset 'USDT' (the plan has: BND30, EURT)" in joined
    assert "participants.0.gas: 1E-19 has more than 18 decimal places" in joined
    assert "donations.1.id: duplicate id 'welcome-grant-1'" in joined
    assert "donations.0.to: 'nobody' is neither a participant name nor an address" in joined


def test_float_amounts_are_refused(tmp_path: Path) -> None:
    (line,) = config_error(tmp_path, PLAN.replace('price = "99.333"', "price = 99.333"))
    assert "offerings.0.price: give amounts as a string" in line


def test_participant_needs_exactly_one_of_keystore_and_address(tmp_path: Path) -> None:
    text = PLAN.replace('keystore = "keys/taker.json"', f'keystore = "k.json"\naddress = "{ALICE}"')
    (line,) = config_error(tmp_path, text)
    assert "participants.1: give exactly one of keystore or address" in line


def test_supply_above_cap_and_bad_symbols_are_refused(tmp_path: Path) -> None:
    text = PLAN.replace('cap = "5000000"', 'cap = "999999"').replace(
        'symbol = "EURT"', 'symbol = "eurt"'
    )
    lines = config_error(tmp_path, text)
    assert any("assets.0: supply 1000000 is above the cap 999999" in line for line in lines)
    assert any("assets.1.symbol: String should match pattern" in line for line in lines)


def test_missing_plan_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed plan not found"):
        load_plan(tmp_path / "nope.toml")


def test_format_units_is_exact_beyond_decimal_precision() -> None:
    assert format_units(10**40 + 1, 18) == "10,000,000,000,000,000,000,000.000000000000000001"
    assert format_units(250_000_00, 2) == "250,000.00"
    assert format_units(5 * 10**17, 18, trim=True) == "0.5"
    assert to_units(Decimal("1e3"), 0) == 1000


# ---------------------------------------------------------------- planning


def test_fresh_chain_plans_everything_in_order(plan: SeedPlan) -> None:
    actions = plan_actions(plan, None, empty_state(plan))
    kinds = [type(a) for a in actions]
    assert kinds == [
        DeployMarket,
        DeployAsset,
        DeployAsset,
        Issue,
        Issue,
        TopUpGas,
        TopUpGas,
        TopUpToken,
        TopUpToken,
        TopUpToken,
        Offer,
        Donate,
        Donate,
    ]
    assert actions[1] == DeployAsset("BND30", "Bond 2030 4%", 2, 5_000_000_00)
    assert actions[3] == Issue("BND30", 1_000_000_00, 2)
    donate = actions[11]
    assert isinstance(donate, Donate) and donate.address == empty_state(plan).addresses["taker"]


def test_offering_buy_amount_rounds_in_the_initializers_favour(plan: SeedPlan) -> None:
    (offer,) = [a for a in plan_actions(plan, None, empty_state(plan)) if isinstance(a, Offer)]
    # 500.00 BND30 at 99.333 = 49666.5 EURT = 4966650 units exactly; check a rounding case too
    assert (offer.amount, offer.buy_amount) == (500_00, 49_666_50)
    odd = plan.model_copy(
        update={"offerings": [plan.offerings[0].model_copy(update={"amount": Decimal("0.01")})]}
    )
    (offer,) = [a for a in plan_actions(odd, None, empty_state(odd)) if isinstance(a, Offer)]
    assert (offer.amount, offer.buy_amount) == (1, 100)  # 0.99333 EURT rounds up to 1.00


def test_top_ups_are_differences_to_targets_and_never_negative(plan: SeedPlan) -> None:
    state = empty_state(plan)
    state = ChainState(
        initializer=state.initializer,
        participants={
            "maker-a": Holdings(7 * ETHER, {"BND30": 30_000_00, "EURT": 100_000_00}),
            "taker": Holdings(ETHER // 4, {"EURT": 0}),
        },
        addresses=state.addresses,
        supplies={"BND30": 1_000_000_00, "EURT": 2_000_000_00},
    )
    actions = plan_actions(plan, deployed(), state)
    assert Issue("EURT", 500_000_00, 2) in actions
    assert not any(isinstance(a, Issue) and a.symbol == "BND30" for a in actions)
    top_ups = [a for a in actions if isinstance(a, TopUpGas | TopUpToken)]
    assert [(type(a).__name__, a.name, a.symbol, a.amount) for a in top_ups] == [
        ("TopUpGas", "taker", "native", ETHER // 4),
        ("TopUpToken", "maker-a", "EURT", 150_000_50),
        ("TopUpToken", "taker", "EURT", 1_000_00),
    ]


def test_recorded_offerings_and_donations_are_never_repeated(plan: SeedPlan) -> None:
    tx = "0x" + "ab" * 32
    deployment = deployed(
        offerings={"bnd30-ipo": OfferingRecord(tx=tx, offer_id="0x1", block=3)},
        donations={"welcome-grant-1": DonationRecord(tx=tx, block=4)},
    )
    actions = plan_actions(plan, deployment, empty_state(plan))
    assert not any(isinstance(a, Offer) for a in actions)
    assert [a.id for a in actions if isinstance(a, Donate)] == ["faucet-gas"]
    assert not any(isinstance(a, DeployMarket | DeployAsset) for a in actions)


def test_deployed_asset_with_other_decimals_is_refused(plan: SeedPlan) -> None:
    deployment = deployed()
    record = AssetRecord(address=BND_ADDR, name="Bond 2030 4%", decimals=4)
    with pytest.raises(ConfigError, match="BND30 is deployed as 'Bond 2030 4%' with 4 decimals"):
        plan_actions(plan, deployment.with_asset("BND30", record), empty_state(plan))


# ---------------------------------------------------------------- preflight


def test_planned_issuance_covers_everything_on_a_fresh_chain(plan: SeedPlan) -> None:
    actions = plan_actions(plan, None, empty_state(plan))
    assert preflight(actions, Holdings(6 * ETHER), GasEstimate(0)) == []


def test_shortfall_names_token_and_amounts() -> None:
    actions = [
        TopUpToken("maker-a", ALICE, "EURT", 2_500_000_00, 2),
        TopUpToken("taker", ALICE, "EURT", 1_500_00, 2),
        Issue("EURT", 500_000_00, 2),
    ]
    problems = preflight(actions, Holdings(0, {"EURT": 2_000_000_00}), GasEstimate(0))
    assert problems == ["initializer lacks 1,500.00 EURT (needs 2,501,500.00, has 2,500,000.00)"]


def test_native_needs_include_donations_and_a_gas_allowance() -> None:
    actions = [
        TopUpGas("maker-a", ALICE, 5 * ETHER),
        Donate("gift", ALICE, ALICE, "native", ETHER, 18),
        TopUpToken("taker", ALICE, "EURT", 1, 2),
    ]
    gas = GasEstimate(price_wei=10**9)
    allowance = 10**9 * (21_000 + 80_000 + 80_000)
    assert preflight(actions, Holdings(6 * ETHER + allowance, {"EURT": 1}), gas) == []
    (problem,) = preflight(actions, Holdings(6 * ETHER, {"EURT": 1}), gas)
    assert problem == (
        f"initializer lacks {format_units(allowance, 18, trim=True)} ether "
        f"(needs {format_units(6 * ETHER + allowance, 18, trim=True)}, has 6)"
    )


# ---------------------------------------------------------------- the deployment file


def test_deployment_file_round_trips_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    assert load_deployment(path) is None
    tx = "0x" + "cd" * 32
    deployment = deployed(offerings={"ipo": OfferingRecord(tx=tx, offer_id="0x10", block=9)})
    save_deployment(path, deployment)
    assert load_deployment(path) == deployment
    assert [p.name for p in tmp_path.iterdir()] == ["deployment.json"]
    data = json.loads(path.read_text())
    assert data["assets"]["BND30"] == {"address": BND_ADDR, "name": "Bond 2030 4%", "decimals": 2}
    assert data["offerings"]["ipo"] == {"tx": tx, "offer_id": "0x10", "block": 9}
    assert deployment.address_of("EURT") == EURT_ADDR
    with pytest.raises(ConfigError, match="asset 'XYZ' is not deployed"):
        deployment.address_of("XYZ")


def test_malformed_deployment_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text('{"chain_id": 8995, "market": "0x12"}')
    with pytest.raises(ConfigError, match="market: '0x12' is not an address"):
        load_deployment(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_deployment(path)


# ---------------------------------------------------------------- on the dev chain


class Interrupt(Exception):
    pass


FAUCET = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # a prefunded dev account


def chain_plan(tmp_path: Path, text: str = PLAN) -> tuple[SeedPlan, dict[str, str]]:
    """The plan with fresh, unfunded participants: `taker` by keystore, `maker-a` by address."""
    (tmp_path / "keys").mkdir(exist_ok=True)
    taker = create_keystore(tmp_path / "keys" / "taker.json", "pw", scrypt_n=16)
    maker = Account.create().address
    plan = load_plan(write_plan(tmp_path, text.replace(ALICE.lower(), maker.lower())))
    return plan, {"maker-a": maker, "taker": taker}


def nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.addr("deployer")))


def holdings(world: World, path: Path, addresses: dict[str, str]) -> dict[str, tuple[int, ...]]:
    """(wei, BND30, EURT) per participant, and the market's offers, as recorded in `path`."""
    deployment = load_deployment(path)
    assert deployment is not None
    market = MarketClient(world.w3, deployment.market)
    tokens = [deployment.address_of(s) for s in ("BND30", "EURT")]
    return {
        name: (
            int(world.w3.eth.get_balance(address)),
            *(market.balance_of(token, address) for token in tokens),
        )
        for name, address in addresses.items()
    }


def offers(world: World, path: Path) -> list[tuple[int, int]]:
    deployment = load_deployment(path)
    assert deployment is not None
    market = MarketClient(world.w3, deployment.market)
    return [(o.pay_amt, o.buy_amt) for o in market.owner_offers(world.addr("deployer"))]


@pytest.mark.chain
def test_fresh_run_deploys_funds_offers_and_donates(tmp_path: Path, world: World) -> None:
    plan, addresses = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"
    report = run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert report.transactions == len(report.actions) + 1  # the offering also approves
    deployment = load_deployment(path)
    assert deployment is not None and deployment.chain_id == world.w3.eth.chain_id
    assert set(deployment.contracts()) == {"market", "asset BND30", "asset EURT"}
    for address in deployment.contracts().values():
        assert world.w3.eth.get_code(Web3.to_checksum_address(address))
    assert holdings(world, path, addresses) == {
        "maker-a": (5 * ETHER, 20_000_00, 250_000_50),
        "taker": (ETHER // 2, 0, 2_000_00),  # 1000 EURT target + 1000 EURT welcome grant
    }
    assert report.balances["taker"].tokens["EURT"] == 2_000_00
    offering = deployment.offerings["bnd30-ipo"]
    offer = MarketClient(world.w3, deployment.market).offer(int(offering.offer_id or "0", 16))
    assert offer is not None and offer.owner == world.addr("deployer")
    assert (offer.pay_amt, offer.buy_amt) == (500_00, 49_666_50)
    assert all(d.block is not None for d in deployment.donations.values())
    assert set(deployment.donations) == {"welcome-grant-1", "faucet-gas"}
    assert world.w3.eth.get_balance(FAUCET) == 10_000 * ETHER + ETHER // 4


@pytest.mark.chain
def test_second_run_sends_nothing(tmp_path: Path, world: World) -> None:
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"
    run_seed(world.w3, world.accounts["deployer"], plan, path)
    before, recorded = nonce(world), path.read_text()
    report = run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert (report.actions, report.transactions) == ((), 0)
    assert nonce(world) == before
    assert path.read_text() == recorded


@pytest.mark.chain
@pytest.mark.parametrize("stop_after", [1, 4, 11, 12])
def test_interrupted_run_resumes_to_the_same_state(
    tmp_path: Path, world: World, stop_after: int
) -> None:
    plan, addresses = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"

    def stop(done: int, total: int, label: str) -> None:
        if done == stop_after:
            raise Interrupt(label)

    with pytest.raises(Interrupt):
        run_seed(world.w3, world.accounts["deployer"], plan, path, progress=stop)
    report = run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert len(report.actions) == 13 - stop_after
    assert holdings(world, path, addresses) == {
        "maker-a": (5 * ETHER, 20_000_00, 250_000_50),
        "taker": (ETHER // 2, 0, 2_000_00),
    }
    assert offers(world, path) == [(500_00, 49_666_50)]
    assert world.w3.eth.get_balance(FAUCET) == 10_000 * ETHER + ETHER // 4


@pytest.mark.chain
def test_offering_in_flight_when_a_run_died_is_not_offered_again(
    tmp_path: Path, world: World
) -> None:
    """Killed between the offer's receipt and its record: only the signed hash was saved."""
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"

    def stop(done: int, total: int, label: str) -> None:
        if label.startswith("offer "):
            raise Interrupt(label)

    with pytest.raises(Interrupt):
        run_seed(world.w3, world.accounts["deployer"], plan, path, progress=stop)
    deployment = load_deployment(path)
    assert deployment is not None
    offering = deployment.offerings["bnd30-ipo"]
    save_deployment(path, deployment.with_offering("bnd30-ipo", OfferingRecord(tx=offering.tx)))
    report = run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert [type(a) for a in report.actions] == [Donate, Donate]
    assert offers(world, path) == [(500_00, 49_666_50)]
    resumed = load_deployment(path)
    assert resumed is not None and resumed.offerings["bnd30-ipo"] == offering  # completed


@pytest.mark.chain
def test_preflight_refuses_an_impossible_plan_and_sends_nothing(
    tmp_path: Path, world: World
) -> None:
    plan, _ = chain_plan(tmp_path, PLAN.replace('EURT = "1000" }', 'EURT = "2250000" }'))
    path = tmp_path / "deployment.json"
    before = nonce(world)
    with pytest.raises(SeedError) as info:
        run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert "initializer lacks 1,000.50 EURT (needs 2,501,000.50, has 2,500,000.00)" in str(
        info.value
    )
    assert info.value.exit_code == 5
    assert nonce(world) == before
    assert not path.exists()


@pytest.mark.chain
def test_deployment_from_another_chain_is_refused(tmp_path: Path, world: World) -> None:
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"
    save_deployment(path, Deployment(chain_id=1, market=MARKET))
    with pytest.raises(ChainError, match="records chain id 1 but the node serves chain id 8995"):
        run_seed(world.w3, world.accounts["deployer"], plan, path)


@pytest.mark.chain
def test_recorded_contract_without_code_is_refused(tmp_path: Path, world: World) -> None:
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"
    save_deployment(path, Deployment(chain_id=world.w3.eth.chain_id, market=MARKET))
    with pytest.raises(ChainError, match="market at .* has no code on chain: .*delete the deploy"):
        run_seed(world.w3, world.accounts["deployer"], plan, path, dry_run=True)


@pytest.mark.chain
def test_stale_in_flight_offering_is_offered_again(tmp_path: Path, world: World) -> None:
    """A recorded hash that never mined (dropped from the pool) means the offering is still due."""
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"

    def stop(done: int, total: int, label: str) -> None:
        if done == 10:  # every top-up done, the offering next
            raise Interrupt(label)

    with pytest.raises(Interrupt):
        run_seed(world.w3, world.accounts["deployer"], plan, path, progress=stop)
    deployment = load_deployment(path)
    assert deployment is not None
    never_sent = OfferingRecord(tx="0x" + "11" * 32)
    save_deployment(path, deployment.with_offering("bnd30-ipo", never_sent))
    run_seed(world.w3, world.accounts["deployer"], plan, path)
    assert offers(world, path) == [(500_00, 49_666_50)]
    resumed = load_deployment(path)
    assert resumed is not None and resumed.offerings["bnd30-ipo"].tx != never_sent.tx


@pytest.mark.chain
def test_participant_given_by_keystore_is_funded_at_its_address(
    tmp_path: Path, world: World
) -> None:
    plan, addresses = chain_plan(tmp_path)
    assert plan.participants[1].address is None  # `taker` names only its keystore file
    run_seed(world.w3, world.accounts["deployer"], plan, tmp_path / "deployment.json")
    taker = holdings(world, tmp_path / "deployment.json", {"taker": addresses["taker"]})
    assert taker == {"taker": (ETHER // 2, 0, 2_000_00)}


def test_missing_participant_keystore_points_to_fleet_keystores(
    tmp_path: Path, plan: SeedPlan
) -> None:
    with pytest.raises(
        ConfigError, match="participant taker: keystore not found: .*fleet keystores"
    ):
        participant_addresses(plan)


@pytest.mark.chain
def test_dry_run_sends_nothing_and_writes_nothing(tmp_path: Path, world: World) -> None:
    plan, _ = chain_plan(tmp_path)
    path = tmp_path / "deployment.json"
    before = nonce(world)
    report = run_seed(world.w3, world.accounts["deployer"], plan, path, dry_run=True)
    assert report.dry_run and len(report.actions) == 13
    assert "13 actions:" in format_report(report)
    assert nonce(world) == before
    assert not path.exists()
