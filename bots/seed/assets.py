"""The two kinds of asset in a seed plan: issued by the seed job, or existing already.

`Asset` is an AssetToken the seed job deploys and issues (the initializer holds its issuer
role). `ExistingAsset` is any ERC20 that is there already (a bank's stablecoin), named by its
address: the seed job never deploys or issues it, the initializer holds what it hands out. In
a plan file an entry that has `address` is an existing token.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from bots.addresses import checked_address
from bots.seed.amounts import Amount, Positive, to_units

MAX_DECIMALS = 18
SYMBOL = r"^[A-Z0-9]{1,11}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Asset(_Model):
    """An AssetToken the initializer deploys and issues (it holds the issuer role)."""

    symbol: str = Field(pattern=SYMBOL)
    name: str = Field(min_length=1, max_length=100)
    decimals: int = Field(ge=0, le=MAX_DECIMALS)
    supply: Amount
    """Total supply to reach by issuing to the initializer; it never shrinks on a re-run."""
    cap: Positive | None = None

    @model_validator(mode="after")
    def _exact(self) -> Asset:
        to_units(self.supply, self.decimals)
        if self.cap is not None:
            to_units(self.cap, self.decimals)
            if self.supply > self.cap:
                raise ValueError(f"supply {self.supply} is above the cap {self.cap}")
        return self

    @property
    def supply_units(self) -> int:
        return to_units(self.supply, self.decimals)

    @property
    def cap_units(self) -> int:
        """The on-chain cap; 0 means uncapped, as AssetToken's constructor reads it."""
        return 0 if self.cap is None else to_units(self.cap, self.decimals)


class ExistingAsset(_Model):
    """A token that exists already (a bank's stablecoin): never deployed or issued by the seed.

    The initializer holds it; participants are topped up by `transfer` from its balance and
    offerings escrow it from there. `symbol` is the plan's (bots find the token by it in the
    deployment file), whatever the token reports. `decimals` must agree with the token's
    `decimals()` when it has one and is required when it has none; None until the token is read.
    `name` is only recorded (default: the symbol).
    """

    symbol: str = Field(pattern=SYMBOL)
    address: str
    name: str | None = Field(default=None, min_length=1, max_length=100)
    decimals: int | None = Field(default=None, ge=0, le=MAX_DECIMALS)

    @model_validator(mode="before")
    @classmethod
    def _not_issued(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"supply", "cap"} & data.keys():
            raise ValueError(
                "a token given by address is never issued by the seed job: remove supply and cap"
            )
        return data

    @field_validator("address")
    @classmethod
    def _checksummed(cls, value: str) -> str:
        return checked_address(value)

    @property
    def label(self) -> str:
        """The name recorded in the deployment file."""
        return self.name or self.symbol


def _asset_kind(value: object) -> str:
    """Which kind of asset a plan entry is: one that names an address exists already."""
    if isinstance(value, dict):
        return "existing" if "address" in value else "issued"
    return "existing" if isinstance(value, ExistingAsset) else "issued"


ASSET_KINDS = ("issued", "existing")
AnyAsset = Annotated[
    Annotated[Asset, Tag("issued")] | Annotated[ExistingAsset, Tag("existing")],
    Discriminator(_asset_kind),
]
