"""Gas of the market's operations on a real anvil, printed as a table.

Run: `.venv/bin/python -m bench.gas`. Figures are receipts' `gasUsed` (21 000 base cost and
calldata included, refunds deducted) in the steady state a market maker lives in: the pair is
registered, allowances are unlimited, and every account already holds both tokens, so no
balance slot goes from zero to non-zero. Gas is deterministic, so tests/test_gas_targets.py
asserts the targets with the same `measure()`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from web3 import Web3

from bots.chain.transactor import Transactor
from bots.demo.roundtrip import Market, deploy_market, fund
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.network import load_network
from bots.market.client import made_offer_ids

TARGETS = {"make": 100_000, "full take": 75_000, "partial take": 80_000, "cancel": 50_000}
REQUOTE_SIZES = (1, 5, 10)
WINDOW = 64  # offers per hot window in OtcMarket


@dataclass
class Actors:
    m: Market
    maker: Transactor
    taker: Transactor

    def make(self, pay: int = 1_000_00, buy: int = 997_00) -> tuple[int, int]:
        fn = self.m.market.functions.offer(pay, self.m.base.address, buy, self.m.quote.address)
        receipt = self.maker.transact(fn)
        (oid,) = made_offer_ids(self.m.market, receipt)
        return oid, int(receipt["gasUsed"])

    def buy(self, oid: int, quantity: int) -> int:
        return int(self.taker.transact(self.m.market.functions.buy(oid, quantity))["gasUsed"])

    def cancel(self, oid: int) -> int:
        return int(self.maker.transact(self.m.market.functions.cancel(oid))["gasUsed"])


def measure() -> dict[str, int]:
    """Start a dev chain, measure every operation once in the steady state, stop the chain."""
    params = devchain_params(load_network())
    with DevChain(params) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        deployer, maker_key, taker_key = dev_accounts(params, 3)
        m = deploy_market(w3, deployer)
        a = Actors(m, Transactor(w3, maker_key), Transactor(w3, taker_key))
        fund(m, a.maker, 10**12, 10**12)
        fund(m, a.taker, 10**12, 10**12)
        warm_up, _ = a.make()
        a.buy(warm_up, 1_00)
        return _single_operations(a) | _requotes(a)


def _single_operations(a: Actors) -> dict[str, int]:
    gas: dict[str, int] = {}
    oldest, _ = a.make()
    oid, gas["make"] = a.make()
    gas["partial take"] = a.buy(oid, 300_00)
    gas["full take (rest of a partly taken offer)"] = a.buy(oid, 700_00)
    oid, _ = a.make()
    gas["full take"] = a.buy(oid, 1_000_00)
    oid, _ = a.make()
    gas["cancel"] = a.cancel(oid)
    for _ in range(WINDOW):
        a.make()
    gas["cancel (offer older than the hot window)"] = a.cancel(oldest)
    return gas


def _requotes(a: Actors) -> dict[str, int]:
    gas: dict[str, int] = {}
    market = a.m.market
    for n in REQUOTE_SIZES:
        ids = [a.make(1_000_00 + i, 997_00)[0] for i in range(n)]
        separate = sum(a.cancel(oid) for oid in ids) + sum(
            a.make(1_000_00 + i)[1] for i in range(n)
        )
        live = _own_offers(a)[-n:]
        cancels = [(oid, remaining) for oid, remaining in live]
        offers = [(1_000_00 + i, a.m.base.address, 996_00, a.m.quote.address) for i in range(n)]
        receipt = a.maker.transact(market.functions.requote(cancels, offers))
        gas[f"requote {n} (cancel {n} + make {n}, one tx)"] = int(receipt["gasUsed"])
        gas[f"separately: {n} cancels + {n} makes"] = separate
    return gas


def _own_offers(a: Actors) -> list[tuple[int, int]]:
    page, _ = a.m.market.functions.getOwnerOffers(a.maker.address, 0, 1000).call()
    return [(int(view[0]), int(view[6])) for view in page]


def main() -> int:
    gas = measure()
    width = max(len(name) for name in gas) + 2
    print(f"{'operation':<{width}}{'gas used':>10}  {'target':>8}")
    print("-" * (width + 22))
    failed = False
    for name, used in gas.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            ok = used <= target
            failed |= not ok
            verdict = f"  <= {target:,}" if ok else f"  OVER {target:,}"
        print(f"{name:<{width}}{used:>10,}{verdict}")
    for n in REQUOTE_SIZES:
        together = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
        apart = gas[f"separately: {n} cancels + {n} makes"]
        saved = apart - together
        print(f"requote {n}: {together / apart:.0%} of sending separately ({saved:,} gas saved)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
