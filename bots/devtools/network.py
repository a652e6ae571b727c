"""The PoA network's one source of truth, `chain-config/network.toml`, read and validated.

Everything rendered for the nodes and the dev chain (`bots.devtools.chainconfig`) starts from the
`Network` read here. The file holds public addresses only: keys stay with their operators.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from bots.addresses import checked_address
from bots.errors import ConfigError
from bots.paths import CHAIN_CONFIG_DIR, REPO_ROOT
from bots.tomlfile import read_toml

NETWORK_FILE = CHAIN_CONFIG_DIR / "network.toml"
MIN_GAS_LIMIT = 5000  # nodes refuse blocks below it; mainnet's value


def _checksummed(value: str) -> str:
    """Accept a 0x address in lower case or with a correct EIP-55 checksum; store it checksummed.

    A mixed-case address with a wrong checksum is a typo, so it is refused rather than fixed.
    """
    return checked_address(value)


def _wei(value: object) -> object:
    """Balances may be decimal strings: TOML integers stop at 2**63-1 wei (about 9.2 ether)."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number of wei (digits only)")
        return int(value)
    return value


Address = Annotated[str, AfterValidator(_checksummed)]
Wei = Annotated[int, BeforeValidator(_wei), Field(ge=0)]


class _Table(BaseModel):
    """Strict: TOML is typed, so a string where a number belongs is a mistake, as is a typo."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Aura(_Table):
    """AuRa consensus: who seals blocks and how often."""

    step_duration: int = Field(gt=0, description="Seconds per step, i.e. the block time.")
    validators: list[Address] = Field(min_length=1, description="Authorities in turn order.")

    @field_validator("validators")
    @classmethod
    def _no_duplicates(cls, validators: list[str]) -> list[str]:
        duplicates = sorted({v for v in validators if validators.count(v) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return validators


class Fees(_Table):
    """Gas pricing: a base fee of at least 1 wei that can never fall to 0.

    A zero base fee breaks real AuRa networks: Nethermind's pool drops peers' transactions
    whose affordable price is 0, and it encodes a zero base fee out of the block header while
    OpenEthereum writes it, so the two clients disagree on every block hash. A denominator of
    1 would let one empty block take any base fee to 0.
    """

    min_gas_price: int = Field(ge=0, description="Lowest tip validators include (wei/gas).")
    base_fee_initial: int = Field(description="EIP-1559 base fee of the genesis block (wei).")
    base_fee_max_change_denominator: int = Field(description="EIP-1559 max change 1/n.")
    elasticity_multiplier: int = Field(gt=0, description="EIP-1559 gas limit / gas target.")

    @field_validator("base_fee_initial")
    @classmethod
    def _base_fee_is_relayed(cls, wei: int) -> int:
        if wei < 1:
            raise ValueError(
                "must be >= 1 wei: Nethermind drops zero-fee transactions from peers and "
                "hashes a zero-base-fee header differently from OpenEthereum"
            )
        return wei

    @field_validator("base_fee_max_change_denominator")
    @classmethod
    def _base_fee_cannot_reach_zero(cls, denominator: int) -> int:
        if denominator < 2:
            raise ValueError("must be >= 2: with 1, one empty block takes the base fee to 0")
        return denominator


class Prefund(_Table):
    """An account funded in the genesis block."""

    address: Address
    balance_wei: Wei


class DevAccounts(_Table):
    """The local anvil dev chain's accounts (a public mnemonic: never for a real network)."""

    mnemonic: str = Field(min_length=1)
    accounts: int = Field(gt=0, description="Accounts derived from the mnemonic and funded.")
    balance_ether: int = Field(ge=0, description="Ether given to each of them.")


class Network(_Table):
    """The whole of `network.toml`."""

    name: str = Field(min_length=1)
    chain_id: int = Field(gt=0, description="EIP-155 chain id.")
    network_id: int = Field(gt=0, description="devp2p network id.")
    hardfork: Literal["london"] = Field(description="Every fork up to this one is on at block 0.")
    gas_limit: int = Field(ge=MIN_GAS_LIMIT, description="Block gas limit.")
    aura: Aura
    fees: Fees
    prefunded: list[Prefund] = Field(default_factory=list)
    dev: DevAccounts


def load_network(path: Path = NETWORK_FILE) -> Network:
    """Read and validate a network file; every problem is reported, one line each."""
    shown = _display(path)
    raw = read_toml(path, "network file", shown)
    try:
        return Network.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(_problems(shown, exc.errors()))) from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return str(path)


def _problems(shown: str, errors: Iterable[ErrorDetails]) -> list[str]:
    return [f"{shown}: {_location(e['loc'])}: {_message(e)}" for e in errors]


def _location(loc: tuple[int | str, ...]) -> str:
    """`("prefunded", 0, "address")` -> `prefunded[0].address`, as the TOML reader thinks of it."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts) or "(top level)"


_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "too_short": "needs at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check for a typo)",
    "literal_error": "must be one of {expected}",
}


def _message(error: ErrorDetails) -> str:
    template = _MESSAGES.get(error["type"])
    if template is not None:
        return template.format(**error.get("ctx", {}))
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return f"{error['msg']} (got {error['input']!r})"
