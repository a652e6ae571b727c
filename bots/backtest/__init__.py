"""Backtests: replay a price path through the real contracts and the real bot code.

A backtest is not a simulator of the market: it starts a dev chain whose clock it controls,
deploys the same compiled contracts, and ticks in-process `bots.runner.Bot` objects through the
same pipeline `otcmm run` uses (snapshot, strategy, risk guard, reconcile, executor). Gas,
rounding, partial fills and inventory locked in escrow are therefore the real ones. The package
reads left to right: `scenario` (the file), `pricepath` (the reference price), `world` (accounts
and contracts), `engine` (the step loop), `analytics` (P&L and its split), `report`/`plots`
(the output folder), `sweep` (parameter grids) and `cli` (`otcmm backtest`).
"""
