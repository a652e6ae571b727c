"""Building blocks for chain tests: named accounts, tokens and markets on one anvil.

Kept apart from conftest so benchmarks and other tools can build the same worlds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bots.artifacts import load_artifact
from bots.chain import Transactor
from bots.devchain import DevChain, DevChainParams, dev_accounts

MAX_UINT = 2**256 - 1


@dataclass
class World:
    """One dev chain with named participants, each with its own transactor."""

    chain: DevChain
    w3: Web3
    accounts: dict[str, LocalAccount]
    tx: dict[str, Transactor] = field(default_factory=dict)

    def addr(self, name: str) -> str:
        return str(self.accounts[name].address)

    def deploy(
        self, name: str, *args: Any, by: str = "deployer", test_only: bool = False
    ) -> Contract:
        contract, _ = self.tx[by].deploy(load_artifact(name, test_only=test_only), *args)
        return contract

    def send(self, who: str, call: Any, gas: int | None = None) -> TxReceipt:
        return self.tx[who].transact(call, gas=gas)

    def asset(self, symbol: str, decimals: int = 2, cap: int = 0) -> Contract:
        """Deploy an AssetToken issued by `deployer`."""
        return self.deploy(
            "AssetToken", f"{symbol} token", symbol, decimals, cap, self.addr("deployer")
        )

    def fund(
        self, token: Contract, amounts: dict[str, int], market: Contract | None = None
    ) -> None:
        """Issue (or mint, for test tokens) amounts and approve the market for everything."""
        for name, amount in amounts.items():
            if "issue" in {f["name"] for f in token.abi if f.get("type") == "function"}:
                self.send("deployer", token.functions.issue(self.addr(name), amount))
            else:
                self.send("deployer", token.functions.mint(self.addr(name), amount))
            if market is not None:
                self.send(name, token.functions.approve(market.address, MAX_UINT))

    def snapshot(self) -> str:
        return str(self.chain.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if self.chain.rpc("evm_revert", [snapshot_id]) is not True:
            raise RuntimeError(f"evm_revert {snapshot_id} failed")
        for transactor in self.tx.values():
            transactor.resync_nonce()


NAMES = ("deployer", "alice", "bob", "carol", "dave", "erin", "frank", "grace")


def start_world(params: DevChainParams, names: tuple[str, ...] = NAMES) -> Iterator[World]:
    """Start anvil and yield a world; anvil is stopped when the generator closes."""
    with DevChain(params) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
        keys = dev_accounts(params)
        accounts = dict(zip(names, keys, strict=False))
        world = World(chain=chain, w3=w3, accounts=accounts)
        world.tx = {name: Transactor(w3, account) for name, account in accounts.items()}
        yield world


def offer_id(market: Contract, receipt: TxReceipt) -> int:
    """The id of the offer a receipt's LogMake announced."""
    events = market.events.LogMake().process_receipt(receipt, errors=DISCARD)
    return int.from_bytes(events[-1]["args"]["id"], "big")
