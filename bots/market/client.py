"""Typed client for OtcMarket and its ERC20 tokens.

Amounts are integers in base units end to end. The chain is the source of truth: the book and
a bot's own offers are always loaded from the market's paginated views (a handful of
`eth_call`s however many offers were ever made) and kept current from `LogMake`/`LogTake`/
`LogKill` logs between loads (plus `LogDeadline`/`LogGuard` for the dead-man's switch).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from eth_abi.abi import decode
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import BlockIdentifier, TxReceipt
from web3.utils import get_abi_output_types

from bots.artifacts import load_artifact
from bots.chain.transactor import Transactor
from bots.errors import ChainError
from bots.market.events import (
    SWITCH_LOGS,
    TRADE_LOGS,
    MarketEvent,
    SwitchEvent,
    chain_order,
    switch_event,
    trade_event,
)
from bots.market.gas import TAKE_HEADROOM, race_headroom
from strategies.api import LiveOffer as Offer

Block = BlockIdentifier
MAX_UINT = 2**256 - 1
PAGE_SIZE = 200  # offers per eth_call: ~11 words each, well inside any node's call gas cap

_ERC20_ABI = load_artifact("AssetToken").abi


def offer_from_view(view: Sequence[Any]) -> Offer:
    """An `OfferView` tuple returned by the market's views, as a typed offer."""
    return Offer(
        id=int(view[0]),
        owner=Web3.to_checksum_address(view[1]),
        pay_token=Web3.to_checksum_address(view[2]),
        buy_token=Web3.to_checksum_address(view[3]),
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


class MarketClient:
    """Reads the market for anyone; trades for the account of `transactor` when given."""

    def __init__(self, w3: Web3, market_address: str, transactor: Transactor | None = None):
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(market_address),
            abi=load_artifact("OtcMarket").abi,
        )
        self.market_address = self.contract.address
        self._tx = transactor
        self._tokens: dict[str, Contract] = {}
        self._encoded: dict[tuple[str, str, tuple[Any, ...]], tuple[str, list[str]]] = {}

    # ------------------------------------------------------------------ reading
    def pair_offers(self, pay_token: str, buy_token: str, block: Block = "latest") -> list[Offer]:
        """All active offers selling `pay_token` for `buy_token`, in id order."""
        args = (Web3.to_checksum_address(pay_token), Web3.to_checksum_address(buy_token))
        return list(self._pages("getPairOffers", args, block))

    def owner_offers(self, owner: str, block: Block = "latest") -> list[Offer]:
        """All active offers of `owner`, in id order."""
        return list(self._pages("getOwnerOffers", (Web3.to_checksum_address(owner),), block))

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
        (deadline,) = self._call(self.contract, "deadlineOf", (_address(maker),), block)
        return int(deadline)

    def is_takable(self, offer_id: int, block: Block = "latest") -> bool:
        """Whether `buy` would accept offer `offer_id` at `block`: active and not expired."""
        return bool(self.contract.functions.isTakable(offer_id).call(block_identifier=block))

    def token(self, address: str) -> Contract:
        """The ERC20 at `address`, built once: building a contract object costs more CPU than
        the eth_call made through it."""
        contract = self._tokens.get(address)
        if contract is None:
            checksummed = Web3.to_checksum_address(address)
            contract = self.w3.eth.contract(address=checksummed, abi=_ERC20_ABI)
            self._tokens[address] = contract
        return contract

    def balance_of(self, token: str, owner: str, block: Block = "latest") -> int:
        (balance,) = self._call(self.token(token), "balanceOf", (owner,), block)
        return int(balance)

    def pair_view(self, base: str, quote: str, owner: str, block: int) -> PairView:
        """The book of a pair and `owner`'s account on it, all read at `block`.

        The first book pages, both token balances, the gas money and the account's nonce go out
        as one JSON-RPC batch: one round trip instead of six, every tick. Books longer than a
        page read on, page by page.
        """
        owner = Web3.to_checksum_address(owner)
        base, quote = Web3.to_checksum_address(base), Web3.to_checksum_address(quote)
        reads = [
            (self.contract, "getPairOffers", (quote, base, 0, PAGE_SIZE)),
            (self.contract, "getPairOffers", (base, quote, 0, PAGE_SIZE)),
            (self.token(base), "balanceOf", (owner,)),
            (self.token(quote), "balanceOf", (owner,)),
        ]
        prepared = [self._prepare(contract, name, args) for contract, name, args in reads]
        with self.w3.batch_requests() as batch:
            for (contract, _, _), (data, _) in zip(reads, prepared, strict=True):
                call = {"to": contract.address, "data": data}
                batch.add(self.w3.eth.call(call, block))  # type: ignore[arg-type]
            batch.add(self.w3.eth.get_balance(owner, block))
            batch.add(self.w3.eth.get_transaction_count(owner, block))
            results: list[Any] = list(batch.execute())  # formatted results, in request order
        *raw, native, nonce = results
        decoded = [decode(types, data) for (_, types), data in zip(prepared, raw, strict=True)]
        sides = []
        for (page, cursor), (pay, buy) in zip(
            decoded[:2], ((quote, base), (base, quote)), strict=True
        ):
            offers = [offer_from_view(view) for view in page]
            if cursor:
                offers += self._pages("getPairOffers", (pay, buy), block, start=int(cursor))
            sides.append(offers)
        balances: dict[str, int] = {base: int(decoded[2][0]), quote: int(decoded[3][0])}
        return PairView(sides[0], sides[1], balances, int(native), int(nonce))

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
        raw = self.w3.eth.call({"to": contract.address, "data": data}, block)  # type: ignore[typeddict-item]
        return decode(types, raw)

    # ------------------------------------------------------------------ trading
    @property
    def transactor(self) -> Transactor:
        if self._tx is None:
            raise ChainError("this market client is read-only: it has no signing account")
        return self._tx

    def make(self, pay_amt: int, pay_token: str, buy_amt: int, buy_token: str) -> int:
        """Escrow `pay_amt` and offer it for `buy_amt`; return the new offer's id."""
        fn = self.contract.functions.offer(pay_amt, pay_token, buy_amt, buy_token)
        headroom = race_headroom(0, {(pay_token, buy_token): 1})
        receipt = self.transactor.transact(fn, headroom=headroom)
        return made_offer_ids(self.contract, receipt)[0]

    def take(self, offer_id: int, quantity: int) -> TxReceipt:
        fn = self.contract.functions.buy(offer_id, quantity)
        return self.transactor.transact(fn, headroom=TAKE_HEADROOM)

    def cancel(self, offer_id: int) -> TxReceipt:
        fn = self.contract.functions.cancel(offer_id)
        return self.transactor.transact(fn, headroom=race_headroom(1, {}))

    def requote(
        self,
        cancels: Iterable[tuple[int, int]],
        offers: Iterable[tuple[int, str, int, str]],
    ) -> list[int]:
        """Atomically cancel `(id, expected_remaining)` pairs and make `(pay, payToken, buy,
        buyToken)` offers; return the new ids. Reverts as a whole if any cancelled offer no
        longer has its expected remaining amount."""
        cancels, offers = list(cancels), list(offers)
        fn = self.contract.functions.requote(cancels, offers)
        receipt = self.transactor.transact(fn, headroom=_requote_headroom(cancels, offers))
        return made_offer_ids(self.contract, receipt)

    def requote_until(
        self,
        cancels: Iterable[tuple[int, int]],
        offers: Iterable[tuple[int, str, int, str]],
        deadline: int,
    ) -> list[int]:
        """`requote`, and set the dead-man's switch to `deadline` (unix seconds; 0: off) with
        the new offers guarded: the market refuses to let anyone take them after a non-zero
        deadline. Returns the new ids; raises `ValueError` for a deadline outside uint256."""
        cancels, offers = list(cancels), list(offers)
        fn = self.contract.functions.requoteUntil(cancels, offers, _deadline(deadline))
        receipt = self.transactor.transact(fn, headroom=_requote_headroom(cancels, offers))
        return made_offer_ids(self.contract, receipt)

    def set_deadline(self, deadline: int) -> TxReceipt:
        """Set or refresh the switch's deadline (unix seconds; 0 switches it off; one in the
        past makes every guarded offer untakable at once). Raises `ValueError` outside uint256.
        """
        fn = self.contract.functions.setDeadline(_deadline(deadline))
        return self.transactor.transact(fn)

    # ------------------------------------------------------------------ logs
    def events(self, from_block: int, to_block: int | str = "latest") -> list[MarketEvent]:
        """Market events in `[from_block, to_block]`, in chain order."""
        decoded = [
            trade_event(kind, log)
            for kind, name in TRADE_LOGS.items()
            for log in self._logs(name, from_block, to_block)
        ]
        return sorted(decoded, key=chain_order)

    def switch_events(self, from_block: int, to_block: int | str = "latest") -> list[SwitchEvent]:
        """Dead-man's switch events (`LogDeadline`, `LogGuard`) in `[from_block, to_block]`, in
        chain order; merge them with `events` to follow guarded offers (`book.apply_events`)."""
        decoded = [
            switch_event(kind, log)
            for kind, name in SWITCH_LOGS.items()
            for log in self._logs(name, from_block, to_block)
        ]
        return sorted(decoded, key=chain_order)

    def _logs(self, event: str, from_block: int, to_block: int | str) -> Any:
        return self.contract.events[event]().get_logs(from_block=from_block, to_block=to_block)


