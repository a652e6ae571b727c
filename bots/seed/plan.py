"""The seed plan: which assets the initializer issues or uses, and who gets how much of what.

A TOML file an operator edits by hand, so amounts are human (whole tokens, whole ether) and are
converted here, once, into exact integer base units: an amount with more decimals than its
token has is an error naming the field, never a silent rounding. Every problem is reported, one
line each, before anything is sent.

An asset is either an AssetToken the seed job deploys and issues (`Asset`), or a token that
exists already and that the initializer holds (`ExistingAsset`, named by `address`). An existing
token's decimals may be left to the token itself: such a plan is complete only once
`bots.seed.existing.resolve_existing` has read them (`SeedPlan.with_decimals`), and the amounts
in that token are checked then.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bots.addresses import checked_address
from bots.chain.keystore import Secret, create_keystore, keystore_address
from bots.errors import ConfigError, KeystoreError
from bots.outputs import writable_dir
from bots.seed.amounts import Amount, Positive, to_units
from bots.seed.assets import ASSET_KINDS, AnyAsset, Asset, ExistingAsset
from bots.tomlfile import read_toml

NATIVE = "native"
"""The donation asset meaning the chain's own coin (ether), in wei."""
NATIVE_DECIMALS = 18
MAX_OFFER_UNITS = 2**96 - 1  # OtcMarket stores offer amounts as uint96
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Participant(_Model):
    """An account funded up to targets: gas money and token balances, never taken back."""

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    keystore: Path | None = None
    address: str | None = None
    gas: Amount = Decimal(0)
    tokens: dict[str, Amount] = Field(default_factory=dict)

    @field_validator("keystore")
    @classmethod
    def _relative_to_plan(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir")
        if value is None or value.is_absolute() or base is None:
            return value
        return Path(base) / value

    @field_validator("address")
    @classmethod
    def _checksummed(cls, value: str | None) -> str | None:
        return None if value is None else checked_address(value)

    @model_validator(mode="after")
    def _one_identity(self) -> Participant:
        if (self.keystore is None) == (self.address is None):
            raise ValueError("give exactly one of keystore or address")
        return self


class Offering(_Model):
    """An initial offer: the initializer releases `amount` of `asset` at `price` in `quote`."""

    id: Ident
    asset: str
    amount: Positive
    quote: str
    price: Positive


class Donation(_Model):
    """A one-off gift, sent once ever (its id is recorded), whatever the balances say."""

    id: Ident
    to: str
    asset: str
    amount: Positive


class SeedPlan(_Model):
    assets: list[AnyAsset] = Field(min_length=1)
    participants: list[Participant] = Field(default_factory=list)
    offerings: list[Offering] = Field(default_factory=list)
    donations: list[Donation] = Field(default_factory=list)
    _source: str = PrivateAttr(default="seed plan")

    @property
    def source(self) -> str:
        """Where the plan came from, to prefix messages: its path, or "seed plan"."""
        return self._source

    def asset(self, symbol: str) -> Asset | ExistingAsset:
        for asset in self.assets:
            if asset.symbol == symbol:
                return asset
        raise ConfigError(f"unknown asset {symbol!r}")

    def known_decimals(self, symbol: str) -> int | None:
        """Decimals of `symbol` ("native": 18); None for an existing token not read yet."""
        return NATIVE_DECIMALS if symbol == NATIVE else self.asset(symbol).decimals

    def decimals(self, symbol: str) -> int:
        """Decimals of `symbol`; `ConfigError` for an existing token whose token is not read."""
        decimals = self.known_decimals(symbol)
        if decimals is None:
            raise ConfigError(f"the decimals of {symbol} are not known until its token is read")
        return decimals

    def units(self, symbol: str, amount: Decimal) -> int:
        """`amount` of `symbol` (or "native" ether) in base units; exact (validated at load)."""
        return to_units(amount, self.decimals(symbol))

    def existing(self) -> list[tuple[int, ExistingAsset]]:
        """The existing tokens with their index in `assets` (for messages)."""
        return [(i, a) for i, a in enumerate(self.assets) if isinstance(a, ExistingAsset)]

    def with_decimals(self, decimals: Mapping[str, int]) -> SeedPlan:
        """The plan with the existing tokens' decimals filled in (by symbol), checked again.

        Raises `ConfigError`, one `source: loc: message` line per problem, for amounts that
        are inexact or too large at those decimals.
        """
        assets = [
            a.model_copy(update={"decimals": decimals[a.symbol]})
            if isinstance(a, ExistingAsset) and a.symbol in decimals
            else a
            for a in self.assets
        ]
        plan = self.model_copy(update={"assets": assets})
        _raise_problems(plan)
        return plan


def load_plan(path: Path) -> SeedPlan:
    """Read and validate a seed plan; `ConfigError` with one `path: loc: message` per problem."""
    data = read_toml(path, "seed plan")
    try:
        plan = SeedPlan.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise ConfigError("\n".join(_pydantic_lines(path, exc))) from None
    plan._source = str(path)
    _raise_problems(plan)
    return plan


def _raise_problems(plan: SeedPlan) -> None:
    problems = [f"{plan.source}: {loc}: {message}" for loc, message in _cross_check(plan)]
    if problems:
        raise ConfigError("\n".join(problems))


def _pydantic_lines(path: Path, exc: ValidationError) -> Iterator[str]:
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) > 2 and loc[0] == "assets" and loc[2] in ASSET_KINDS:
            loc = (*loc[:2], *loc[3:])  # the union's tag says nothing the message does not
        where = ".".join(str(part) for part in loc) or "(file)"
        yield f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}"


