"""Process-wide structured logging: JSON lines in containers, a readable console on a TTY.

Context bound with `structlog.contextvars.bind_contextvars(bot=..., tick=..., tx_hash=...)`
appears on every line, including lines from stdlib `logging` users (bots.chain.keystore,
web3), which are routed through the same processors so a container emits nothing but JSON. Every
line passes a redaction step first: a bot runs with a keystore password and a node URL that may
carry credentials, and neither may reach a log shipper. The event text itself is not inspected, so
never format secrets into it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from bots.chain.keystore import Secret
from bots.chain.redact import redact_url

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL}
_SENSITIVE_KEYS = ("password", "secret", "private_key", "mnemonic", "keystore_password")
_MASK = "***"
_HANDLER_NAME = "otcmm"
# Libraries whose debug output is a flood of raw requests with full endpoint URLs (API keys
# included): they speak at warning level whatever level the bot runs at.
_NOISY_LIBRARIES = ("web3", "urllib3", "apscheduler", "requests", "tzlocal")


def _redact_value(key: str, value: Any) -> Any:
    lowered = key.lower()
    if isinstance(value, Secret) or any(word in lowered for word in _SENSITIVE_KEYS):
        return _MASK
    if isinstance(value, str) and "url" in lowered:
        return redact_url(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor masking secret-named keys, `Secret` values and URL credentials.

    Nested mappings (a dumped config) are masked too; sequences are not walked.
    """
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


class _NamedWriteLogger(structlog.WriteLogger):
    """Keeps the name given to `get_logger`, as stdlib loggers do.

    WriteLogger, not PrintLogger: it writes each line in one call, so lines from the stdlib
    handler sharing the stream cannot land in the middle of one.
    """

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


def _add_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault("logger", name)
    return event_dict


def _level(level: str) -> int:
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        choices = ", ".join(_LEVELS)
        raise ValueError(f"invalid log level {level!r}; choose one of {choices}") from None


def _renderer(fmt: Literal["auto", "json", "console"], out: TextIO) -> list[Processor]:
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    if fmt == "console":
        # plain_traceback: rich's formatter (used when rich happens to be installed) prints
        # frame locals, which can hold a decrypted key.
        console = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        return [console]
    if fmt == "json":
        # default=str renders Decimal amounts exactly rather than as repr().
        return [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ]
    raise ValueError(f"invalid log format {fmt!r}; choose one of auto, json, console")


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the stdlib root logger; safe to call again to reconfigure.

    Loggers are not cached on first use, so module-level loggers follow a reconfiguration
    (tests do this); the cost is negligible at a bot's log rate.
    """
    numeric = _level(level)
    out = sys.stderr if stream is None else stream
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    tail = _renderer(fmt, out)
    structlog.configure(
        processors=[_add_name, *shared, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda name=None, *_: _NamedWriteLogger(out, name),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, numeric, shared, tail)


def _route_stdlib(out: TextIO, level: int, shared: list[Processor], tail: list[Processor]) -> None:
    """Send stdlib records (keystore, web3) through the same chain, their `extra` included."""
    add_logger_name = structlog.stdlib.add_logger_name
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Its "skipped: maximum number of running instances reached" warnings would flood the log
    # whenever ticks overrun; the service counts those itself (otcmm_ticks_skipped_total).
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """A logger carrying `logger=name`; it follows later `configure_logging` calls."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
