"""Reading OtcMarket for anyone: the paginated views, a bot's one-batch reads, the logs.

Amounts are integers in base units end to end. The chain is the source of truth: the book and
a bot's own offers are loaded from the market's paginated views (a handful of `eth_call`s
however many offers were ever made) and kept current from `LogMake`/`LogTake`/`LogKill` logs
between loads (plus `LogDeadline`/`LogGuard` for the dead-man's switch): see `PairBook`. The
hot reads go straight through the provider (`bots.chain.rpc.raw_batch`) and are decoded by
eth_abi: web3's formatting costs more CPU than a read of a local node.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import structlog
from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError, InsufficientDataBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier
from web3.utils import get_abi_output_types

from bots.addresses import checksum
from bots.artifacts import load_artifact
from bots.chain.rawrpc import raw_batch_answers, raw_request, raw_result
from bots.errors import ChainError
from bots.market.events import (
    SWITCH_LOGS,
    TRADE_LOGS,
    MarketEvent,
    RawLogDecoder,
    SwitchEvent,
)
from strategies.api import LiveOffer as Offer

log = structlog.get_logger("otcmm.market")

Block = BlockIdentifier
PAGE_SIZE = 200  # offers per eth_call: ~11 words each, well inside any node's call gas cap

_ERC20_ABI = load_artifact("AssetToken").abi


def offer_from_view(view: Sequence[Any]) -> Offer:
    """An `OfferView` tuple returned by the market's views, as a typed offer."""
    return Offer(
        id=int(view[0]),
        owner=checksum(view[1]),
        pay_token=checksum(view[2]),
        buy_token=checksum(view[3]),
        pay_amt=int(view[4]),
        buy_amt=int(view[5]),
        remaining=int(view[6]),
        remaining_buy=int(view[7]),
        timestamp=int(view[8]),
        deadline=int(view[9]),
        guarded=bool(view[10]),
    )


class PairView(NamedTuple):
    """One pair's book and one account on it, read at one block (`MarketClient.pair_view`)."""

    bids: list[Offer]  # pay quote for base
    asks: list[Offer]  # pay base for quote
    balances: dict[str, int]  # free base units per token address
    native_wei: int  # gas money
    nonce: int  # transactions the account has mined by that block
    fee_suggestion: int | None = None  # the node's tip (or legacy gas price), when asked
    extra: tuple[Any, ...] = ()  # the whole answers to the caller's extra calls, in order


class AccountView(NamedTuple):
    """One account's side of a tick's read (`MarketClient.account_view`)."""

    balances: dict[str, int]  # free base units per token address
    native_wei: int
    nonce: int
    fee_suggestion: int | None
    logs: list[dict[str, Any]]  # the market's raw logs since the last read
    extra: tuple[Any, ...] = ()  # the whole answers to the caller's extra calls, in order


