"""A first real trade on a fresh dev chain: make -> partial take -> cancel, with gas per step.

This is `otcmm demo` until the seed job and bots exist: it proves on a real node, with real
compiled contracts and locally signed transactions, that the escrow market works end to end,
and checks that every base unit is where it should be afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from bots.artifacts import load_artifact
from bots.chain.transactor import Transactor
from bots.devtools.devchain import DevChain, DevChainParams, MiningMode, dev_accounts
from bots.errors import OtcmmError
from bots.market.client import MAX_UINT, made_offer_ids
from strategies.money import take_cost


@dataclass(frozen=True)
class Step:
    label: str
    gas_used: int
    detail: str


@dataclass
class Market:
    """A deployed market with a base asset (a bond) and a quote asset (a EUR cash token)."""

    w3: Web3
    market: Contract
    base: Contract
    quote: Contract
    deployer: Transactor


def deploy_market(w3: Web3, deployer: LocalAccount, decimals: int = 2) -> Market:
    """Deploy OtcMarket plus two AssetTokens issued by `deployer`."""
    tx = Transactor(w3, deployer)
    token = load_artifact("AssetToken")
    base, _ = tx.deploy(token, "Bond 2030 4%", "BND30", decimals, 0, deployer.address)
    quote, _ = tx.deploy(token, "Euro cash token", "EURT", decimals, 0, deployer.address)
    market, _ = tx.deploy(load_artifact("OtcMarket"))
    return Market(w3=w3, market=market, base=base, quote=quote, deployer=tx)


def fund(m: Market, trader: Transactor, base_amount: int, quote_amount: int) -> None:
    """Issue both assets to `trader` and let the market move them."""
    for token, amount in ((m.base, base_amount), (m.quote, quote_amount)):
        if amount:
            m.deployer.transact(token.functions.issue(trader.address, amount))
    trader.transact(m.base.functions.approve(m.market.address, MAX_UINT))
    trader.transact(m.quote.functions.approve(m.market.address, MAX_UINT))


def run_roundtrip(params: DevChainParams, mode: MiningMode = "auto") -> list[Step]:
    """Start a dev chain, trade once, stop the chain; return the steps with their gas."""
    with DevChain(params, mode=mode) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        deployer, maker_key, taker_key = dev_accounts(params, 3)
        m = deploy_market(w3, deployer)
        maker, taker = Transactor(w3, maker_key), Transactor(w3, taker_key)
        fund(m, maker, base_amount=1_000_00, quote_amount=0)
        fund(m, taker, base_amount=0, quote_amount=200_000_00)
        return _trade(m, maker, taker)


def _trade(m: Market, maker: Transactor, taker: Transactor) -> list[Step]:
    market = m.market.functions
    sell, price = 100_00, 99_875  # 100.00 BND30 at 998.75 EURT each -> 99 875.00 EURT
    receipt = maker.transact(market.offer(sell, m.base.address, price * 100, m.quote.address))
    (oid,) = made_offer_ids(m.market, receipt)
    steps = [
        Step(
            "make",
            receipt["gasUsed"],
            f"maker escrows 100.00 BND30 for 99875.00 EURT (id {oid:#x}; "
            "the pair's first offer registers it)",
        )
    ]
    receipt = taker.transact(market.buy(oid, 33_33))
    paid = Decimal(_balance(m.quote, maker.address)) / 100
    steps.append(
        Step(
            "partial take",
            receipt["gasUsed"],
            f"taker buys 33.33 BND30, maker receives {paid} EURT (first receipts: new balances)",
        )
    )
    receipt = maker.transact(market.cancel(oid))
    steps.append(
        Step("cancel", receipt["gasUsed"], "maker cancels, 66.67 BND30 return from escrow")
    )
    _check_settlement(m, maker, taker)
    return steps


def _balance(token: Contract, owner: str) -> int:
    return int(token.functions.balanceOf(owner).call())


def _check_settlement(m: Market, maker: Transactor, taker: Transactor) -> None:
    """Every base unit accounted for: the escrow is empty and both legs are exact."""
    expected = {
        ("BND30", "maker"): 1_000_00 - 33_33,
        ("BND30", "taker"): 33_33,
        ("BND30", "market"): 0,
        ("EURT", "maker"): take_cost(100_00, 99_875 * 100, 33_33),  # rounded up for the maker
        ("EURT", "market"): 0,
    }
    holders = {"maker": maker.address, "taker": taker.address, "market": m.market.address}
    tokens = {"BND30": m.base, "EURT": m.quote}
    for (symbol, who), amount in expected.items():
        actual = _balance(tokens[symbol], holders[who])
        if actual != amount:
            raise OtcmmError(
                f"settlement check failed: {who} holds {actual} {symbol}, expected {amount}"
            )


def format_steps(steps: list[Step]) -> str:
    lines = [f"{'step':<14}{'gas used':>10}  what happened", "-" * 72]
    lines += [f"{s.label:<14}{s.gas_used:>10,}  {s.detail}" for s in steps]
    lines.append(
        "settlement check: OK (escrow empty, both legs exact, maker paid at least its price)"
    )
    return "\n".join(lines)