def _cross_check(plan: SeedPlan) -> Iterator[tuple[str, str]]:
    """Problems spanning entries: duplicates, unknown symbols, inexact or oversized amounts."""
    yield from _duplicates("assets", [a.symbol for a in plan.assets], "symbol")
    named: set[str] = set()
    for i, asset in plan.existing():
        if asset.address in named:
            yield f"assets.{i}.address", f"duplicate address {asset.address!r}"
        named.add(asset.address)
    yield from _duplicates("participants", [p.name for p in plan.participants], "name")
    yield from _duplicates("offerings", [o.id for o in plan.offerings], "id")
    yield from _duplicates("donations", [d.id for d in plan.donations], "id")
    symbols = {a.symbol for a in plan.assets}
    names = {p.name for p in plan.participants}
    for i, participant in enumerate(plan.participants):
        yield from _amount(plan, f"participants.{i}.gas", NATIVE, participant.gas)
        for symbol, amount in participant.tokens.items():
            where = f"participants.{i}.tokens.{symbol}"
            unknown = _known(where, symbol, symbols)
            yield from unknown if unknown else _amount(plan, where, symbol, amount)
    for i, offering in enumerate(plan.offerings):
        yield from _offering(plan, f"offerings.{i}", offering, symbols)
    for i, donation in enumerate(plan.donations):
        where = f"donations.{i}"
        if donation.to not in names:
            yield from _recipient(f"{where}.to", donation.to)
        unknown = _known(f"{where}.asset", donation.asset, symbols | {NATIVE})
        inexact = _amount(plan, f"{where}.amount", donation.asset, donation.amount)
        yield from unknown if unknown else inexact


def _recipient(where: str, to: str) -> Iterator[tuple[str, str]]:
    """A donation's `to` that names no participant must be an address (checksum checked)."""
    if not to.startswith("0x"):
        yield where, f"{to!r} is neither a participant name nor an address"
        return
    try:
        checked_address(to)
    except ValueError as exc:
        yield where, str(exc)


def _duplicates(section: str, keys: list[str], field: str) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            yield f"{section}.{i}.{field}", f"duplicate {field} {key!r}"
        seen.add(key)


