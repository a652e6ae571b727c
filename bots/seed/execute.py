"""Sending the seed's actions: every transaction is recorded before it is sent.

For each transaction: sign at the next nonce, write the record (nonce, kind, hash, signed bytes,
the address a deploy creates) to the deployment file, send those bytes, wait for the receipt,
then write the completed record together with its effect (an address, an offering, a donation)
in one atomic rewrite. A stop request (`bots.seed.interrupt.Stop`) is honoured at those
boundaries only, and a `Checkpoint` hook sees each of them, so tests can stop a run anywhere a
crash could. What a stopped run leaves behind is settled by the next one (`bots.seed.settle`).

An existing token is only written to the file (`UseAsset`), no transaction. An offering's
approval is decided from the allowance read just before it (`Execution._approve`), so a resumed
run sends what an uninterrupted one would have sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.errors import TxError
from bots.market.deployment import Deployment, TxKind, TxRecord, save_deployment
from bots.seed.actions import (
    Action,
    DeployAsset,
    DeployMarket,
    Donate,
    Issue,
    Offer,
    TopUpGas,
    TopUpToken,
    UseAsset,
)
from bots.seed.interrupt import Checkpoint, Stage, Stop
from bots.seed.plan import NATIVE
from bots.seed.sender import NonceSender, Signed
from bots.seed.settle import mined


class Execution:
    """Sends actions from the initializer's key and keeps the deployment file in step.

    `stop` (signals) and `checkpoint` (tests) are looked at between transactions, after a
    transaction is recorded and before it is sent, after it is sent, and after it is recorded
    as mined. `transactions` and `gas_used` count what this run saw mined.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        deployment: Deployment | None,
        path: Path,
        *,
        stop: Stop | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.w3, self.current, self.path = w3, deployment, path
        self.sender = NonceSender(w3, account)
        self.stop, self.checkpoint = stop, checkpoint
        self.transactions = self.gas_used = 0
        self.doing = "settling the transactions recorded by the last run"
        self.nonce = self._pending_nonce()

    def record(self, deployment: Deployment) -> None:
        self.current = deployment
        save_deployment(self.path, deployment)

    def resend(self, records: tuple[TxRecord, ...]) -> None:
        """Send recorded, never-mined transactions again, byte for byte, and settle each."""
        for record in records:
            self._check_stop(record)
            raw = bytes.fromhex((record.raw or "0x")[2:])
            self.sender.broadcast(raw, record.tx, record.nonce)
            self._complete(record, self._wait(record))
        self.nonce = self._pending_nonce()

    def apply(self, action: Action, position: str) -> None:
        """Carry out one action (`position`, e.g. "3 of 11", only names it in messages)."""
        self.doing = f"{action.label} (action {position})"
        self._check_stop()
        me, sender = self.sender.address, self.sender
        match action:
            case DeployMarket():
                market = load_artifact("OtcMarket")
                self._send("deploy market", None, lambda n: sender.sign_deploy(market, (), n))
            case DeployAsset(symbol, name, decimals, cap):
                token, args = load_artifact("AssetToken"), (name, symbol, decimals, cap, me)
                self._send("deploy asset", symbol, lambda n: sender.sign_deploy(token, args, n))
            case UseAsset(symbol):
                self.record(self._deployment().with_asset(symbol, action.record))
            case Issue(symbol, amount):
                issue = self._token(symbol).functions.issue(me, amount)
                self._send("issue", symbol, lambda n: sender.sign_call(issue, n))
            case TopUpGas(name, address, amount):
                key = f"{name} {NATIVE}"
                self._send("top up", key, lambda n: sender.sign_value(address, amount, n))
            case TopUpToken(name, address, symbol, amount):
                transfer = self._token(symbol).functions.transfer(address, amount)
                self._send("top up", f"{name} {symbol}", lambda n: sender.sign_call(transfer, n))
            case Offer():
                self._offer(action)
            case Donate():
                self._donate(action)

    def _offer(self, action: Offer) -> None:
        market = self.w3.eth.contract(
            address=Web3.to_checksum_address(self._deployment().require_market()),
            abi=load_artifact("OtcMarket").abi,
        )
        token, quote = self._token(action.symbol), self._token(action.quote)
        self._approve(token, market.address, action)
        call = market.functions.offer(
            action.amount, token.address, action.buy_amount, quote.address
        )
        self._send("offer", action.id, lambda n: self.sender.sign_call(call, n))

    def _approve(self, token: Contract, spender: str, action: Offer) -> None:
        """Let the market pull exactly the offering's amount, for tokens that bend `approve`.

        Nothing is sent when the allowance left covers it. An allowance left that does not is
        set to 0 first: USDT-style tokens revert a change from one non-zero allowance to
        another (for other tokens this costs one small transaction). Deciding from the state
        read here, not from a failed attempt, keeps a resumed run on the same transactions at
        the same nonces. The allowance read back must then cover the amount, or `TxError`
        (a token that stores allowances in fewer bits than the amount needs).
        """
        me, sender = self.sender.address, self.sender
        left = int(token.functions.allowance(me, spender).call())
        if left >= action.amount:
            return
        if left > 0:
            reset = token.functions.approve(spender, 0)
            self._send("reset allowance", action.id, lambda n: sender.sign_call(reset, n))
        approve = token.functions.approve(spender, action.amount)
        self._send("approve", action.id, lambda n: sender.sign_call(approve, n))
        allowed = int(token.functions.allowance(me, spender).call())
        if allowed < action.amount:
            raise TxError(
                f"approve {action.symbol} for offering {action.id}: the allowance reads back "
                f"{allowed} base units after approving {action.amount}"
            )

    def _donate(self, action: Donate) -> None:
        if action.symbol == NATIVE:
            address, amount = action.address, action.amount
            self._send("donate", action.id, lambda n: self.sender.sign_value(address, amount, n))
            return
        call = self._token(action.symbol).functions.transfer(action.address, action.amount)
        self._send("donate", action.id, lambda n: self.sender.sign_call(call, n))

    def _send(self, kind: TxKind, key: str | None, sign: Callable[[int], Signed]) -> TxReceipt:
        """Sign at the next nonce, record, send, wait, record as mined: see the module doc."""
        self._check_stop()
        signed = sign(self.nonce)
        record = TxRecord(
            nonce=signed.nonce,
            kind=kind,
            key=key,
            tx=signed.tx_hash,
            creates=signed.creates,
            raw="0x" + signed.raw.hex(),
        )
        self.record(self._deployment().with_tx(record))  # before it leaves the process
        self._at("signed", record)
        self.sender.broadcast(signed.raw, signed.tx_hash, signed.nonce)
        self.nonce = signed.nonce + 1
        self._at("sent", record)
        return self._complete(record, self._wait(record))

    def _wait(self, record: TxRecord) -> TxReceipt:
        return self.sender.wait(record.tx, self.stop, lambda: self._where(record, "sent"))

    def _complete(self, record: TxRecord, receipt: TxReceipt) -> TxReceipt:
        self.record(mined(self.w3, self._deployment(), record, receipt))
        self.transactions += 1
        self.gas_used += int(receipt["gasUsed"])
        self._at("mined", record)
        if receipt["status"] != 1:
            reason = self.sender.revert_reason(record.tx, int(receipt["blockNumber"]))
            raise TxError(f"{record.label}: {reason}", record.tx)
        return receipt

    def _at(self, stage: Stage, record: TxRecord) -> None:
        if self.checkpoint is not None:
            self.checkpoint(stage, record)
        self._check_stop(record, stage)

    def _check_stop(self, record: TxRecord | None = None, stage: Stage = "signed") -> None:
        """`SeedInterrupted` if a stop was asked for, saying where `record` (if any) stands."""
        if self.stop is None:
            return
        if record is None:
            self.stop.check(lambda: f"during {self.doing}: no transaction in flight")
        else:
            self.stop.check(lambda: self._where(record, stage))

    def _where(self, record: TxRecord, stage: Stage) -> str:
        state = {
            "signed": "is recorded but was not sent",
            "sent": "was sent and is not mined yet",
            "mined": "is mined and recorded",
        }[stage]
        return f"during {self.doing}: transaction {record.label} {state}"

    def _deployment(self) -> Deployment:
        """The deployment so far; before the market's deploy, an empty one for this chain."""
        if self.current is None:
            return Deployment(chain_id=int(self.w3.eth.chain_id))
        return self.current

    def _token(self, symbol: str) -> Contract:
        address = Web3.to_checksum_address(self._deployment().address_of(symbol))
        return self.w3.eth.contract(address=address, abi=load_artifact("AssetToken").abi)

    def _pending_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.sender.address, "pending"))
