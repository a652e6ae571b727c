"""Reference prices at the I/O edge: where a strategy's price comes from.

Owns the price sources (`sources`: static, csv, http, gbm, the market's own book, fallback), their
config specs (`spec`) and the price-file reader shared with backtests (`pricefile`).
Must not import tick, market, service, seed, backtest, demo or cli: feeds know only prices.
"""
