"""The whole product on one machine (`otcmm demo`, `otcmm roundtrip`).

Owns the demo session (`session`: dev chain, price service, seed job, bot processes), the seeded
reference-price service (`oracle`), the live view, the final report and the one-trade roundtrip.
May import seed, service, tick, market, feeds, chain and devtools; must not import backtest or cli.
"""
