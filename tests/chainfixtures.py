"""Building blocks for chain tests: named accounts, tokens and markets on one anvil.

Kept apart from conftest so benchmarks and other tools can build the same worlds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.chain.transactor import Transactor
from bots.devtools.devchain import DevChain, DevChainParams, dev_accounts
from bots.market.client import MAX_UINT, made_offer_ids


@dataclass
class World:
    """One dev chain with named participants, each with its own transactor."""

    chain: DevChain
    w3: Web3
    accounts: dict[str, LocalAccount]
    tx: dict[str, Transactor] = field(default_factory=dict)

    def addr(self, name: str) -> str:
        return str(self.accounts[name].address)

    def deploy(
        self, name: str, *args: Any, by: str = "deployer", test_only: bool = False
    ) -> Contract:
        contract, _ = self.tx[by].deploy(load_artifact(name, test_only=test_only), *args)
        return contract

    def send(self, who: str, call: Any, gas: int | None = None) -> TxReceipt:
        return self.tx[who].transact(call, gas=gas)

    def asset(self, symbol: str, decimals: int = 2, cap: int = 0) -> Contract:
        """Deploy an AssetToken issued by `deployer`."""
        return self.deploy(
            "AssetToken", f"{symbol} token", symbol, decimals, cap, self.addr("deployer")
        )

    def fund(
        self, token: Contract, amounts: dict[str, int], market: Contract | None = None
    ) -> None:
        """Issue (or mint, for test tokens) amounts and approve the market for everything."""
        for name, amount in amounts.items():
            if "issue" in {f["name"] for f in token.abi if f.get("type") == "function"}:
                self.send("deployer", token.functions.issue(self.addr(name), amount))
            else:
                self.send("deployer", token.functions.mint(self.addr(name), amount))
            if market is not None:
                self.send(name, token.functions.approve(market.address, MAX_UINT))

    def snapshot(self) -> str:
        return str(self.chain.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if self.chain.rpc("evm_revert", [snapshot_id]) is not True:
            raise RuntimeError(f"evm_revert {snapshot_id} failed")
        for transactor in self.tx.values():
            transactor.resync_nonce()


NAMES = ("deployer", "alice", "bob", "carol", "dave", "erin", "frank", "grace")


def start_world(params: DevChainParams, names: tuple[str, ...] = NAMES) -> Iterator[World]:
    """Start anvil and yield a world; anvil is stopped when the generator closes."""
    with DevChain(params) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        keys = dev_accounts(params)
        accounts = dict(zip(names, keys, strict=False))
        world = World(chain=chain, w3=w3, accounts=accounts)
        world.tx = {name: Transactor(w3, account) for name, account in accounts.items()}
        yield world


def offer_id(market: Contract, receipt: TxReceipt) -> int:
    """The id of the (last) offer a receipt's LogMake announced."""
    return made_offer_ids(market, receipt)[-1]


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """Decoded `name` events that `contract` itself emitted in `receipt`."""
    found = contract.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == contract.address]


def ceil_div(a: int, b: int) -> int:
    """The tests' own rounding oracle, kept independent of the product's `take_cost`."""
    return -(-a // b)


@contextmanager
def rolled_back(world: World) -> Iterator[None]:
    """Undo on exit whatever the block did to the chain (module-scoped setups)."""
    snapshot = world.snapshot()
    try:
        yield
    finally:
        world.revert(snapshot)


@dataclass
class MarketFixture:
    """A deployed market in a world; traders are named, "market" names the market itself."""

    world: World
    market: Contract

    def address(self, who: str | Contract) -> str:
        if isinstance(who, str):
            return str(self.market.address) if who == "market" else self.world.addr(who)
        return str(who.address)

    def balance(self, token: Contract, who: str | Contract) -> int:
        return int(token.functions.balanceOf(self.address(who)).call())

    def offer(self, who: str, pay_amt: int, pay: Contract, buy_amt: int, buy: Contract) -> int:
        call = self.market.functions.offer(pay_amt, pay.address, buy_amt, buy.address)
        return offer_id(self.market, self.world.send(who, call))


@dataclass
class TwoAssetMarket(MarketFixture):
    """A market for BND (2 decimals) against USD; forward offers sell BND for USD."""

    bnd: Contract
    usd: Contract

    def pair(self, reverse: bool = False) -> tuple[Contract, Contract]:
        return (self.usd, self.bnd) if reverse else (self.bnd, self.usd)

    def make(self, who: str, pay_amt: int, buy_amt: int, *, reverse: bool = False) -> int:
        """Offer `pay_amt` BND for `buy_amt` USD (or USD for BND when `reverse`)."""
        pay, buy = self.pair(reverse)
        return self.offer(who, pay_amt, pay, buy_amt, buy)


M = TypeVar("M", bound=TwoAssetMarket)


def two_asset_market(
    world: World, kind: type[M], traders: tuple[str, ...], funds: int, usd_decimals: int
) -> M:
    """Deploy a market, BND and USD; issue `funds` of both to each trader and approve."""
    market = world.deploy("OtcMarket")
    bnd, usd = world.asset("BND"), world.asset("USD", decimals=usd_decimals)
    for token in (bnd, usd):
        world.fund(token, dict.fromkeys(traders, funds), market)
    return kind(world, market, bnd, usd)
