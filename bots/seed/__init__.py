"""The market initializer (`otcmm seed`): deploy, issue, fund, offer, idempotently.

Owns the seed plan file (`plan`), the pure list of actions it implies against the chain's state
(`actions`), and their crash-safe execution: the run (`run`: settle, plan, send), sending each
transaction recorded first (`execute`) at a nonce that never moves (`sender`), settling what an
earlier run recorded (`settle`), and stopping at a boundary on SIGTERM/SIGINT (`interrupt`).
May import market and chain; must not import tick, service, backtest, demo or cli.
"""
