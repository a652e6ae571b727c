"""A node answering a pair's book page with real offers of another pair (their true tokens).

The bounded take (`buyWithin`) checks the pair the bot passes; bounded by the forged offer's own
tokens it would pass. `MarketReader` therefore keeps only offers of the pair it asked for: the
bot neither sells base on a bid page served as asks nor buys a worthless token (both happened
before the filter: a red-team finding).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_utils.abi import function_abi_to_4byte_selector

from strategies.taker import Taker, TakerParams
from tests.chainfixtures import TwoAssetMarket
from tests.tickrig import FUNDS, fresh_book, make_rig  # noqa: F401

pytestmark = pytest.mark.chain


class PairSwapProxy:
    """Forwards JSON-RPC; getPairOffers(want) calls are rewritten to getPairOffers(instead)."""

    def __init__(self, upstream: str, market: Any, want: tuple[str, str], instead: tuple[str, str]):
        abi = next(f for f in market.abi if f.get("name") == "getPairOffers")
        self.selector = "0x" + function_abi_to_4byte_selector(abi).hex()
        self.market = market.address.lower()
        self.want = tuple(a.lower() for a in want)
        self.instead = instead
        self.upstream = upstream
        self.rewritten = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reqs = body if isinstance(body, list) else [body]
                for r in reqs:
                    proxy.rewrite(r)
                data = json.dumps(body).encode()
                req = urllib.request.Request(  # noqa: S310 - the test's own anvil
                    proxy.upstream, data=data, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                    out = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def rewrite(self, r: dict[str, Any]) -> None:
        if r.get("method") != "eth_call":
            return
        tx = r["params"][0]
        data = tx.get("data") or tx.get("input") or ""
        if str(tx.get("to", "")).lower() != self.market or not data.startswith(self.selector):
            return
        pay, buy, cursor, count = decode(
            ["address", "address", "uint256", "uint256"], bytes.fromhex(data[10:])
        )
        if (pay.lower(), buy.lower()) != self.want:
            return
        new = (
            self.selector
            + encode(
                ["address", "address", "uint256", "uint256"], [*self.instead, cursor, count]
            ).hex()
        )
        for key in ("data", "input"):
            if key in tx:
                tx[key] = new
        self.rewritten += 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_asks_page_answered_with_the_bids_makes_the_bot_sell_nothing(
    book: TwoAssetMarket,
) -> None:
    # bob (attacker) bids 10 USD for 1 BND: a price of 10 USD/BND, the reference is 100.
    bid = book.make("bob", 10 * 10**6, 100, reverse=True)
    proxy = PairSwapProxy(
        book.world.chain.url,
        book.market,
        want=(book.bnd.address, book.usd.address),  # the asks page
        instead=(book.usd.address, book.bnd.address),  # answered with the bids page
    )
    try:
        # The taker may spend 100 USD base units (0.0001 USD) per tick on asks, nothing on bids.
        strategy = Taker(TakerParams(edge_bps=100, budget_quote=100, budget_base=0))
        rig = make_rig(book, "alice", strategy, rpc_url=proxy.url)
        before = book.balance(book.bnd, "alice"), book.balance(book.usd, "alice")
        report = rig.tick()
        after = book.balance(book.bnd, "alice"), book.balance(book.usd, "alice")
    finally:
        proxy.close()
    assert proxy.rewritten > 0 and report.execution.taken == []
    assert after == before, (bid, after[0] - before[0], after[1] - before[1])


def test_an_asks_page_answered_with_another_pair_makes_the_bot_buy_nothing(
    book: TwoAssetMarket,
) -> None:
    scam = book.world.asset("SCAM", decimals=2)
    book.world.fund(scam, {"bob": 10**12}, book.market)
    # bob sells 1,000,000 SCAM (worthless) for 50 USD.
    scam_offer = book.offer("bob", 10**8, scam, 50 * 10**6, book.usd)
    proxy = PairSwapProxy(
        book.world.chain.url,
        book.market,
        want=(book.bnd.address, book.usd.address),
        instead=(scam.address, book.usd.address),
    )
    try:
        strategy = Taker(TakerParams(edge_bps=100, budget_quote=50 * 10**6, budget_base=0))
        rig = make_rig(book, "alice", strategy, rpc_url=proxy.url)
        before = book.balance(book.usd, "alice")
        report = rig.tick()
        after = book.balance(book.usd, "alice")
    finally:
        proxy.close()
    got = book.balance(scam, "alice")
    assert proxy.rewritten > 0 and report.execution.taken == []
    assert got == 0 and after == before, (scam_offer, after - before, got)
