"""Kubernetes / OpenShift manifests of the bot fleet (`otcmm k8s render`).

Owns the fleet file (`fleet`), the per-bot objects (`manifests`), rendering and staleness checks
(`render`) and the YAML writer (`yamlwrite`). May read bot configs and seed plans (service, seed)
to validate them; must not import tick, backtest, demo or cli.
"""
