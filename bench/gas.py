"""Gas of the market's operations on a real anvil, printed as a table.

Run: `.venv/bin/python -m bench.gas`. Figures are receipts' `gasUsed` (21 000 base cost and
calldata included, refunds deducted) in the steady state a market maker lives in: the pair is
registered, allowances are unlimited, and every account already holds both tokens, so no
balance slot goes from zero to non-zero. Gas is deterministic, so tests/test_gas_targets.py
asserts the targets with the same `measure()`.

The dead-man's switch (`setDeadline`, `requoteUntil`, guarded offers) was budgeted against the
figures measured before it existed (`BEFORE_SWITCH`): `BUDGETS` caps what it may add.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from bots.chain.transactor import Transactor
from bots.demo.roundtrip import Market, deploy_market, fund
from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChain, dev_accounts
from bots.devtools.network import load_network
from bots.market.client import made_offer_ids

REFRESH = "refresh (setDeadline, nonzero -> nonzero)"
TARGETS = {
    "make": 100_000,
    "full take": 75_000,
    "partial take": 80_000,
    "cancel": 50_000,
    REFRESH: 30_000,
}
# Measured before the dead-man's switch (commit 0bf5db4, README's gas table of that time).
BEFORE_SWITCH = {"make": 99_017, "partial take": 73_348, "full take": 69_773, "cancel": 49_323}
# operation -> (operation before the switch, most gas it may add). Make, cancel and unguarded
# takes do no new work; they pay only for the longer selector dispatch (22 gas per new function
# whose selector sorts before theirs; `buyWithin`, the bounded take, added 49 to make: a deeper
# dispatch branch) and takes for the spend limit's comparison. A guarded take reads its maker's
# deadline (a cold slot).
BUDGETS = {
    "make": ("make", 150),
    "cancel": ("cancel", 100),
    "partial take": ("partial take", 300),
    "full take": ("full take", 300),
    "partial take (guarded offer)": ("partial take", 2_500),
    "full take (guarded offer)": ("full take", 2_500),
}
# requoteUntil n may cost at most requote n + fixed + per_offer * n: the deadline's cold read
# and `LogGuard` per transaction, the guard bit and the id in `LogGuard` per offer; moving the
# deadline adds its storage write and `LogDeadline`.
REQUOTE_UNTIL_BUDGET = {"same deadline": (5_000, 1_000), "new deadline": (10_000, 1_000)}
REQUOTE_SIZES = (1, 5, 10)
WINDOW = 64  # offers per hot window in OtcMarket
HOUR = 3_600


@dataclass
class Actors:
    m: Market
    maker: Transactor
    taker: Transactor
    chain: DevChain

    def make(self, pay: int = 1_000_00, buy: int = 997_00) -> tuple[int, int]:
        fn = self.m.market.functions.offer(pay, self.m.base.address, buy, self.m.quote.address)
        receipt = self.maker.transact(fn)
        (oid,) = made_offer_ids(self.m.market, receipt)
        return oid, int(receipt["gasUsed"])

    def buy(self, oid: int, quantity: int) -> int:
        return int(self.taker.transact(self.m.market.functions.buy(oid, quantity))["gasUsed"])

    def buy_within(self, oid: int, quantity: int) -> int:
        """A bounded take (`buyWithin`): the pair and a spend limit checked on chain."""
        base, quote = self.m.base.address, self.m.quote.address
        fn = self.m.market.functions.buyWithin(oid, quantity, base, quote, 10**30)
        return int(self.taker.transact(fn)["gasUsed"])

    def cancel(self, oid: int) -> int:
        return int(self.maker.transact(self.m.market.functions.cancel(oid))["gasUsed"])

    def make_guarded(self, pay: int = 1_000_00, buy: int = 997_00) -> int:
        """A guarded offer (made by `requoteUntil`) under the maker's current deadline."""
        spec = (pay, self.m.base.address, buy, self.m.quote.address)
        deadline = self.m.market.functions.deadlineOf(self.maker.address).call()
        receipt = self.maker.transact(self.m.market.functions.requoteUntil([], [spec], deadline))
        (oid,) = made_offer_ids(self.m.market, receipt)
        return oid

    def set_deadline(self, deadline: int) -> int:
        call = self.m.market.functions.setDeadline(deadline)
        return int(self.maker.transact(call)["gasUsed"])

    def alternatives(self, *calls: Any) -> list[int]:
        """Gas of each call sent from the same chain state (rolled back after all but the last)."""
        used = []
        for n, call in enumerate(calls):
            snapshot = self.chain.rpc("evm_snapshot") if n < len(calls) - 1 else None
            used.append(int(self.maker.transact(call)["gasUsed"]))
            if snapshot is not None:
                self.chain.rpc("evm_revert", [snapshot])
                self.maker.resync_nonce()
        return used

    def in_an_hour(self) -> int:
        """A deadline an hour after the latest block (anvil's clock follows the wall clock)."""
        return int(self.m.w3.eth.get_block("latest")["timestamp"]) + HOUR


