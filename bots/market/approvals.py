"""Keeping the market approved to pull a token, for tokens that bend ERC20's `approve`.

- **Approve-race tokens** (USDT): `approve` reverts when it would change a non-zero allowance to
  another non-zero value. When approving the maximum fails (the estimate reverts, so nothing is
  sent) and some allowance is left, the allowance is set to 0 first, then to the maximum.
- **Allowances in fewer bits** (COMP, UNI store 96): approving the uint256 maximum reads back
  as less. What counts is the allowance read back against the amount actually needed, so such
  a token is approved once, not on every tick.
- Unlimited allowances that OpenZeppelin never spends down are remembered (no read per tick);
  any other allowance is read again before each use.

Failures are `TxError`s for one token: the caller decides what else can still go out.
"""

from __future__ import annotations

from bots.errors import TxError, TxPending
from bots.market.client import MAX_UINT, MarketClient

UNLIMITED = MAX_UINT // 2  # at least this is never spent down in practice: no need to re-read


class Approvals:
    """Per-token approval of the market for one account (a `MarketClient` with a transactor)."""

    def __init__(self, market: MarketClient) -> None:
        self.market = market
        self._unlimited: set[str] = set()

    def ensure(self, token: str, needed: int) -> None:
        """Make sure the market may pull `needed` base units of `token`; raises `TxError`."""
        if token in self._unlimited:
            return
        allowance = self._allowance(token)
        if allowance < needed:
            self._approve_max(token, allowance)
            allowance = self._allowance(token)
            if allowance < needed:
                raise TxError(
                    f"approve {token}: allowance reads back {allowance} after approving the "
                    f"maximum, below the {needed} needed"
                )
        if allowance >= UNLIMITED:
            self._unlimited.add(token)

    def _approve_max(self, token: str, allowance: int) -> None:
        erc20 = self.market.token(token)
        approve = erc20.functions.approve(self.market.market_address, MAX_UINT)
        try:
            self.market.transactor.transact(approve)
        except TxPending:
            raise
        except TxError:
            if allowance == 0:
                raise
            reset = erc20.functions.approve(self.market.market_address, 0)  # approve-race token
            self.market.transactor.transact(reset)
            self.market.transactor.transact(approve)

    def _allowance(self, token: str) -> int:
        owner = self.market.transactor.address
        erc20 = self.market.token(token)
        return int(erc20.functions.allowance(owner, self.market.market_address).call())
