"""The strategy contract: a typed snapshot in, a desired set of quotes and takes out.

Strategies are pure. Everything they may look at (prices, balances, the clock, a random seed)
arrives in the :class:`Snapshot`; everything they want done leaves in the :class:`Decision`.
The bot reconciles the desired quotes against the live offers and only then touches the chain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from strategies.money import (
    PRICE_TOLERANCE,
    Token,
    ask_amounts,
    bid_amounts,
    fit_ask,
    fit_bid,
    offer_price,
)

Side = Literal["bid", "ask"]
TAKE_MARGIN_S = 30  # seconds a guarded offer must stay takable after the snapshot to be taken


class StrategyError(Exception):
    """Root of the errors strategies raise (the bots map them into their own hierarchy)."""


class StrategyConfigError(StrategyError, ValueError):
    """A strategy name or its params are invalid; the message is ready to show a user."""


class DustQuote(StrategyError, ValueError):
    """No size up to the one asked for makes an offer priced within the tolerance
    (:data:`strategies.money.PRICE_TOLERANCE`): the amounts would be dust at this price."""


@dataclass(frozen=True, slots=True)
class LiveOffer:
    """An offer on the market, as read from chain. Amounts are base units of its own tokens.

    ``pay_amt``/``buy_amt`` are the original rate; ``remaining`` is the pay token still escrowed
    and ``remaining_buy`` its cost at that rate; ``timestamp`` is the chain time it was made
    (unix seconds). ``guarded`` offers (made by ``requoteUntil``) cannot be taken after their
    maker's dead-man's switch deadline, which ``deadline`` holds (unix seconds; 0 when the offer
    is unguarded or its maker's switch is off, so 0 always means "no deadline").
    """

    id: int
    owner: str
    pay_token: str
    buy_token: str
    pay_amt: int
    buy_amt: int
    remaining: int
    remaining_buy: int
    timestamp: int = 0
    deadline: int = 0
    guarded: bool = False

    def takable_at(self, timestamp: int) -> bool:
        """Whether a block at ``timestamp`` (unix seconds) may take this offer: the market
        refuses a guarded offer only when ``timestamp`` is past its non-zero ``deadline``.

        Judge a take by the block that will include it, not the one it was decided at: a
        deadline a few seconds ahead may have passed by then.
        """
        return self.deadline == 0 or timestamp <= self.deadline


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a strategy may know at one tick.

    ``bids`` pay quote for base and ``asks`` pay base for quote; both may include own and fleet
    offers. ``balances`` are free (unescrowed) base units per token address and ``escrowed`` the
    amounts locked in own live offers. Because a decision *replaces* the own offers, the budget
    for desired quotes in a token is free + escrowed (see :meth:`available`).
    """

    base: Token
    quote: Token
    reference_price: Decimal | None
    block_number: int
    timestamp: int
    own_address: str
    own_offers: tuple[LiveOffer, ...] = ()
    bids: tuple[LiveOffer, ...] = ()
    asks: tuple[LiveOffer, ...] = ()
    balances: Mapping[str, int] = field(default_factory=dict)
    escrowed: Mapping[str, int] = field(default_factory=dict)
    fleet: frozenset[str] = frozenset()
    tick: int = 0

    def free(self, token: Token) -> int:
        """Unescrowed balance of ``token``: what takes may spend."""
        return self.balances.get(token.address, 0)

    def available(self, token: Token) -> int:
        """Free plus escrowed balance of ``token``: the budget for the desired quotes."""
        return self.free(token) + self.escrowed.get(token.address, 0)

    def is_takable(self, offer: LiveOffer) -> bool:
        """True when ``offer`` is foreign and still takable ``TAKE_MARGIN_S`` after this block
        (a take lands in a later block; a guarded offer whose dead-man's switch runs out before
        that would only revert)."""
        return self.is_foreign(offer) and offer.takable_at(self.timestamp + TAKE_MARGIN_S)

    def is_foreign(self, offer: LiveOffer) -> bool:
        """True when ``offer`` belongs to neither us nor the fleet (safe to take)."""
        owner = offer.owner.lower()
        return owner != self.own_address.lower() and owner not in {a.lower() for a in self.fleet}


@dataclass(frozen=True, slots=True)
class Quote:
    """A desired maker offer, in the offer's own pay/buy tokens.

    An ask pays ``base`` and buys ``quote``; a bid pays ``quote`` and buys ``base``.
    ``keep_id`` marks a quote that restates live offer ``keep_id`` unchanged (its remaining
    amounts), so the reconciler can leave that offer alone instead of churning it.
    """

    side: Side
    pay_amt: int
    buy_amt: int
    base: Token
    quote: Token
    keep_id: int | None = None

    def __post_init__(self) -> None:
        if self.pay_amt <= 0 or self.buy_amt <= 0:
            raise ValueError(f"quote amounts must be positive: {self.pay_amt}, {self.buy_amt}")

    @classmethod
    def ask(
        cls,
        base: Token,
        quote: Token,
        size: int,
        price: Decimal | Fraction,
        tolerance: Fraction | None = PRICE_TOLERANCE,
    ) -> Quote:
        """Sell at most ``size`` base units at no less than ``price`` and no more than
        ``tolerance`` above it: ``size`` itself when rounding allows, else a little less
        (:func:`~strategies.money.fit_ask`). Raises :class:`DustQuote` when nothing fits.

        ``tolerance=None`` sells exactly ``size`` with the quote amount rounded up, however far
        above ``price`` that lands.
        """
        if tolerance is None:
            pay, buy = ask_amounts(base, quote, size, price)
            return cls("ask", pay, buy, base, quote)
        fitted = fit_ask(base, quote, size, price, tolerance)
        if fitted is None:
            raise DustQuote(_dust("ask", base, quote, size, price, tolerance))
        return cls("ask", *fitted, base, quote)

    @classmethod
    def bid(
        cls,
        base: Token,
        quote: Token,
        size: int,
        price: Decimal | Fraction,
        tolerance: Fraction | None = PRICE_TOLERANCE,
    ) -> Quote:
        """Buy at most ``size`` base units paying no more than ``price`` and no less than
        ``tolerance`` below it (:func:`~strategies.money.fit_bid`). Raises :class:`DustQuote`
        when nothing fits.

        ``tolerance=None`` buys exactly ``size`` with the quote amount rounded down, however far
        below ``price`` that lands (a ``ValueError`` when it rounds to 0).
        """
        if tolerance is None:
            pay, buy = bid_amounts(base, quote, size, price)
            return cls("bid", pay, buy, base, quote)
        fitted = fit_bid(base, quote, size, price, tolerance)
        if fitted is None:
            raise DustQuote(_dust("bid", base, quote, size, price, tolerance))
        return cls("bid", *fitted, base, quote)

    @property
    def pay_token(self) -> str:
        return (self.base if self.side == "ask" else self.quote).address

    @property
    def buy_token(self) -> str:
        return (self.quote if self.side == "ask" else self.base).address

    @property
    def base_amt(self) -> int:
        return self.pay_amt if self.side == "ask" else self.buy_amt

    @property
    def price(self) -> Fraction:
        """Exact quote-per-base price in whole tokens."""
        quote_amt = self.buy_amt if self.side == "ask" else self.pay_amt
        return offer_price(self.base, self.quote, self.base_amt, quote_amt)


def _dust(
    side: Side, base: Token, quote: Token, size: int, price: Decimal | Fraction, tol: Fraction
) -> str:
    exact = Fraction(price)
    shown = Decimal(exact.numerator) / Decimal(exact.denominator)
    return (
        f"{side} of {size} {base.symbol} base units at {shown:.8g} {quote.symbol}"
        f" cannot be priced within {float(tol * 10_000):g} bp: the amounts are too small"
    )


@dataclass(frozen=True, slots=True)
class Take:
    """Buy ``quantity`` of offer ``offer_id``'s pay token, spending ``expected_spend`` of its
    buy token (exactly ``ceil(quantity * buy_amt / pay_amt)``)."""

    offer_id: int
    quantity: int
    expected_spend: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The desired own quotes (replacing all current ones) and the takes to send this tick."""

    quotes: tuple[Quote, ...] = ()
    takes: tuple[Take, ...] = ()
    reason: str | None = None


P = TypeVar("P", bound=BaseModel)


class Strategy(ABC, Generic[P]):
    """Base class: subclasses set ``name`` and ``Params`` and implement :meth:`decide`.

    ``Params`` is a frozen pydantic model with ``extra="forbid"``; the registry validates user
    config with it before a strategy is built, so ``decide`` can trust ``self.params``.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]

    def __init__(self, params: P) -> None:
        self.params = params

    @abstractmethod
    def decide(self, snapshot: Snapshot) -> Decision:
        """Desired quotes and takes for ``snapshot``; must be deterministic and side-effect free."""


NO_REFERENCE = Decision(reason="no reference price")
"""What every strategy returns when the price feed is stale: no quotes (so all are pulled)."""