class MarketReader:
    """Reads the market and its tokens for anyone (no account)."""

    def __init__(self, w3: Web3, market_address: str) -> None:
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(
            address=checksum(market_address),
            abi=load_artifact("OtcMarket").abi,
        )
        self.market_address = self.contract.address
        self._tokens: dict[str, Contract] = {}
        self._encoded: dict[tuple[str, str, tuple[Any, ...]], tuple[str, list[str]]] = {}
        self._raw_logs: RawLogDecoder | None = None

    # ------------------------------------------------------------------ reading
    def pair_offers(self, pay_token: str, buy_token: str, block: Block = "latest") -> list[Offer]:
        """All active offers selling `pay_token` for `buy_token`, in id order."""
        args = (checksum(pay_token), checksum(buy_token))
        return in_pair(self._pages("getPairOffers", args, block), *args)

    def owner_offers(self, owner: str, block: Block = "latest") -> list[Offer]:
        """All active offers of `owner`, in id order."""
        return list(self._pages("getOwnerOffers", (checksum(owner),), block))

    def all_offers(self, block: Block = "latest") -> list[Offer]:
        return list(self._pages("getOffers", (), block))

    def book(
        self, base: str, quote: str, block: Block = "latest"
    ) -> tuple[list[Offer], list[Offer]]:
        """(bids, asks) of a market: bids sell quote for base, asks sell base for quote."""
        return self.pair_offers(quote, base, block), self.pair_offers(base, quote, block)

    def _pages(
        self, view: str, args: tuple[Any, ...], block: Block, start: int = 0
    ) -> Iterator[Offer]:
        """Every page read at the same block, so a long book is one consistent picture."""
        cursor = start
        while True:
            page, cursor = self._call(self.contract, view, (*args, cursor, PAGE_SIZE), block)
            yield from (offer_from_view(view) for view in page)
            if cursor == 0:
                return

    def offer(self, offer_id: int) -> Offer | None:
        view = self.contract.functions.offerInfo(offer_id).call()
        return offer_from_view(view) if int(view[1], 16) != 0 else None

    def spend_for(self, offer_id: int, quantity: int) -> int:
        return int(self.contract.functions.spendFor(offer_id, quantity).call())

    def deadline_of(self, maker: str, block: Block = "latest") -> int:
        """`maker`'s dead-man's switch deadline (unix seconds; 0 when off)."""
        (deadline,) = self._call(self.contract, "deadlineOf", (checksum(maker),), block)
        return int(deadline)

    def is_takable(self, offer_id: int, block: Block = "latest") -> bool:
        """Whether `buy` would accept offer `offer_id` at `block`: active and not expired."""
        return bool(self.contract.functions.isTakable(offer_id).call(block_identifier=block))

    def token(self, address: str) -> Contract:
        """The ERC20 at `address`, built once: building a contract object costs more CPU than
        the eth_call made through it."""
        contract = self._tokens.get(address)
        if contract is None:
            checksummed = checksum(address)
            contract = self.w3.eth.contract(address=checksummed, abi=_ERC20_ABI)
            self._tokens[address] = contract
        return contract

    def balance_of(self, token: str, owner: str, block: Block = "latest") -> int:
        (balance,) = self._call(self.token(token), "balanceOf", (owner,), block)
        return int(balance)

    def pair_view(
        self,
        base: str,
        quote: str,
        owner: str,
        block: int,
        *,
        fee_method: str | None = None,
        extra: Sequence[tuple[str, list[Any]]] = (),
    ) -> PairView:
        """The book of a pair and `owner`'s account on it, all read at `block`.

        The first book pages, both token balances, the gas money, the account's nonce and, with
        `fee_method` (`eth_maxPriorityFeePerGas` or `eth_gasPrice`), the node's fee suggestion go
        out as one JSON-RPC batch straight through the provider: one round trip, no web3
        formatting. Books longer than a page read on, page by page. `extra` calls ride in the
        same batch; their whole answers come back in `PairView.extra` (an error answer there is
        the caller's to read). Raises `ChainError` when the market answers no data (no contract
        there, or not an OtcMarket).
        """
        owner, at = checksum(owner), hex(block)
        base, quote = checksum(base), checksum(quote)
        pages = [
            (pay, buy, self._prepare(self.contract, "getPairOffers", (pay, buy, 0, PAGE_SIZE)))
            for pay, buy in ((quote, base), (base, quote))
        ]
        calls: list[tuple[str, list[Any]]] = [
            ("eth_call", [{"to": self.market_address, "data": data}, at])
            for _, _, (data, _) in pages
        ]
        account, types = self._account_calls(base, quote, owner, at)
        calls += account
        if fee_method is not None:
            calls.append((fee_method, []))
        answered, extras = self._batch(calls, extra)
        results = iter(answered)
        sides = []
        for pay, buy, (_, page_types) in pages:
            page, cursor = self._decode(page_types, next(results), self.market_address)
            offers = [offer_from_view(view) for view in page]
            if cursor:
                offers += self._pages("getPairOffers", (pay, buy), block, start=int(cursor))
            sides.append(in_pair(offers, pay, buy))
        balances, native_wei, mined = self._account_answers(results, base, quote, types)
        suggestion = int(next(results), 16) if fee_method is not None else None
        return PairView(sides[0], sides[1], balances, native_wei, mined, suggestion, extras)

    def account_view(
        self,
        base: str,
        quote: str,
        owner: str,
        block: int,
        *,
        fee_method: str | None = None,
        logs_from: int | None = None,
        extra: Sequence[tuple[str, list[Any]]] = (),
    ) -> AccountView:
        """`owner`'s balances, gas money and nonce at `block`, the node's fee suggestion, and
        the market's raw logs of blocks `logs_from..block` (None: no logs): one raw batch, a
        bot's whole read of a tick when it keeps its book from the logs (`PairBook`). `extra`
        calls ride along as in `pair_view`."""
        owner, at = checksum(owner), hex(block)
        calls, types = self._account_calls(base, quote, owner, at)
        if logs_from is not None:
            query = {"address": self.market_address, "fromBlock": hex(logs_from), "toBlock": at}
            calls.append(("eth_getLogs", [query]))
        if fee_method is not None:
            calls.append((fee_method, []))
        answered, extras = self._batch(calls, extra)
        results = iter(answered)
        balances, native, nonce = self._account_answers(results, base, quote, types)
        logs = list(next(results)) if logs_from is not None else []
        suggestion = int(next(results), 16) if fee_method is not None else None
        return AccountView(balances, native, nonce, suggestion, logs, extras)

    def _account_calls(
        self, base: str, quote: str, owner: str, at: str
    ) -> tuple[list[tuple[str, list[Any]]], list[list[str]]]:
        """The batch calls of an account's read at block `at` (both token balances, the gas
        money, the nonce) and the output types of the two balance calls."""
        reads = [self._prepare(self.token(t), "balanceOf", (owner,)) for t in (base, quote)]
        calls: list[tuple[str, list[Any]]] = [
            ("eth_call", [{"to": checksum(t), "data": data}, at])
            for t, (data, _) in zip((base, quote), reads, strict=True)
        ]
        calls += [("eth_getBalance", [owner, at]), ("eth_getTransactionCount", [owner, at])]
        return calls, [types for _, types in reads]

    def _account_answers(
        self, results: Iterator[Any], base: str, quote: str, types: list[list[str]]
    ) -> tuple[dict[str, int], int, int]:
        """The answers to `_account_calls`, taken from `results` in order: (balances by
        checksummed token, gas money in wei, nonce)."""
        balances: dict[str, int] = {
            checksum(t): int(self._decode(kinds, next(results), t)[0])
            for t, kinds in zip((base, quote), types, strict=True)
        }
        native, nonce = int(next(results), 16), int(next(results), 16)
        return balances, native, nonce

    def _batch(
        self, calls: list[tuple[str, list[Any]]], extra: Sequence[tuple[str, list[Any]]]
    ) -> tuple[list[Any], tuple[Any, ...]]:
        """One batch of `calls` and `extra`: the results of `calls` (`ChainError` for an error
        answer) and the whole answers to `extra`."""
        answers = raw_batch_answers(self.w3, [*calls, *extra])
        results = [raw_result(m, a) for (m, _), a in zip(calls, answers, strict=False)]
        return results, tuple(answers[len(calls) :])

    @staticmethod
    def _decode(types: list[str], data: str, address: str) -> Any:
        raw = bytes.fromhex(data.removeprefix("0x"))
        try:
            return decode(types, raw)
        except (DecodingError, InsufficientDataBytes):
            raise ChainError(
                f"the contract at {address} answered {len(raw)} bytes where {types} was "
                "expected: is the address right (and the chain the right one)?"
            ) from None

    def _prepare(
        self, contract: Contract, name: str, args: tuple[Any, ...]
    ) -> tuple[str, list[str]]:
        key = (contract.address, name, args)
        cached = self._encoded.get(key)
        if cached is None:
            fn = contract.get_function_by_name(name)(*args)
            cached = (fn._encode_transaction_data(), get_abi_output_types(fn.abi))
            self._encoded[key] = cached
        return cached

    def _call(self, contract: Contract, name: str, args: tuple[Any, ...], block: Block) -> Any:
        """An `eth_call` whose calldata is encoded once per (contract, function, arguments) and
        whose result eth_abi decodes directly: web3's contract-call layer costs more CPU than
        the call itself, and a bot repeats the same reads every tick."""
        data, types = self._prepare(contract, name, args)
        at = hex(block) if isinstance(block, int) else str(block)
        result = raw_request(self.w3, "eth_call", [{"to": contract.address, "data": data}, at])
        return self._decode(types, result, contract.address)

    # ------------------------------------------------------------------ logs
    def events(self, from_block: int, to_block: int | str = "latest") -> list[MarketEvent]:
        """Market events in `[from_block, to_block]`, in chain order."""
        logs = self._logs(list(TRADE_LOGS.values()), from_block, to_block)
        return [e for e in logs if isinstance(e, MarketEvent)]

    def switch_events(self, from_block: int, to_block: int | str = "latest") -> list[SwitchEvent]:
        """Dead-man's switch events (`LogDeadline`, `LogGuard`) in `[from_block, to_block]`, in
        chain order; merge them with `events` to follow guarded offers (`book.apply_events`)."""
        logs = self._logs(list(SWITCH_LOGS.values()), from_block, to_block)
        return [e for e in logs if isinstance(e, SwitchEvent)]

    def _logs(
        self, names: list[str], from_block: int, to_block: int | str
    ) -> list[MarketEvent | SwitchEvent]:
        """One raw `eth_getLogs` for the events `names`, decoded by eth_abi (`RawLogDecoder`):
        web3's event filters decode each log through its whole formatting stack."""
        decoder = self._log_decoder()
        topics = [decoder.topic(name) for name in names]
        end = hex(to_block) if isinstance(to_block, int) else to_block
        query = {"address": self.market_address, "fromBlock": hex(from_block), "toBlock": end}
        logs = raw_request(self.w3, "eth_getLogs", [{**query, "topics": [topics]}])
        return decoder.decode(list(logs))

    def _log_decoder(self) -> RawLogDecoder:
        if self._raw_logs is None:
            self._raw_logs = RawLogDecoder([dict(item) for item in self.contract.abi])
        return self._raw_logs


def in_pair(offers: Iterable[Offer], pay_token: str, buy_token: str) -> list[Offer]:
    """The offers that sell `pay_token` for `buy_token` (checksummed); any other is dropped
    with a warning. The contract never pages another pair's offers, so one here is a node's
    lie: a taker bounded by such an offer's own tokens would buy what it did not ask for."""
    kept: list[Offer] = []
    dropped: list[Offer] = []
    for offer in offers:
        same = offer.pay_token == pay_token and offer.buy_token == buy_token
        (kept if same else dropped).append(offer)
    if dropped:
        log.warning(
            "the node answered offers of another pair: dropped (is it to be trusted?)",
            asked=f"{pay_token}/{buy_token}",
            offers=[o.id for o in dropped[:5]],
            count=len(dropped),
        )
    return kept


def escrowed(offers: Iterable[Offer]) -> dict[str, int]:
    """What `offers` lock up in escrow, per pay token (base units)."""
    totals: defaultdict[str, int] = defaultdict(int)
    for offer in offers:
        totals[offer.pay_token] += offer.remaining
    return dict(totals)
