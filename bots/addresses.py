"""The one check of an address a person typed: 0x hex, and its EIP-55 checksum when it has one.

Used wherever a user types an address (bot configs, seed plans, CLI flags, the network file).
As wallets do, an address in all lower case or all upper case hex carries no checksum and is
accepted as is; a mixed-case address *is* a checksum, so one wrong letter case means a typo
somewhere in it and the address is refused. The message does not offer a "corrected" spelling:
the typo may be a wrong digit, and the checksum of a wrong address is just another address.
"""

from __future__ import annotations

from functools import lru_cache

from eth_typing import ChecksumAddress
from eth_utils.address import (
    is_checksum_address,
    is_checksum_formatted_address,
    is_hex_address,
    to_checksum_address,
)


def checked_address(value: str) -> ChecksumAddress:
    """``value`` as an EIP-55 checksummed address.

    Accepts ``0x`` + 40 hex digits in lower case, upper case or with a correct EIP-55 checksum.
    Raises ``ValueError`` with a one-line message naming ``value`` (public, safe to show;
    callers prefix the field or flag) otherwise: not 0x-prefixed 20-byte hex, or mixed case
    with a wrong checksum.
    """
    if not (isinstance(value, str) and value.startswith("0x") and is_hex_address(value)):
        raise ValueError(f"{value!r} is not an address: expected 0x and 40 hex digits")
    if is_checksum_formatted_address(value) and not is_checksum_address(value):
        raise ValueError(
            f"{value!r} has a bad EIP-55 checksum (a mistyped character?): copy it again"
        )
    return to_checksum_address(value)


@lru_cache(maxsize=1 << 16)
def checksum(address: str) -> ChecksumAddress:
    """`address` (any case, from the chain) in EIP-55 form, cached: a bot sees the same few
    hundred addresses every tick, and each checksum costs a keccak."""
    return to_checksum_address(address)
