"""Session-wide dev chain and per-test isolation with evm_snapshot / evm_revert."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from bots.devtools.chainconfig import devchain_params
from bots.devtools.devchain import DevChainParams
from bots.devtools.network import load_network
from tests.chainfixtures import NAMES, World, rolled_back, start_world
from tests.faultproxy import FaultProxy


@pytest.fixture(scope="session")
def chain_params() -> DevChainParams:
    """Dev chain parameters from chain-config, with enough accounts for the named actors."""
    params = devchain_params(load_network())
    return dataclasses.replace(params, accounts=max(params.accounts, len(NAMES)))


@pytest.fixture(scope="session")
def session_world(chain_params: DevChainParams) -> Iterator[World]:
    yield from start_world(chain_params)


@pytest.fixture
def world(session_world: World) -> Iterator[World]:
    """The session's chain, rolled back after each test."""
    with rolled_back(session_world):
        yield session_world


@pytest.fixture
def book(fresh_book: Any, world: World) -> Any:
    """The module's `fresh_book` (deployed once per module); `world` undoes each test's changes.

    Modules that want it define a module-scoped `fresh_book` fixture.
    """
    return fresh_book


@pytest.fixture
def fault_proxy(world: World) -> Iterator[FaultProxy]:
    """A `FaultProxy` in front of the session's anvil, healthy until the test gives it a plan
    (`fault_proxy.configure(FaultPlan.every("garbage", 3))`); stopped after the test."""
    with FaultProxy(world.chain.url) as proxy:
        yield proxy
