"""A seed plan over tokens that exist before the seed job runs, many of them bending ERC20.

Shared by `tests/test_seed_tokens.py` and `tests/test_seed_tokens_crash.py`. The initializer
(the world's `deployer`) holds every test token of `contracts/test/RealWorldTokens.sol` plus
AssetTokens with 6 and 18 decimals, minted or issued to it here, before the seed job deploys the
market and one asset of its own (BND30). Its allowance to the market the seed job will deploy
(the address follows from its nonce) is left at 7 USDR on the approve-race token, as an earlier
sale would leave it, and at the maximum on USD6, which then needs no approval at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from bots.market.client import MAX_UINT, MarketClient
from bots.market.deployment import load_deployment
from bots.seed.plan import SeedPlan, load_plan
from bots.seed.sender import create_address
from tests.chainfixtures import World

HELD = 10**6  # whole tokens of each existing token the initializer holds
USDR_LEFT = 7_000_000  # 7 USDR of allowance left to the market: approve-race tokens refuse more
BARE_DECIMALS = 8  # NoMetadataToken has no decimals(): the plan gives them
ETHER = 10**18

DECIMALS = {"BND30": 2, "USDR": 6, "CAP": 18, "MKRX": 18, "BARE": 8, "USD6": 6, "WETH": 18}
SYMBOLS = tuple(DECIMALS)
TRANSACTIONS = 25  # see `PLAN`: 3 deploy/issue, 10 top-ups, 12 for the 6 offerings

PLAN = """
[[assets]]                     # deployed and issued by the seed job, beside the existing ones
symbol = "BND30"
name = "Bond 2030 4%"
decimals = 2
supply = "10000"

[[assets]]                     # USDT-style: approve race, no return values; decimals read: 6
symbol = "USDR"
address = "{USDR}"

[[assets]]                     # allowances stored in 96 bits
symbol = "CAP"
address = "{CAP}"
decimals = 18

[[assets]]                     # bytes32 name and symbol
symbol = "MKRX"
name = "Maker-style Token"
address = "{MKRX}"

[[assets]]                     # no name, symbol or decimals at all
symbol = "BARE"
address = "{BARE}"
decimals = 8

[[assets]]
symbol = "USD6"
address = "{USD6}"
decimals = 6

[[assets]]
symbol = "WETH"
address = "{WETH}"

[[participants]]
name = "maker"
address = "{maker}"
tokens = {{ USDR = "5000", CAP = "100", MKRX = "50", BARE = "20.5", USD6 = "5000", WETH = "3" }}

[[participants]]
name = "taker"
address = "{taker}"
tokens = {{ USDR = "10000", BND30 = "100" }}

[[participants]]
name = "desk"
address = "{desk}"
gas = "0.5"
tokens = {{ BARE = "1.25" }}

[[offerings]]
id = "usdr-sale"
asset = "USDR"
amount = "1000"
quote = "BND30"
price = "0.01"

[[offerings]]
id = "cap-sale"
asset = "CAP"
amount = "10"
quote = "USD6"
price = "2.5"

[[offerings]]
id = "mkrx-sale"
asset = "MKRX"
amount = "5"
quote = "USDR"
price = "1500"

[[offerings]]
id = "bare-sale"
asset = "BARE"
amount = "20"
quote = "WETH"
price = "0.001"

[[offerings]]
id = "usd6-sale"
asset = "USD6"
amount = "1000"
quote = "USDR"
price = "1"

