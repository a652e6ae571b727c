"""One bot tick, pure where it can be: snapshot -> decide -> guard -> reconcile -> execute.

Owns the chain view of a tick (`snapshot`), risk limits and safety stops (`limits`, `risk`), the
desired-vs-live diff (`reconcile`), sending the plan (`executor`), the wiring (`runner`) and the
metrics interface it reports to (`observer`). May import market, feeds and chain; must not import
service, seed, backtest, demo or cli (the service implements `observer`, not the other way).
"""