def _known(where: str, symbol: str, symbols: set[str]) -> list[tuple[str, str]]:
    if symbol in symbols:
        return []
    return [(where, f"unknown asset {symbol!r} (the plan has: {', '.join(sorted(symbols))})")]


def _amount(plan: SeedPlan, where: str, symbol: str, amount: Decimal) -> Iterator[tuple[str, str]]:
    """Inexact `amount`s of `symbol`; checked once the decimals are known (existing tokens)."""
    if plan.known_decimals(symbol) is None:
        return
    try:
        plan.units(symbol, amount)
    except ValueError as exc:
        yield where, f"{exc} ({symbol}: not a whole number of base units)"


def _offering(
    plan: SeedPlan, where: str, offering: Offering, symbols: set[str]
) -> Iterator[tuple[str, str]]:
    unknown = _known(f"{where}.asset", offering.asset, symbols)
    unknown += _known(f"{where}.quote", offering.quote, symbols)
    if unknown:
        yield from unknown
        return
    if offering.asset == offering.quote:
        yield f"{where}.quote", "an offering needs two different assets"
        return
    if None in (plan.known_decimals(offering.asset), plan.known_decimals(offering.quote)):
        return  # checked once the existing tokens' decimals are read
    problems = list(_amount(plan, f"{where}.amount", offering.asset, offering.amount))
    if problems:
        yield from problems
        return
    pay, buy = offer_amounts(plan, offering)
    if max(pay, buy) > MAX_OFFER_UNITS:
        yield where, "too large for the market: amounts must stay below 2**96 base units"


def offer_amounts(plan: SeedPlan, offering: Offering) -> tuple[int, int]:
    """(pay, buy) base units; buy rounds up so the initializer never sells below its price."""
    pay = plan.units(offering.asset, offering.amount)
    scale = Fraction(10 ** plan.decimals(offering.quote), 10 ** plan.decimals(offering.asset))
    exact = pay * Fraction(offering.price) * scale
    return pay, -(-exact.numerator // exact.denominator)


def participant_addresses(plan: SeedPlan) -> dict[str, str]:
    """Every participant's address, keystores read without a password.

    `ConfigError` listing every missing keystore or shared address: two names on one account
    would both be topped up from the same balance and get funded twice.
    """
    addresses: dict[str, str] = {}
    problems: list[str] = []
    for p in plan.participants:
        try:
            addresses[p.name] = p.address or keystore_address(keystore_path(p))
        except KeystoreError as exc:
            problems.append(f"participant {p.name}: {exc} (`otcmm fleet keystores` creates it)")
    owners: dict[str, str] = {}
    for name, address in addresses.items():
        if address in owners:
            problems.append(f"participants {owners[address]} and {name} share address {address}")
        owners.setdefault(address, name)
    if problems:
        raise ConfigError("\n".join(problems))
    return addresses


def keystore_path(p: Participant) -> Path:
    if p.keystore is None:
        raise AssertionError("validated: a participant without an address has a keystore")
    return p.keystore


def fleet_keystores(plan: SeedPlan, password: str | Secret, scrypt_n: int) -> dict[str, str]:
    """Create every participant keystore that does not exist yet; addresses of all of them.

    Existing files are never touched: a funded key lost to an overwrite is gone for good.
    Every folder a new keystore goes to is checked first (`ConfigError`, exit 2, naming the
    participant), so a fleet is never left half created by a folder that cannot be written.
    """
    missing = [
        (participant.name, keystore_path(participant))
        for participant in plan.participants
        if participant.keystore is not None and not keystore_path(participant).exists()
    ]
    for name, path in missing:
        writable_dir(path.parent, f"keystore folder of {name}")
    addresses: dict[str, str] = {}
    for participant in plan.participants:
        if participant.keystore is None:
            continue
        path = keystore_path(participant)
        if path.exists():
            addresses[participant.name] = keystore_address(path)
        else:
            addresses[participant.name] = create_keystore(path, password, scrypt_n=scrypt_n)
    return addresses
