"""The long-running bot process (`otcmm run`): config, lifecycle, probes and logs.

Owns the bot config (`config`), start-up, the tick schedule, signals and shutdown (`process`),
`/metrics` `/healthz` `/readyz` (`health`), Prometheus metrics (`metrics`) and structured logs
(`logs`). May import tick and everything below it; must not import seed, backtest, demo or cli.
"""
