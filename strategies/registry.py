"""Strategies by name: the built-ins plus plug-ins from the ``otcmm.strategies`` entry points.

A third-party package registers ``name = "module:Class"`` under that group and needs no change
to otcmm. Built-in names win over plug-ins of the same name, so a plug-in cannot silently
replace a strategy a config already relies on.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from strategies.api import Strategy, StrategyConfigError
from strategies.avellaneda_stoikov import AvellanedaStoikov
from strategies.bands import Bands
from strategies.fixed_spread import FixedSpread
from strategies.noise import Noise
from strategies.price_sensitive import PriceSensitive
from strategies.taker import Taker

ENTRY_POINT_GROUP = "otcmm.strategies"

BUILTINS: Mapping[str, type[Strategy[Any]]] = {
    cls.name: cls for cls in (AvellanedaStoikov, Bands, FixedSpread, Noise, PriceSensitive, Taker)
}


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def known_strategies() -> list[str]:
    """Sorted names of every strategy that :func:`get_strategy` can resolve."""
    return sorted(set(BUILTINS) | set(_plugins()))


def get_strategy(name: str) -> type[Strategy[Any]]:
    """The strategy class called ``name``; plug-ins are imported only when asked for."""
    if name in BUILTINS:
        return BUILTINS[name]
    entry = _plugins().get(name)
    if entry is None:
        known = ", ".join(known_strategies())
        raise StrategyConfigError(f"unknown strategy {name!r}; known: {known}")
    try:
        loaded = entry.load()
    except Exception as exc:  # a broken plug-in must name itself, not crash the bot opaquely
        raise StrategyConfigError(
            f"strategy {name!r} from entry point {entry.value!r} failed to load: {exc}"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Strategy)):
        raise StrategyConfigError(
            f"strategy {name!r} from entry point {entry.value!r} is not a Strategy subclass"
        )
    return loaded


def build_strategy(name: str, params: Mapping[str, Any]) -> Strategy[Any]:
    """Validate ``params`` with the strategy's own model and build the strategy.

    Raises :class:`StrategyConfigError` with one line per invalid field.
    """
    cls = get_strategy(name)
    try:
        model = cls.Params.model_validate(dict(params))
    except ValidationError as exc:
        lines = [
            f"strategy {name}: {'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise StrategyConfigError("\n".join(lines)) from exc
    return cls(model)
