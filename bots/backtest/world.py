"""The backtest's chain state before step 0: contracts, one funded account per agent.

Keys come from the scenario seed and the agent's name, so addresses (and with them every
transaction hash and offer id) are the same in every run of a scenario. The deployer is the dev
chain's first prefunded account; it issues each agent's starting inventory and gas money.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from bots.artifacts import load_artifact
from bots.backtest.flows import Inventory
from bots.backtest.scenario import AssetSpec, Scenario
from bots.chain.transactor import Transactor
from bots.market.client import MAX_UINT, MarketClient
from strategies.money import Token

GAS_MONEY_WEI = 10 * 10**18  # gas money: every transaction pays its gas in the native coin


def agent_account(seed: int, name: str) -> LocalAccount:
    """A fresh key for agent `name`, fixed by the scenario seed (DEV-ONLY: derivable by anyone)."""
    key = hashlib.sha256(f"otcmm-backtest-key:{seed}:{name}".encode()).digest()
    account: LocalAccount = Account.from_key(key)
    return account


@dataclass
class Deployment:
    """The market and its two assets, and the deployer that issues them."""

    market: MarketClient  # read-only: each agent trades through its own client
    base: Token
    quote: Token
    deployer: Transactor

    @property
    def tokens(self) -> tuple[Token, Token]:
        return self.base, self.quote


def deploy(w3: Web3, deployer: LocalAccount, scenario: Scenario) -> Deployment:
    """OtcMarket and two AssetTokens (uncapped, issued by `deployer`)."""
    tx = Transactor(w3, deployer)
    tokens = [_deploy_asset(tx, spec) for spec in (scenario.market.base, scenario.market.quote)]
    market, _ = tx.deploy(load_artifact("OtcMarket"))
    return Deployment(MarketClient(w3, market.address), tokens[0], tokens[1], tx)


def _deploy_asset(tx: Transactor, spec: AssetSpec) -> Token:
    name = spec.name or f"{spec.symbol} (backtest)"
    artifact = load_artifact("AssetToken")
    contract, _ = tx.deploy(artifact, name, spec.symbol, spec.decimals, 0, tx.address)
    return Token(address=contract.address, symbol=spec.symbol, decimals=spec.decimals)


def fund(deployment: Deployment, agent: Transactor, inventory: Inventory) -> None:
    """Issue the starting inventory and gas money to `agent`, and approve the market once."""
    deployer, market = deployment.deployer, deployment.market
    deployer.send_value(agent.address, GAS_MONEY_WEI)
    for token, amount in ((deployment.base, inventory.base), (deployment.quote, inventory.quote)):
        erc20 = market.token(token.address)
        if amount:
            deployer.transact(erc20.functions.issue(agent.address, amount))
        agent.transact(erc20.functions.approve(market.market_address, MAX_UINT))
