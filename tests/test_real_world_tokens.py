"""Tokens that bend ERC20, and PoA nodes that bend block headers: a bot still quotes and trades.

The tokens are test contracts of our own written after real ones (`contracts/test/
RealWorldTokens.sol`): USDT's approve-race guard and missing return values, 96-bit allowances
(COMP, UNI), MKR's bytes32 metadata, a token with no metadata at all; and AssetTokens with 6
and 18 decimals. Each is traded by an in-process bot (`tests.tickrig`) on the session anvil.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from web3.contract import Contract

from bots.errors import ConfigError, TxError
from bots.market.approvals import Approvals
from bots.market.client import MAX_UINT, MarketClient
from bots.market.tokens import load_token
from strategies.fixed_spread import FixedSpread, FixedSpreadParams
from tests.chainfixtures import TwoAssetMarket, World, rolled_back
from tests.clirun import otcmm as run_otcmm
from tests.faultproxy import FaultProxy
from tests.tickrig import Rig, make_rig

pytestmark = pytest.mark.chain

FUNDS = 10**27  # base units of each token: below the market's 2^96 per offer


@pytest.fixture(scope="module")
def tokens(session_world: World) -> Iterator[dict[str, Contract]]:
    """A market and one token of each kind, alice and bob funded and approved for everything."""
    world = session_world
    with rolled_back(world):
        made = {"market": world.deploy("OtcMarket")}
        for name in ("ApproveRaceToken", "CappedAllowanceToken", "Bytes32MetadataToken"):
            made[name] = world.deploy(name, test_only=True)
        made["NoMetadataToken"] = world.deploy("NoMetadataToken", test_only=True)
        made["USD6"] = world.asset("USD", decimals=6)
        made["ETH18"] = world.asset("WETH", decimals=18)
        for name, token in made.items():
            if name != "market":
                world.fund(token, {"alice": FUNDS, "bob": FUNDS}, made["market"])
        yield made


@pytest.fixture
def book(tokens: dict[str, Contract], world: World) -> Iterator[dict[str, Contract]]:
    yield tokens  # `world` rolls every test back


def pair(world: World, tokens: dict[str, Contract], base: str, quote: str) -> TwoAssetMarket:
    return TwoAssetMarket(world, tokens["market"], tokens[base], tokens[quote])


def allow(world: World, token: Contract, market: Contract, who: str, amount: int) -> None:
    """Set `who`'s allowance to exactly `amount`, the way an approve-race token allows it."""
    world.send(who, token.functions.approve(market.address, 0))
    if amount:
        world.send(who, token.functions.approve(market.address, amount))


def size(decimals: int) -> int:
    return 5 * 10**decimals


