"""The market initializer (`otcmm seed`): deploy, issue, fund, offer, idempotently.

Owns the seed plan file (`plan`), the pure list of actions it implies against the chain's state
(`actions`) and their execution with a crash-safe deployment file (`run`).
May import market and chain; must not import tick, service, backtest, demo or cli.
"""
