"""The market initializer (`otcmm seed`): deploy, issue, fund, offer, idempotently.

Owns the seed plan file (`plan`, with its human amounts in `amounts` and its two kinds of asset
in `assets`: AssetTokens it deploys and issues, tokens that exist already), the check of
existing tokens against their contracts (`existing`), the pure list of actions the plan implies
against the chain's state (`actions`) and whether the initializer can pay for them
(`preflight`), and their crash-safe execution: the run (`run`: settle, plan, send), sending each
transaction recorded first (`execute`) at a nonce that never moves (`sender`), settling what an
earlier run recorded (`settle`), and stopping at a boundary on SIGTERM/SIGINT (`interrupt`).
May import market and chain; must not import tick, service, backtest, demo or cli.
"""
