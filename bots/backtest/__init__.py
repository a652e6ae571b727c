"""Backtests: replay a price path through the real contracts and the real bot code.

A backtest is not a simulator of the market: it starts a dev chain whose clock it controls,
deploys the same compiled contracts, and ticks in-process `bots.tick.runner.Bot` objects
through the same pipeline `otcmm run` uses (snapshot, strategy, risk guard, reconcile,
executor). Gas, rounding, partial fills and inventory locked in escrow are therefore the real ones.
The package reads left to right: `scenario` (the file), `pricepath` (the reference price), `world`
(accounts and contracts), `engine` (the step loop), `analytics` (P&L and its split),
`report`/`plots` (the output folder) and `sweep` (parameter grids); `bots.cli.backtest` is its
command. May import service, tick, market, feeds, chain and devtools; must not import seed, demo or
cli.
"""
