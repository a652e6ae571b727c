"""The otcmm error hierarchy.

Every error a user can cause or fix is an `OtcmmError`; the CLI prints its message as one line
and exits with its `exit_code`. Anything else is a bug and keeps its traceback.
"""


class OtcmmError(Exception):
    """Root of all user-facing otcmm errors."""

    exit_code = 1


class ConfigError(OtcmmError):
    """Invalid configuration or input file."""

    exit_code = 2


class KeystoreError(OtcmmError):
    """A keystore is missing, malformed, locked with another password, or cannot be written.

    Messages never contain secret material.
    """

    exit_code = 2


class ToolchainError(OtcmmError):
    """A required external tool (compiler, anvil) is missing or failed."""

    exit_code = 3


class CompileError(ToolchainError):
    """The Solidity compiler reported errors."""


class DevChainError(ToolchainError):
    """The managed dev chain could not be started or stopped."""


class ChainError(OtcmmError):
    """The node refused a request or a transaction failed."""

    exit_code = 4


class TxError(ChainError):
    """A transaction reverted or was not mined; carries the decoded reason."""

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TxPending(TxError):
    """A transaction of ours is still pending: nothing new was sent (see `Transactor`)."""


class ForeignTransactionError(ChainError):
    """Someone else sent from this account (another process on the same keystore, a wallet).

    A bot cannot trade safely then: two senders race on the same offers and nonces. Exit 6.
    """

    exit_code = 6


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) raised in the main thread of an otcmm command.

    Raised as an exception, not left to the default action, so every `with` and `finally` on
    the way out runs: dev chains stop, sweep workers end, bot processes are told to stop. A
    `KeyboardInterrupt`, so code that handles Ctrl-C handles the other signals alike. The CLI
    exits with the shell's code for the signal, 128 + `signum` (130 SIGINT, 143 SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
