"""Feed settings as they appear in a bot config (`[feed]`, `[[fallback_feeds]]`), and the
feeds they build.

Kept apart from the feeds themselves: this is the user-facing contract (field names, what is
accepted, one error line per problem) and changes for different reasons than the I/O code.
Parsing is lax on purpose: `OTCMM_FEED__*` environment overrides arrive as strings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from bots.errors import ConfigError
from bots.feeds.pricefile import positive_price
from bots.feeds.sources import (
    BookFeed,
    BookSource,
    Clock,
    CsvFeed,
    FeedError,
    GbmFeed,
    HttpFeed,
    PriceFeed,
    StaticFeed,
)
from strategies.money import Token


def _as_written(value: object) -> object:
    """TOML reads ``1.25`` as a float whose repr is what the user wrote; take the price from it.

    A finite positive number must also be sane (`positive_price`: 1e-30 .. 1e31, at most 60
    digits); zero, negatives and non-finite values are left to the field's own checks."""
    price: Decimal | None = None
    try:
        if isinstance(value, Decimal):
            price = value
        elif isinstance(value, float | str):
            price = Decimal(repr(value) if isinstance(value, float) else value.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            price = Decimal(value)
    except InvalidOperation:
        pass
    if price is None:
        raise ValueError('must be a number, such as "1.25"')
    if price.is_finite() and price > 0:
        return positive_price(price)
    return price


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return url


PositivePrice = Annotated[Decimal, BeforeValidator(_as_written), Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Spec(BaseModel):
    """Lax parsing on purpose: `OTCMM_FEED__*` environment overrides arrive as strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticSpec(_Spec):
    kind: Literal["static"]
    price: PositivePrice = Field(description="Quote tokens per whole base token.")


class CsvSpec(_Spec):
    kind: Literal["csv"]
    path: Path = Field(strict=False, description="A file of timestamp,price rows.")
    loop: bool = Field(default=False, description="Start over when the rows run out.")


class HttpSpec(_Spec):
    kind: Literal["http"]
    url: Annotated[str, AfterValidator(_http_url)] = Field(
        repr=False, description="May hold an API key in its query string: never logged."
    )
    field: str = Field(min_length=1, description="Dotted path to the price, e.g. data.0.price.")
    timestamp_field: str | None = Field(default=None, description="Path to the source's time.")
    timeout_s: Finite = Field(default=5.0, gt=0, le=600)


class GbmSpec(_Spec):
    kind: Literal["gbm"]
    start: PositivePrice
    drift: Finite = Field(default=0.0, ge=-100, le=100, description="Annualised drift.")
    volatility: Finite = Field(default=0.2, ge=0, le=100, description="Annualised volatility.")
    step_s: Finite = Field(default=5.0, gt=0, le=86_400, description="Simulated seconds per read.")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


class BookSpec(_Spec):
    kind: Literal["book"]


FeedSpec = Annotated[
    StaticSpec | CsvSpec | HttpSpec | GbmSpec | BookSpec, Field(discriminator="kind")
]
_FEED_SPEC: TypeAdapter[FeedSpec] = TypeAdapter(FeedSpec)


def feed_from_spec(
    spec: FeedSpec, *, base: Token, quote: Token, book: BookSource, clock: Clock = time.time
) -> PriceFeed:
    """Build a validated spec's feed; a bad CSV file is a :class:`ConfigError`, as is a bad spec."""
    match spec:
        case StaticSpec():
            return StaticFeed(spec.price, clock=clock)
        case CsvSpec():
            try:
                return CsvFeed(spec.path, loop=spec.loop, clock=clock)
            except FeedError as exc:
                raise ConfigError(str(exc)) from None
        case HttpSpec():
            return HttpFeed(
                spec.url,
                spec.field,
                timeout_s=spec.timeout_s,
                timestamp_path=spec.timestamp_field,
                clock=clock,
            )
        case GbmSpec():
            return GbmFeed(spec.start, **spec.model_dump(exclude={"kind", "start"}), clock=clock)
        case BookSpec():
            return BookFeed(book, base, quote, clock=clock)


def build_feed(
    spec: Mapping[str, Any],
    *,
    base: Token,
    quote: Token,
    book: BookSource,
    clock: Clock = time.time,
) -> PriceFeed:
    """Validate a feed table from the bot's config and build it.

    Raises :class:`ConfigError` with one line per problem, such as
    ``feed.price: Input should be greater than 0``.
    """
    try:
        model = _FEED_SPEC.validate_python(dict(spec))
    except ValidationError as exc:
        raise ConfigError("\n".join(_problem(error) for error in exc.errors())) from None
    return feed_from_spec(model, base=base, quote=quote, book=book, clock=clock)


def _problem(error: ErrorDetails) -> str:
    # A discriminated union puts the kind first in ``loc``; a bad kind has no loc at all.
    loc = error["loc"][1:] if error["loc"] else ("kind",)
    message = error["msg"]
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] == "union_tag_not_found":
        message = "Field required"
    return f"{'.'.join(['feed', *map(str, loc)])}: {message}"
