"""The deployment file: where the market and assets live, and what the seed job sent.

Bots and Kubernetes ConfigMaps read it to find the market and the assets by symbol (AssetTokens
the seed job deployed, and tokens that existed before it, `AssetRecord.existing`); the seed job
reads it to know what it already did. It is rewritten atomically (a temporary file, fsync,
rename), so readers see the old file or the new one, never half of one. Every transaction of
the seed job is recorded here BEFORE it leaves the process (`TxRecord`: nonce, kind, hash, the
signed bytes and, for a deploy, the address it will create) and completed once mined, so a run
stopped at any point can be settled by the next one without sending anything twice. `market`
is None only while the market's deploy is in flight. Offering and donation records written by
older versions at signing time (no block yet) are still settled by `settle_in_flight`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Literal

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
RawTx = Annotated[str, Field(pattern=r"^0x[0-9a-f]+$")]
RESTART_HINT = "was the chain reset? delete the deployment file to deploy afresh"
MAX_CHAIN_ID = 4_503_599_627_370_476  # EIP-2294: the largest chain id wallets can sign for


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetRecord(_Record):
    """An asset by symbol: an AssetToken the seed job deployed, or, with `existing`, a token
    that was there before (named by address in the plan), never deployed or issued by it."""

    address: Address
    name: str
    decimals: int = Field(ge=0, le=18)
    existing: Literal[True] | None = None


class OfferingRecord(_Record):
    """An initial offering; `offer_id` and `block` are None while its transaction is in flight."""

    tx: TxHash
    offer_id: HexId | None = None
    block: int | None = None


class DonationRecord(_Record):
    """A gift; `block` is None while its transaction is in flight."""

    tx: TxHash
    block: int | None = None


TxKind = Literal[
    "deploy market",
    "deploy asset",
    "issue",
    "top up",
    "reset allowance",
    "approve",
    "offer",
    "donate",
]


class TxRecord(_Record):
    """One transaction of the seed job, written before it is sent and completed once mined.

    `key` names what it concerns (asset symbol, offering or donation id, "participant SYMBOL"),
    `creates` is the address a deploy creates (it follows from sender and nonce alone), `raw`
    the signed transaction as 0x-hex while in flight (dropped once mined), `block` and `status`
    (the receipt's: 1 success, 0 reverted) are None until it is mined.
    """

    nonce: int = Field(ge=0)
    kind: TxKind
    key: str | None = None
    tx: TxHash
    creates: Address | None = None
    raw: RawTx | None = None
    block: int | None = None
    status: Literal[0, 1] | None = None

    @property
    def label(self) -> str:
        """`deploy asset BND30 (nonce 1, tx 0x1234abcd…)`."""
        what = self.kind if self.key is None else f"{self.kind} {self.key}"
        return f"{what} (nonce {self.nonce}, tx {self.tx[:10]}…)"


class Deployment(_Record):
    chain_id: int = Field(gt=0, le=MAX_CHAIN_ID)
    market: Address | None = None  # None only while the market's deploy is in flight
    assets: dict[str, AssetRecord] = Field(default_factory=dict)
    offerings: dict[str, OfferingRecord] = Field(default_factory=dict)
    donations: dict[str, DonationRecord] = Field(default_factory=dict)
    transactions: list[TxRecord] = Field(default_factory=list)  # the seed job's, by nonce

    def require_market(self) -> str:
        """The market's address; `ConfigError` while the seed job has not deployed it yet."""
        if self.market is None:
            raise ConfigError("the market is not deployed yet: run the seed job to the end")
        return self.market

    def address_of(self, symbol: str) -> str:
        """The deployed asset's address; `ConfigError` naming the known symbols otherwise."""
        record = self.assets.get(symbol)
        if record is None:
            known = ", ".join(sorted(self.assets)) or "none"
            raise ConfigError(f"asset {symbol!r} is not deployed (deployed: {known})")
        return record.address

    def contracts(self) -> dict[str, str]:
        """Every recorded contract by label: "market" and "asset BND30", ..."""
        found = {} if self.market is None else {"market": self.market}
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

    def with_tx(self, record: TxRecord) -> Deployment:
        """`record` stored under its nonce (replacing the one there), records kept by nonce."""
        kept = [r for r in self.transactions if r.nonce != record.nonce]
        return self.model_copy(
            update={"transactions": sorted([*kept, record], key=lambda r: r.nonce)}
        )

    def without_tx(self, nonce: int) -> Deployment:
        kept = [r for r in self.transactions if r.nonce != nonce]
        return self.model_copy(update={"transactions": kept})

    def in_flight(self) -> list[TxRecord]:
        """Recorded transactions not known to be mined yet, by nonce."""
        return [r for r in self.transactions if r.status is None]


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


def check_writable(path: Path) -> None:
    """`ConfigError` unless `save_deployment` could write `path`: checked before anything is sent.

    The directory must exist (it is not created: a mistyped path should not become a new
    directory) and take a new file, which is tried by creating and removing a probe file next to
    where the temporary file will go; `path` itself must not be a directory.
    """
    if path.is_dir():
        raise ConfigError(f"deployment file {path} is a directory: give a file name in it")
    directory = path.parent
    if not directory.exists():
        raise ConfigError(f"deployment file {path}: directory {directory} does not exist")
    if not directory.is_dir():
        raise ConfigError(f"deployment file {path}: {directory} is not a directory")
    probe = directory / f".{path.name}.{os.getpid()}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"deployment file {path}: cannot write in {directory}: {reason}"
        ) from None


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
        address=Web3.to_checksum_address(deployment.require_market()),
        abi=load_artifact("OtcMarket").abi,
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
