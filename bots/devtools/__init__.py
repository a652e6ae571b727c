"""Developer tooling: the compiler, the network file and its renders, the anvil dev chain.

Owns reproducible compiles (`compiler`, with the solc-js shim), `chain-config/network.toml`
(`network`), the chainspec and dev-chain renders (`chainspec`, `chainconfig`) and starting anvil
(`devchain`). Stands beside the runtime: must not import chain, market, tick, feeds, service,
seed, backtest, demo, k8s or cli.
"""
