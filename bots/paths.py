"""Where otcmm finds its repository-level files (artifacts, chain config, node tools).

otcmm runs from a checkout (developers, CI) or from a container image that holds the checkout,
so these are located relative to the package; `OTCMM_HOME` overrides for unusual layouts.
"""

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("OTCMM_HOME", Path(__file__).resolve().parents[1]))
NODE_MODULES = REPO_ROOT / "node_modules"
CHAIN_CONFIG_DIR = REPO_ROOT / "chain-config"
CONTRACTS_DIR = REPO_ROOT / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"  # committed artifacts: the runtime never compiles