def escrowed(offers: Iterable[Offer]) -> dict[str, int]:
    """What `offers` lock up in escrow, per pay token (base units)."""
    totals: defaultdict[str, int] = defaultdict(int)
    for offer in offers:
        totals[offer.pay_token] += offer.remaining
    return dict(totals)


def made_offer_ids(market: Contract, receipt: TxReceipt) -> list[int]:
    """Ids of the offers a transaction made, from the market's own `LogMake` logs, in order."""
    events = market.events.LogMake().process_receipt(receipt, errors=DISCARD)
    return [
        int.from_bytes(event["args"]["id"], "big")
        for event in events
        if event["address"] == market.address
    ]


def _address(address: str) -> str:
    return str(Web3.to_checksum_address(address))


def _deadline(deadline: int) -> int:
    """A deadline the contract accepts (uint256 unix seconds), else `ValueError`."""
    if not 0 <= deadline < 2**256:
        raise ValueError(f"deadline must be unix seconds (0 switches it off), got {deadline}")
    return deadline


def _requote_headroom(
    cancels: list[tuple[int, int]], offers: list[tuple[int, str, int, str]]
) -> int:
    pairs = Counter((pay_token, buy_token) for _, pay_token, _, buy_token in offers)
    return race_headroom(len(cancels), dict(pairs))
