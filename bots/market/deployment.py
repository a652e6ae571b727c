"""The deployment file: where the market and assets live, and which one-off gifts were sent.

Bots and Kubernetes ConfigMaps read it to find the market; the seed job reads it to know what
it already did. It is rewritten atomically after every state-changing step, so a seed run that
dies half-way resumes from exactly where it stopped. Offerings and donations are one-off: their
record is written when the transaction is signed (with no block yet) and completed once it is
mined, so a run killed or timed out in between never sends the same gift twice.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated

from eth_typing import HexStr
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.errors import ChainError, ConfigError
from bots.market.client import made_offer_ids


def _checksummed(value: str) -> str:
    if not Web3.is_address(value):
        raise ValueError(f"{value!r} is not an address")
    return str(Web3.to_checksum_address(value))


Address = Annotated[str, AfterValidator(_checksummed)]
TxHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
HexId = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{1,64}$")]
RESTART_HINT = "was the chain reset? delete the deployment file to deploy afresh"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetRecord(_Record):
    address: Address
    name: str
    decimals: int = Field(ge=0, le=18)


class OfferingRecord(_Record):
    """An initial offering; `offer_id` and `block` are None while its transaction is in flight."""

    tx: TxHash
    offer_id: HexId | None = None
    block: int | None = None


class DonationRecord(_Record):
    """A gift; `block` is None while its transaction is in flight."""

    tx: TxHash
    block: int | None = None


class Deployment(_Record):
    chain_id: int = Field(gt=0)
    market: Address
    assets: dict[str, AssetRecord] = Field(default_factory=dict)
    offerings: dict[str, OfferingRecord] = Field(default_factory=dict)
    donations: dict[str, DonationRecord] = Field(default_factory=dict)

    def address_of(self, symbol: str) -> str:
        """The deployed asset's address; `ConfigError` naming the known symbols otherwise."""
        record = self.assets.get(symbol)
        if record is None:
            known = ", ".join(sorted(self.assets)) or "none"
            raise ConfigError(f"asset {symbol!r} is not deployed (deployed: {known})")
        return record.address

    def contracts(self) -> dict[str, str]:
        """Every recorded contract by label: "market" and "asset BND30", ..."""
        found = {"market": self.market}
        found.update({f"asset {s}": a.address for s, a in self.assets.items()})
        return found

    def with_asset(self, symbol: str, record: AssetRecord) -> Deployment:
        return self.model_copy(update={"assets": {**self.assets, symbol: record}})

    def with_offering(self, key: str, record: OfferingRecord | None) -> Deployment:
        """`record` stored under `key`, or the entry removed when None."""
        offerings = {k: v for k, v in self.offerings.items() if k != key}
        if record is not None:
            offerings[key] = record
        return self.model_copy(update={"offerings": offerings})

    def with_donation(self, key: str, record: DonationRecord | None) -> Deployment:
        donations = {k: v for k, v in self.donations.items() if k != key}
        if record is not None:
            donations[key] = record
        return self.model_copy(update={"donations": donations})


def load_deployment(path: Path) -> Deployment | None:
    """The deployment recorded at `path`, None if there is none; `ConfigError` if malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read deployment file {path}: {type(exc).__name__}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    try:
        return Deployment.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "(file)"
            lines.append(f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


def save_deployment(path: Path, deployment: Deployment) -> None:
    """Replace `path` atomically: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = deployment.model_dump_json(indent=2, exclude_none=True) + "\n"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write deployment file {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def verify_on_chain(w3: Web3, deployment: Deployment, path: Path) -> None:
    """`ChainError` unless the node serves the recorded chain and every contract has code."""
    chain_id = int(w3.eth.chain_id)
    if deployment.chain_id != chain_id:
        raise ChainError(
            f"{path} records chain id {deployment.chain_id} but the node serves chain id "
            f"{chain_id}: refusing to mix chains (use another deployment file)"
        )
    for label, address in deployment.contracts().items():
        if not w3.eth.get_code(Web3.to_checksum_address(address)):
            raise ChainError(f"{path}: {label} at {address} has no code on chain: {RESTART_HINT}")


def settle_in_flight(w3: Web3, deployment: Deployment) -> Deployment:
    """Complete or drop the one-off records whose transaction was in flight when a run stopped.

    The caller must first wait until the initializer has nothing pending: then a transaction
    without a receipt was dropped and can never mine, and its gift is due again. A reverted one
    is due again too.
    """
    for key, offering in deployment.offerings.items():
        if offering.block is None:
            deployment = deployment.with_offering(key, _settled_offering(w3, deployment, offering))
    for key, donation in deployment.donations.items():
        if donation.block is None:
            receipt = _receipt(w3, donation.tx)
            record = None if receipt is None else donation.model_copy(update=_block(receipt))
            deployment = deployment.with_donation(key, record)
    return deployment


def _settled_offering(
    w3: Web3, deployment: Deployment, offering: OfferingRecord
) -> OfferingRecord | None:
    receipt = _receipt(w3, offering.tx)
    if receipt is None:
        return None
    market = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.market), abi=load_artifact("OtcMarket").abi
    )
    ids = made_offer_ids(market, receipt)
    if not ids:
        return None
    return offering.model_copy(update={"offer_id": hex(ids[0]), **_block(receipt)})


def _receipt(w3: Web3, tx_hash: str) -> TxReceipt | None:
    """The successful receipt of `tx_hash`, or None if it never mined or reverted."""
    try:
        receipt = w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except TransactionNotFound:
        return None
    return receipt if receipt["status"] == 1 else None


def _block(receipt: TxReceipt) -> dict[str, int]:
    return {"block": int(receipt["blockNumber"])}
