"""Typed clients of the deployed contracts: the market, its book and its tokens.

Owns the `OtcMarket` client (`client`: paginated views, batched reads, make/take/cancel/requote),
folding market events into a book (`book`), token metadata (`tokens`), the seed job's deployment
file of addresses (`deployment`) and holdings, trade tapes and conservation checks (`ledger`).
May import `bots.chain`; must not import tick, feeds, service, seed, backtest, demo or cli.
"""