def measure() -> dict[str, int]:
    """Start a dev chain, measure every operation once in the steady state, stop the chain."""
    params = devchain_params(load_network())
    with DevChain(params) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        deployer, maker_key, taker_key = dev_accounts(params, 3)
        m = deploy_market(w3, deployer)
        a = Actors(m, Transactor(w3, maker_key), Transactor(w3, taker_key), chain)
        fund(m, a.maker, 10**12, 10**12)
        fund(m, a.taker, 10**12, 10**12)
        warm_up, _ = a.make()
        a.buy(warm_up, 1_00)
        return _single_operations(a) | _switch(a) | _requotes(a)


def _single_operations(a: Actors) -> dict[str, int]:
    gas: dict[str, int] = {}
    oldest, _ = a.make()
    oid, gas["make"] = a.make()
    gas["partial take"] = a.buy(oid, 300_00)
    gas["full take (rest of a partly taken offer)"] = a.buy(oid, 700_00)
    oid, _ = a.make()
    gas["full take"] = a.buy(oid, 1_000_00)
    oid, _ = a.make()
    gas["partial take (buyWithin)"] = a.buy_within(oid, 300_00)
    gas["full take (buyWithin, rest of a partly taken offer)"] = a.buy_within(oid, 700_00)
    oid, _ = a.make()
    gas["cancel"] = a.cancel(oid)
    for _ in range(WINDOW):
        a.make()
    gas["cancel (offer older than the hot window)"] = a.cancel(oldest)
    return gas


def _switch(a: Actors) -> dict[str, int]:
    """The dead-man's switch: turning it on, refreshing it, and taking guarded offers."""
    gas: dict[str, int] = {}
    gas["setDeadline 0 -> nonzero (switch on)"] = a.set_deadline(a.in_an_hour())
    gas[REFRESH] = a.set_deadline(a.in_an_hour() + 1)
    oid = a.make_guarded()
    gas["partial take (guarded offer)"] = a.buy(oid, 300_00)
    gas["full take (guarded offer, rest of a partly taken one)"] = a.buy(oid, 700_00)
    oid = a.make_guarded()
    gas["full take (guarded offer)"] = a.buy(oid, 1_000_00)
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
        deadline = market.functions.deadlineOf(a.maker.address).call()
        # The same re-quote from the same state: plain, with the switch keeping the deadline,
        # and with the switch moving it (what a live bot's refresh does).
        plain, same, moved = a.alternatives(
            market.functions.requote(cancels, offers),
            market.functions.requoteUntil(cancels, offers, deadline),
            market.functions.requoteUntil(cancels, offers, deadline + 1),
        )
        gas[f"requote {n} (cancel {n} + make {n}, one tx)"] = plain
        gas[f"separately: {n} cancels + {n} makes"] = separate
        gas[f"requoteUntil {n}, same deadline"] = same
        gas[f"requoteUntil {n}, new deadline"] = moved
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
        verdict = ""
        for target, extra in _limits(name):
            ok = used <= target
            failed |= not ok
            verdict += f"  {'<=' if ok else 'OVER'} {target:,}{extra}"
        print(f"{name:<{width}}{used:>10,}{verdict}")
    for n in REQUOTE_SIZES:
        together = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
        apart = gas[f"separately: {n} cancels + {n} makes"]
        saved = apart - together
        print(f"requote {n}: {together / apart:.0%} of sending separately ({saved:,} gas saved)")
    for n in REQUOTE_SIZES:
        plain = gas[f"requote {n} (cancel {n} + make {n}, one tx)"]
        same, moved = (
            gas[f"requoteUntil {n}, same deadline"],
            gas[f"requoteUntil {n}, new deadline"],
        )
        moving = f"{moved - plain:+,} moving the deadline"
        print(f"requoteUntil {n}: {same - plain:+,} gas over requote {n} ({moving})")
    return 1 if failed else 0


def _limits(name: str) -> list[tuple[int, str]]:
    """(most gas allowed, how it was derived) for operation `name`: targets and budgets."""
    limits = [(TARGETS[name], "")] if name in TARGETS else []
    if name in BUDGETS:
        before, extra = BUDGETS[name]
        limits.append((BEFORE_SWITCH[before] + extra, f" ({before} before the switch +{extra:,})"))
    return limits


if __name__ == "__main__":
    sys.exit(main())
