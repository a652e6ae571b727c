"""The long-running bot process (`otcmm run`): config, lifecycle, probes and logs.

Owns the bot config (`config`), start-up (`process`), the tick schedule (`loop`), signals from
the first line on (`signals`), shutdown (`shutdown`), the state files: lock and kill switch
(`state`), the price anchor (`anchor`), journal writes that never block a send (`journalguard`),
`/metrics` `/healthz` `/readyz` (`health`), Prometheus metrics (`metrics`) and structured logs
(`logs`). May import tick and everything below it; must not import seed, backtest, demo or cli.
"""
