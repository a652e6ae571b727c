"""Trading on OtcMarket for one account: make, take, cancel, re-quote, the dead-man's switch.

Every operation goes out through the account's `Transactor` with a gas limit that survives a
same-block race (`bots.market.gas`), or with fixed upper bounds where the tokens are known to
be plain ERC20s (`fixed_gas`, a backtest). Calldata is encoded by eth_abi from cached selectors.
Reading is `MarketReader`'s, which this client is too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from eth_abi.abi import encode
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt
from web3.utils import get_abi_input_types

from bots.addresses import checksum
from bots.chain.transactor import Transactor
from bots.errors import ChainError
from bots.market.gas import (
    SET_DEADLINE,
    TAKE,
    TAKE_HEADROOM,
    TX_BASE,
    race_headroom,
    requote_gas,
)
from bots.market.reader import (
    PAGE_SIZE,
    AccountView,
    MarketReader,
    PairView,
    escrowed,
    offer_from_view,
)

__all__ = [
    "MAX_UINT",
    "PAGE_SIZE",
    "AccountView",
    "MarketClient",
    "PairView",
    "escrowed",
    "killed_offer_ids",
    "made_offer_ids",
    "offer_from_view",
]

MAX_UINT = 2**256 - 1


class MarketClient(MarketReader):
    """Reads the market for anyone; trades for the account of `transactor` when given."""

    def __init__(
        self,
        w3: Web3,
        market_address: str,
        transactor: Transactor | None = None,
        *,
        fixed_gas: bool = False,
    ) -> None:
        """`fixed_gas`: send the market's own operations with the upper bounds of
        `bots.market.gas` as limits instead of asking the node for an estimate (one round trip
        less per transaction; right where the tokens are known to be plain ERC20s, as in a
        backtest; an estimate also refuses a transaction that would revert before it is sent)."""
        super().__init__(w3, market_address)
        self.fixed_gas = fixed_gas
        self._tx = transactor
        self._functions: dict[str, tuple[bytes, list[str]]] = {}

    # ------------------------------------------------------------------ trading
    @property
    def transactor(self) -> Transactor:
        if self._tx is None:
            raise ChainError("this market client is read-only: it has no signing account")
        return self._tx

    def make(self, pay_amt: int, pay_token: str, buy_amt: int, buy_token: str) -> int:
        """Escrow `pay_amt` and offer it for `buy_amt`; return the new offer's id."""
        data = self._calldata("offer", pay_amt, pay_token, buy_amt, buy_token)
        headroom = race_headroom(0, {(pay_token, buy_token): 1})
        receipt = self._send("offer", data, headroom, requote_gas(0, 1))
        return made_offer_ids(self.contract, receipt)[0]

    def take(
        self, offer_id: int, quantity: int, pay_token: str, buy_token: str, max_spend: int
    ) -> TxReceipt:
        """Buy `quantity` (base units of `pay_token`) of offer `offer_id`, paying at most
        `max_spend` base units of `buy_token`: the market's `buyWithin`, so an offer that is not
        what the book read said (another pair, a dearer price: a node that lied, or a book
        gone stale) reverts (`OfferPairMismatch`, `SpendAboveLimit`) before anything moves."""
        data = self._calldata(
            "buyWithin", offer_id, quantity, checksum(pay_token), checksum(buy_token), max_spend
        )
        return self._send("buy", data, TAKE_HEADROOM, TX_BASE + TAKE)

    def cancel(self, offer_id: int) -> TxReceipt:
        data = self._calldata("cancel", offer_id)
        return self._send("cancel", data, race_headroom(1, {}), requote_gas(1, 0))

    def requote(
        self,
        cancels: Iterable[tuple[int, int]],
        offers: Iterable[tuple[int, str, int, str]],
    ) -> list[int]:
        """Atomically cancel `(id, expected_remaining)` pairs and make `(pay, payToken, buy,
        buyToken)` offers; return the new ids. Reverts as a whole if any cancelled offer no
        longer has its expected remaining amount."""
        cancels, offers = list(cancels), list(offers)
        data = self._calldata("requote", cancels, offers)
        bound = requote_gas(len(cancels), len(offers))
        receipt = self._send("requote", data, _requote_headroom(cancels, offers), bound)
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
        data = self._calldata("requoteUntil", cancels, offers, _deadline(deadline))
        bound = requote_gas(len(cancels), len(offers)) + SET_DEADLINE
        receipt = self._send("requoteUntil", data, _requote_headroom(cancels, offers), bound)
        return made_offer_ids(self.contract, receipt)

    def set_deadline(self, deadline: int) -> TxReceipt:
        """Set or refresh the switch's deadline (unix seconds; 0 switches it off; one in the
        past makes every guarded offer untakable at once). Raises `ValueError` outside uint256.
        """
        data = self._calldata("setDeadline", _deadline(deadline))
        return self._send("setDeadline", data, 0, TX_BASE + SET_DEADLINE)

    def _send(self, label: str, data: str, headroom: int, bound: int) -> TxReceipt:
        """Send a market operation: estimate + 25% + `headroom`, or `bound` with `fixed_gas`."""
        to = self.market_address
        if self.fixed_gas:
            return self.transactor.transact_data(to, data, label=label, gas=bound)
        return self.transactor.transact_data(to, data, label=label, headroom=headroom)

    def _calldata(self, name: str, *args: Any) -> str:
        """Calldata of one of the market's functions, encoded by eth_abi straight from the
        cached selector and input types (web3's contract-function layer validates and formats
        far more than these known calls need; eth_abi still refuses out-of-range values)."""
        spec = self._functions.get(name)
        if spec is None:
            abi = next(f for f in self.contract.abi if f.get("name") == name)
            spec = (function_abi_to_4byte_selector(abi), get_abi_input_types(abi))
            self._functions[name] = spec
        selector, types = spec
        return "0x" + (selector + encode(types, args)).hex()