def quotes_both_sides_and_trades(rig: Rig, world: World, market: TwoAssetMarket) -> None:
    report = rig.tick()
    assert report.execution.errors == [], report.execution.errors
    sides = [side for side, _, _ in rig.quoted()]
    assert sides.count("ask") == 2 and sides.count("bid") == 2
    ask = max(rig.own(), key=lambda o: o.pay_token == market.bnd.address)
    world.send("bob", market.market.functions.buy(ask.id, ask.remaining // 2))
    assert rig.bot.view.market.offer(ask.id).remaining == ask.remaining - ask.remaining // 2  # type: ignore[union-attr]


def rig_for(market: TwoAssetMarket, base_decimals: int, **kw: Any) -> Rig:
    params = FixedSpreadParams(spread_bps=100, levels=2, size=size(base_decimals))
    return make_rig(market, strategy=FixedSpread(params), **kw)


# --- approvals ------------------------------------------------------------------------------


def test_an_approve_race_token_with_an_allowance_left_still_gets_approved(
    book: dict[str, Contract], world: World
) -> None:
    market = pair(world, book, "ETH18", "ApproveRaceToken")  # USDT-style quote money
    for who in ("alice", "bob"):
        allow(world, book["ETH18"], book["market"], who, MAX_UINT)
    allow(world, book["ApproveRaceToken"], book["market"], "alice", 7_000_000)  # 7 USDR left
    allow(world, book["ApproveRaceToken"], book["market"], "bob", MAX_UINT)
    rig = rig_for(market, 18)

    quotes_both_sides_and_trades(rig, world, market)


def test_a_token_whose_approval_fails_blocks_only_its_own_side(
    book: dict[str, Contract], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = pair(world, book, "ETH18", "USD6")
    for token in ("ETH18", "USD6"):
        allow(world, book[token], book["market"], "alice", 0)
    failing = book["ETH18"].address

    def approve(self: Approvals, token: str, allowance: int) -> None:
        if token == failing:
            raise TxError("approve: paused token")
        real(self, token, allowance)

    real = Approvals._approve_max
    monkeypatch.setattr(Approvals, "_approve_max", approve)
    rig = rig_for(market, 18)

    report = rig.tick()

    assert any("paused token" in e for e in report.execution.errors)
    assert [side for side, _, _ in rig.quoted()] == ["bid", "bid"]  # the bids still went out


def test_an_allowance_stored_in_96_bits_is_approved_once_not_every_tick(
    book: dict[str, Contract], world: World
) -> None:
    market = pair(world, book, "CappedAllowanceToken", "USD6")
    allow(world, book["CappedAllowanceToken"], book["market"], "alice", 0)
    rig = rig_for(market, 18)
    approvals = []
    original = rig.bot.executor.approvals._approve_max
    rig.bot.executor.approvals._approve_max = lambda t, a: (approvals.append(t), original(t, a))  # type: ignore[method-assign]
    for price in ("100", "101", "102"):  # a requote every tick
        rig.move(price)
        assert rig.tick().execution.errors == []

    assert approvals == [book["CappedAllowanceToken"].address]
    allowance = book["CappedAllowanceToken"].functions.allowance(rig.owner, book["market"].address)
    assert allowance.call() < 2**96  # it never reads back as "unlimited"


# --- metadata -------------------------------------------------------------------------------


def test_bytes32_metadata_is_read_and_the_token_trades(
    book: dict[str, Contract], world: World
) -> None:
    market = pair(world, book, "Bytes32MetadataToken", "USD6")
    reader = MarketClient(world.w3, book["market"].address)

    token = load_token(reader, book["Bytes32MetadataToken"].address)

    assert (token.symbol, token.decimals) == ("MKRX", 18)
    quotes_both_sides_and_trades(rig_for(market, 18), world, market)


def test_a_token_without_metadata_needs_decimals_from_the_config(
    book: dict[str, Contract], world: World
) -> None:
    address = book["NoMetadataToken"].address
    reader = MarketClient(world.w3, book["market"].address)
    with pytest.raises(ConfigError, match="has no decimals\\(\\): set base_decimals"):
        load_token(reader, address)

    token = load_token(reader, address, decimals=18)

    assert token.decimals == 18 and token.symbol == f"{address[:6]}…{address[-4:]}"
    market = pair(world, book, "NoMetadataToken", "USD6")
    quotes_both_sides_and_trades(rig_for(market, 18, decimals=(18, None)), world, market)


def test_configured_decimals_that_disagree_with_the_token_are_refused(
    book: dict[str, Contract], world: World
) -> None:
    reader = MarketClient(world.w3, book["market"].address)
    with pytest.raises(ConfigError, match="reports 6 decimals, the config says 18"):
        load_token(reader, book["USD6"].address, decimals=18)


@pytest.mark.parametrize(("base", "decimals"), [("ETH18", 18), ("USD6", 6)])
def test_tokens_with_6_and_18_decimals_trade(
    book: dict[str, Contract], world: World, base: str, decimals: int
) -> None:
    quote = "USD6" if base == "ETH18" else "ETH18"
    market = pair(world, book, base, quote)
    quotes_both_sides_and_trades(rig_for(market, decimals), world, market)


# --- PoA block headers ----------------------------------------------------------------------


def long_extra_data(answer: dict[str, Any]) -> None:
    """What a Clique/QBFT/IBFT2 node serves: 32 bytes of vanity plus a 65-byte seal."""
    block = answer.get("result")
    if isinstance(block, dict) and "extraData" in block and "miner" in block:
        block["extraData"] = "0x" + "ab" * 97


def test_a_bot_runs_against_a_node_whose_blocks_carry_a_97_byte_seal(
    book: dict[str, Contract], world: World
) -> None:
    market = pair(world, book, "ETH18", "USD6")
    with FaultProxy(world.chain.url, rewrite=long_extra_data) as proxy:
        rig = rig_for(market, 18, rpc_url=proxy.url)
        quotes_both_sides_and_trades(rig, world, market)
        rig.move("101")
        assert rig.tick().execution.errors == []  # fees read from such a block, sends work


def otcmm(*args: str) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args)


def test_book_and_balances_show_tokens_with_odd_or_no_metadata(
    book: dict[str, Contract], world: World
) -> None:
    market = pair(world, book, "Bytes32MetadataToken", "USD6")
    rig_for(market, 18).tick()
    where = ("--rpc-url", world.chain.url, "--market", book["market"].address)

    shown = otcmm("book", *where, "--base", market.bnd.address, "--quote", market.usd.address)
    bare = ("--base", book["NoMetadataToken"].address, "--quote", book["USD6"].address)
    refused = otcmm("balances", *where, *bare, "--address", world.addr("alice"))
    balances = otcmm(
        "balances", *where, *bare, "--base-decimals", "18", "--address", world.addr("alice")
    )

    assert shown.returncode == 0, shown.stderr
    assert "price USD" in shown.stdout and "size MKRX" in shown.stdout
    assert refused.returncode == 2 and "has no decimals()" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert balances.returncode == 0, balances.stderr
