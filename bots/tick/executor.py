"""Carries out a reconciled plan: one atomic `requote` for cancels and makes, then the takes.

The only module of the tick that sends transactions. A failed transaction is reported, not
retried: the next tick re-reads the chain and decides again from what actually happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from web3.types import TxReceipt

from bots.chain.fees import Fees
from bots.errors import TxError, TxPending
from bots.market.approvals import Approvals
from bots.market.client import MarketClient, killed_offer_ids, made_offer_ids
from bots.market.gas import MAX_ACTIONS_PER_TX
from bots.tick.reconcile import Plan
from strategies.api import LiveOffer, Quote, Take

log = structlog.get_logger("otcmm.bot")


@dataclass
class Execution:
    """What one tick changed on chain and what failed (as readable one-line reasons)."""

    made: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    taken: list[Take] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending: str | None = None  # a transaction sent this tick is still pending (held)
    refreshed: int | None = None  # the dead-man's switch deadline set this tick

    @property
    def all_failed(self) -> bool:
        """Transactions were sent and none of them went through."""
        went_through = self.made or self.cancelled or self.taken or self.refreshed is not None
        return bool(self.errors) and not went_through

    @property
    def sent_anything(self) -> bool:
        sent = self.made or self.cancelled or self.taken or self.errors or self.pending
        return bool(sent or self.refreshed)

    def with_settled(self, settled: Execution) -> Execution:
        """This execution together with `settled`: what a transaction an earlier tick left
        pending did once it was mined (its changes and errors first; pending is this one's)."""
        return Execution(
            made=settled.made + self.made,
            cancelled=settled.cancelled + self.cancelled,
            taken=settled.taken + self.taken,
            errors=settled.errors + self.errors,
            pending=self.pending,
            refreshed=self.refreshed if self.refreshed is not None else settled.refreshed,
        )


class Executor:
    """Turns plans into transactions for the market client's account."""

    def __init__(self, market: MarketClient) -> None:
        self.market = market
        self.approvals = Approvals(market)
        self._held_take: Take | None = None  # a take sent but left pending by its tick

    def execute(
        self,
        plan: Plan,
        takes: Sequence[Take],
        offers: Sequence[LiveOffer] = (),
        *,
        deadline: int | None = None,
    ) -> Execution:
        """Requote first (pulling stale quotes is the urgent part), then take.

        With `deadline` (unix seconds) new offers are guarded by the market's dead-man's switch
        and the switch is set to it (`requoteUntil`): nobody can take them after it unless the
        bot refreshes it.
        """
        result = Execution()
        if not plan.is_empty:
            self._requote(plan, result, deadline)
        by_id = {offer.id: offer for offer in offers}
        for take in takes:
            if result.pending is not None:
                break  # nothing more goes out while a transaction of ours is pending
            self._take(take, by_id.get(take.offer_id), result)
        return result

    def prime_fees(self, fees: Fees) -> None:
        """The fees the tick's snapshot read: its transactions carry them (no second lookup)."""
        self.market.transactor.prime_fees(fees)

    def check_nonce(self, mined: int) -> None:
        """Check the account's `mined` transaction count (at the tick's snapshot block).

        Raises `ForeignTransactionError` if the account has transactions we did not sign. A
        count *below* what we signed and saw mined means the chain lost a transaction of ours
        (a reorg): the nonce is taken from the node again, and a held transaction above the
        gap, which cannot mine until the gap is filled, is abandoned (it may still mine after
        the next one; its effects are then read from the chain like any other).
        """
        transactor = self.market.transactor
        held = transactor.held_nonce
        expected = held if held is not None else transactor.nonces.next
        if expected is not None and mined < expected:
            log.warning(
                "the chain lost transactions of ours (a reorg?): taking the nonce from the node",
                mined=mined,
                expected=expected,
                abandoned=transactor.held,
            )
            transactor.abandon_held()
        transactor.check_chain_nonce(mined)

    def held_hashes(self) -> tuple[str, ...]:
        """The versions of the transaction an earlier tick left pending (() when none)."""
        return self.market.transactor.held_hashes

    def settle_held(
        self, wait_s: float = 0.0, *, known: TxReceipt | None = None, polled: bool = False
    ) -> Execution:
        """Chase a transaction an earlier tick left pending; what it did once mined.

        Returns an `Execution` with `pending` set (its label) while it is still pending; else
        the offers it made and cancelled (from its `LogMake`/`LogKill` logs), the take it was,
        or one error with the chain's reason if it reverted: what that tick could not report.
        `known` / `polled`: what the tick's snapshot read of its receipt
        (`Transactor.settle_held`). Raises `TxError` if chasing it failed while it is held.
        """
        transactor = self.market.transactor
        try:
            receipt = transactor.settle_held(wait_s, known=known, polled=polled, raise_revert=True)
        except TxPending as exc:
            return Execution(pending=str(exc))
        except TxError as exc:  # reverted once mined: the reason the chain gives, and its hash
            if transactor.held_hashes:
                raise  # not settled: the chase itself failed, and so does the tick
            self._held_take = None
            return Execution(errors=[f"{exc} (sent by an earlier tick)"])
        take, self._held_take = self._held_take, None
        settled = Execution()
        if receipt is None:
            return settled
        contract = self.market.contract
        settled.made = made_offer_ids(contract, receipt)
        settled.cancelled = killed_offer_ids(contract, receipt)
        if take is not None:
            settled.taken.append(take)
        return settled

    def refresh_deadline(self, deadline: int) -> Execution:
        """Move the dead-man's switch to `deadline` so the guarded offers stay takable."""
        result = Execution()
        try:
            self.market.set_deadline(deadline)
            result.refreshed = deadline
        except TxPending as exc:
            result.pending = str(exc)
        except TxError as exc:
            result.errors.append(str(exc))
        return result

    def _requote(
        self, plan: Plan, result: Execution, deadline: int | None, batch: int = MAX_ACTIONS_PER_TX
    ) -> None:
        makes = self._approved(plan.makes, result)
        specs = [(q.pay_amt, q.pay_token, q.buy_amt, q.buy_token) for q in makes]
        cancels = list(plan.cancels)
        try:
            while cancels or specs:
                batch_cancels = cancels[:batch]
                room = batch - len(batch_cancels)
                batch_specs = specs[:room]
                if deadline is not None and batch_specs:
                    made = self.market.requote_until(batch_cancels, batch_specs, deadline)
                    result.refreshed = deadline
                else:
                    made = self.market.requote(batch_cancels, batch_specs)
                result.made += made
                result.cancelled += [offer_id for offer_id, _ in batch_cancels]
                cancels, specs = cancels[len(batch_cancels) :], specs[len(batch_specs) :]
        except TxPending as exc:
            result.pending = str(exc)
        except TxError as exc:
            result.errors.append(str(exc))

    def _approved(self, makes: Sequence[Quote], result: Execution) -> list[Quote]:
        """The makes whose pay token the market may pull; a token whose approval fails loses
        only its own makes (the other side's quotes and every cancel still go out)."""
        needed: defaultdict[str, int] = defaultdict(int)
        for quote in makes:
            needed[quote.pay_token] += quote.pay_amt
        refused: set[str] = set()
        for token, amount in needed.items():
            try:
                self.approvals.ensure(token, amount)
            except TxPending as exc:
                result.pending = str(exc)
                return []
            except TxError as exc:
                result.errors.append(str(exc))
                refused.add(token)
        return [quote for quote in makes if quote.pay_token not in refused]

    def _take(self, take: Take, offer: LiveOffer | None, result: Execution) -> None:
        transactor = self.market.transactor
        before, sending = transactor.held_hashes, False
        if offer is None:  # nothing to bound it by: what would it buy, at what price?
            result.errors.append(f"take of offer {take.offer_id} not sent: not in the book read")
            return
        try:
            self.approvals.ensure(offer.buy_token, take.expected_spend)
            sending = True
            self.market.take(
                take.offer_id, take.quantity, offer.pay_token, offer.buy_token, take.expected_spend
            )
            result.taken.append(take)
        except TxPending as exc:
            result.pending = str(exc)
            held = transactor.held_hashes
            if sending and held and held[:1] != before[:1]:  # this take went out and is held
                self._held_take = take
        except TxError as exc:
            result.errors.append(str(exc))

    def cancel_all(self, offers: Sequence[LiveOffer], batch: int = MAX_ACTIONS_PER_TX) -> Execution:
        """Pull `offers` (conditional on their remaining amount, like any cancel we send), at
        most `batch` (1 .. `MAX_ACTIONS_PER_TX`) per transaction: a smaller transaction needs
        less gas money up front. Stops at the first transaction that fails."""
        batch = max(1, min(batch, MAX_ACTIONS_PER_TX))
        result = Execution()
        cancels = tuple((o.id, o.remaining) for o in offers)
        if cancels:
            self._requote(Plan(keep=(), cancels=cancels, makes=()), result, None, batch)
        return result