[[offerings]]
id = "weth-sale"
asset = "WETH"
amount = "2"
quote = "USD6"
price = "3000.5"
"""

OFFERS = [  # (pay symbol, pay units, buy units) of each offering, in plan order
    ("USDR", 1000 * 10**6, 10_00),
    ("CAP", 10 * ETHER, 25 * 10**6),
    ("MKRX", 5 * ETHER, 7500 * 10**6),
    ("BARE", 20 * 10**8, 2 * 10**16),
    ("USD6", 1000 * 10**6, 1000 * 10**6),
    ("WETH", 2 * ETHER, 6001 * 10**6),
]
TARGETS = {  # participant -> base units by symbol
    "maker": {
        "USDR": 5000 * 10**6,
        "CAP": 100 * ETHER,
        "MKRX": 50 * ETHER,
        "BARE": 20_5 * 10**7,
        "USD6": 5000 * 10**6,
        "WETH": 3 * ETHER,
    },
    "taker": {"USDR": 10_000 * 10**6, "BND30": 100_00},
    "desk": {"BARE": 1_25 * 10**6},
}


@dataclass(frozen=True)
class Existing:
    """The existing tokens by plan symbol, and where the seed job's market will be."""

    tokens: dict[str, Contract]
    market: str  # the address the seed job's first transaction (the market's deploy) creates
    first_nonce: int  # the initializer's nonce at that transaction


def deploy_existing(world: World) -> Existing:
    """Deploy and fund the existing tokens for the initializer, and leave its allowances."""
    tokens = {
        "USDR": world.deploy("ApproveRaceToken", test_only=True),
        "CAP": world.deploy("CappedAllowanceToken", test_only=True),
        "MKRX": world.deploy("Bytes32MetadataToken", test_only=True),
        "BARE": world.deploy("NoMetadataToken", test_only=True),
        "USD6": world.asset("USD", decimals=6),
        "WETH": world.asset("WETH", decimals=18),
    }
    for symbol, token in tokens.items():
        world.fund(token, {"deployer": HELD * 10 ** DECIMALS[symbol]})
    deployer = Web3.to_checksum_address(world.addr("deployer"))
    first = int(world.w3.eth.get_transaction_count(deployer)) + 2  # after the approvals below
    market = create_address(deployer, first)
    world.send("deployer", tokens["USDR"].functions.approve(market, USDR_LEFT))
    world.send("deployer", tokens["USD6"].functions.approve(market, MAX_UINT))
    return Existing(tokens, market, first)


def participants(world: World) -> dict[str, str]:
    """maker and taker are world accounts (bots can sign for them); desk is a fresh address."""
    return {"maker": world.addr("carol"), "taker": world.addr("dave"), "desk": fresh_address()}


def fresh_address() -> str:
    return str(Account.create().address)


def plan_text(existing: Existing, who: dict[str, str], text: str = PLAN) -> str:
    addresses = {s: t.address for s, t in existing.tokens.items()}
    return text.format(**addresses, **who)


def write_plan(directory: Path, text: str) -> SeedPlan:
    path = directory / "seed.toml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


@dataclass(frozen=True)
class Outcome:
    """Everything a run leaves that a resumed run must match."""

    deployment_file: str
    nonce: int
    with_code: frozenset[str]  # of the addresses the initializer's nonces create
    balances: dict[str, tuple[int, ...]]  # wei, then each of SYMBOLS, by account
    allowances: tuple[int, ...]  # the initializer's to the market, each of SYMBOLS
    offers: list[tuple[str, int, int]]  # the initializer's: (pay token, pay, buy)


def outcome(world: World, path: Path, first_nonce: int, who: dict[str, str]) -> Outcome:
    deployer = Web3.to_checksum_address(world.addr("deployer"))
    nonce = int(world.w3.eth.get_transaction_count(deployer))
    created = (create_address(deployer, n) for n in range(first_nonce, nonce))
    with_code = frozenset(a for a in created if world.w3.eth.get_code(Web3.to_checksum_address(a)))
    deployment = load_deployment(path)
    assert deployment is not None
    market = MarketClient(world.w3, deployment.require_market())
    tokens = [market.token(deployment.address_of(s)) for s in SYMBOLS]
    accounts = {**who, "initializer": deployer, "market": market.market_address}
    balances = {
        name: (
            int(world.w3.eth.get_balance(Web3.to_checksum_address(address))),
            *(int(t.functions.balanceOf(address).call()) for t in tokens),
        )
        for name, address in accounts.items()
    }
    allowances = tuple(
        int(t.functions.allowance(deployer, market.market_address).call()) for t in tokens
    )
    offers = [(o.pay_token, o.pay_amt, o.buy_amt) for o in market.owner_offers(deployer)]
    return Outcome(path.read_text(), nonce, with_code, balances, allowances, offers)
