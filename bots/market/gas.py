"""Gas the market's operations can cost at most, from their shape (how many cancels, makes).

Used for the gas reserve (enough gas money must always be left to cancel every own offer) and
as a floor under estimated limits. The figures are upper bounds before refunds on an EVM of the
London rules: cold storage slots (2,100), fresh slots (22,100), a new 64-offer window parking the
old one's bits in an empty word (+22,100), an escrow transfer that creates a balance slot. They
are deliberately generous: unused gas is not charged, only `limit x max fee` must be affordable.
"""

from __future__ import annotations

TX_BASE = 21_000
REQUOTE_OVERHEAD = 40_000  # dispatch, calldata, the netting arrays
TOKEN_TRANSFER = 60_000  # one escrow move per token: cold token, balances, allowance, event
CANCEL_IN_REQUOTE = 40_000  # two cold offer slots cleared, a bitmap word, LogKill
MAKE_IN_REQUOTE = 100_000  # two fresh slots, a window rollover, the pair slot, LogMake
TAKE = 180_000  # buy: offer slots, two token transfers with fresh balance slots, the deadline
SET_DEADLINE = 50_000  # the dead-man's switch: one storage word and LogDeadline
MAX_ACTIONS_PER_TX = 60  # cancels + makes per requote: ~6M gas at most, far inside a block

# What a transaction can need beyond its estimate when other transactions land before it in the
# same block (the estimate ran on the state before them). Measured by tests that force each one.
WINDOW_ROLLOVER = 22_100  # a make opens a new 64-offer window: the old bits go to an empty word
COLD_WINDOW_WORD = 5_000  # an offer left the newest window: its bit is in a cold bitmap word
WINDOW = 64


def requote_gas(cancels: int, makes: int, tokens: int = 2) -> int:
    """Upper bound of the gas of re-quoting `cancels` offers into `makes` new ones, split into
    transactions of at most `MAX_ACTIONS_PER_TX` actions, each moving up to `tokens` tokens."""
    actions = cancels + makes
    if actions == 0:
        return 0
    txs = -(-actions // MAX_ACTIONS_PER_TX)
    per_tx = TX_BASE + REQUOTE_OVERHEAD + tokens * TOKEN_TRANSFER
    return txs * per_tx + cancels * CANCEL_IN_REQUOTE + makes * MAKE_IN_REQUOTE


def cancel_all_gas(offers: int, tokens: int = 2) -> int:
    """Upper bound of the gas of cancelling `offers` own offers (conditional requotes)."""
    return requote_gas(offers, 0, tokens)


def race_headroom(cancels: int, makes_per_pair: dict[tuple[str, str], int]) -> int:
    """Gas a requote (or a single make or cancel) may need beyond its estimate when others
    trade on the same pairs first in its block: each cancelled offer may have left the newest
    window (`COLD_WINDOW_WORD`), and each pair's makes may open new windows
    (`WINDOW_ROLLOVER`, once more per 64 makes)."""
    rollovers = sum(1 + makes // WINDOW for makes in makes_per_pair.values() if makes)
    return cancels * COLD_WINDOW_WORD + rollovers * WINDOW_ROLLOVER


TAKE_HEADROOM = COLD_WINDOW_WORD  # a full take clears the offer's bit, maybe in a cold word