def made_offer_ids(market: Contract, receipt: TxReceipt) -> list[int]:
    """Ids of the offers a transaction made, from the market's own `LogMake` logs, in order."""
    return logged_offer_ids(market, receipt, "LogMake")


def killed_offer_ids(market: Contract, receipt: TxReceipt) -> list[int]:
    """Ids of the offers a transaction cancelled, from the market's own `LogKill` logs, in order
    (a conditional cancel that found its offer changed is skipped and logs nothing)."""
    return logged_offer_ids(market, receipt, "LogKill")


def logged_offer_ids(market: Contract, receipt: TxReceipt, event: str) -> list[int]:
    """Offer ids of the market's own `event` logs (`LogMake`, `LogKill`) in `receipt`, in order.

    Both events have the offer id as their first indexed argument, so the id is the log's second
    topic: read straight from the receipt (web3's event decoding costs more than the whole
    send). Raises `ChainError` if the market's ABI says otherwise.
    """
    topic = _log_topic(market, event)
    address = market.address.lower()
    return [
        int.from_bytes(bytes(log["topics"][1]), "big")
        for log in receipt["logs"]
        if str(log["address"]).lower() == address
        and len(log["topics"]) > 1
        and bytes(log["topics"][0]) == topic
    ]


def _log_topic(market: Contract, name: str) -> bytes:
    """The topic of the market's event `name`, computed once per ABI (a settle reads two)."""
    key = (id(market.abi), name)
    cached = _TOPICS.get(key)
    if cached is None:  # the ABI is kept with its topic: its id cannot be reused meanwhile
        cached = _TOPICS[key] = (market.abi, _compute_topic(market, name))
    return cached[1]


_TOPICS: dict[tuple[int, str], tuple[object, bytes]] = {}


def _compute_topic(market: Contract, name: str) -> bytes:
    abi: list[dict[str, Any]] = [dict(item) for item in market.abi]
    event = next(e for e in abi if e.get("type") == "event" and e.get("name") == name)
    inputs = event["inputs"]
    if not inputs or inputs[0]["name"] != "id" or not inputs[0]["indexed"]:
        raise ChainError(f"the market's {name} does not start with an indexed offer id")
    return keccak(text=f"{name}({','.join(i['type'] for i in inputs)})")


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
