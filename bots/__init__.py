"""otcmm: automated traders for an on-chain escrow order book."""

__version__ = "0.1.0"
