"""BIP-39 mnemonics and BIP-32/44 derivation paths: one account out of a wallet's phrase.

Functions here get the mnemonic as plain text from `bots.chain.keystore`, which holds it in a
`Secret` and reveals it only for the call. Every refusal says why in one line that never
quotes the words: position, count and kind of problem only (a word's position is not secret).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from eth_account import Account
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.signers.local import LocalAccount
from eth_account.types import Language

from bots.errors import KeystoreError

DEFAULT_ACCOUNT_PATH = "m/44'/60'/0'/0/0"
HARDENED = 2**31
"""BIP-32 child numbers below it are written as is; hardened ones as ``n'`` (n < 2**31)."""
WORD_COUNTS = (12, 15, 18, 21, 24)

_HD_PATH = re.compile(r"m(/[0-9]+'?)+")


def derivation_path(account_path: str = DEFAULT_ACCOUNT_PATH, index: int | None = None) -> str:
    """``account_path`` with its last component replaced by ``index`` (BIP-44 address index).

    Every component must be below 2**31: above it a child number would silently become a
    hardened one (or overflow), deriving a key nobody else's wallet derives. `KeystoreError`
    for a malformed path or an out-of-range component or index.
    """
    if not _HD_PATH.fullmatch(account_path):
        raise KeystoreError(
            f"invalid derivation path {account_path!r}: expected like m/44'/60'/0'/0/0"
        )
    for component in account_path.split("/")[1:]:
        if int(component.rstrip("'")) >= HARDENED:
            raise KeystoreError(
                f"invalid derivation path {account_path!r}: component {component} is 2**31 or"
                " more (write a hardened component as n' with n < 2**31)"
            )
    if index is None:
        return account_path
    if not 0 <= index < HARDENED:
        raise KeystoreError(f"account index must be in [0, 2**31), got {index}")
    parent, _, _ = account_path.rpartition("/")
    return f"{parent}/{index}"


def account_from_mnemonic(mnemonic: str, hd_path: str) -> LocalAccount:
    """The account at ``hd_path`` of a BIP-39 ``mnemonic`` (words separated by any whitespace).

    `KeystoreError` saying why the phrase is refused, without quoting it.
    """
    words = " ".join(mnemonic.split())
    Account.enable_unaudited_hdwallet_features()
    try:
        account: LocalAccount = Account.from_mnemonic(words, account_path=hd_path)
    except Exception:  # eth-account's message quotes the words: never chain it
        raise KeystoreError(f"invalid mnemonic: {mnemonic_problem(mnemonic)}") from None
    return account


def mnemonic_problem(mnemonic: str) -> str:
    """Why eth-account refuses ``mnemonic``, in words that do not quote it.

    Checked in order: a byte-order mark, characters other than letters and spaces, upper
    case, the number of words, words in no BIP-39 list, words of several languages; else the
    checksum (a mistyped or swapped word that is still in the list).
    """
    words = mnemonic.split()
    spelling = _spelling_problem(mnemonic, words)
    if spelling:
        return spelling
    if len(words) not in WORD_COUNTS:
        return f"it has {len(words)} words; BIP-39 phrases have 12, 15, 18, 21 or 24"
    for position, word in enumerate(words, 1):
        if not any(_known(word, language) for language in Language):
            return f"word {position} is in no BIP-39 word list (a typo?)"
    fitting = {_family(lang) for lang in Language if all(_known(w, lang) for w in words)}
    if not fitting:
        return "its words come from the BIP-39 lists of more than one language"
    if len(fitting) > 1:
        return "its words are in the BIP-39 lists of several languages: which one is ambiguous"
    return "the checksum does not match: a word is mistyped or out of order"


def _spelling_problem(mnemonic: str, words: list[str]) -> str:
    """A byte-order mark, no words, or a word with non-letters or capitals; else ""."""
    if "\ufeff" in mnemonic:
        return "it starts with a byte-order mark (save the file as UTF-8 without BOM)"
    if not words:
        return "it is empty"
    for position, word in enumerate(words, 1):
        if not all(unicodedata.category(c).startswith(("L", "M")) for c in word):
            return f"word {position} has characters other than letters (numbering, punctuation?)"
        if word != word.lower():
            return f"word {position} has upper-case letters: BIP-39 words are lower case"
    return ""


def _known(word: str, language: Language) -> bool:
    """``word`` is in the language's list (eth-account detects the language by exact words)."""
    return unicodedata.normalize("NFKD", word) in _wordlist(language)


def _family(language: Language) -> str:
    """Simplified and traditional Chinese share words; eth-account takes them as one."""
    return "chinese" if "chinese" in language.value else language.value


@functools.cache
def _wordlist(language: Language) -> frozenset[str]:
    return frozenset(Mnemonic(language).wordlist)
