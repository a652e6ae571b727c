"""AssetToken: an issuer-minted, optionally capped, burnable ERC20 for OTC assets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from bots.errors import TxError
from tests.chainfixtures import World

ISSUER_ROLE = Web3.keccak(text="ISSUER_ROLE")
ADMIN_ROLE = b"\x00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def reverts(error: str) -> Any:
    return pytest.raises(TxError, match=re.escape(error))


def events(token: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    found = token.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found if e["address"] == token.address]


def unauthorized(world: World, who: str, role: bytes) -> str:
    return f"AccessControlUnauthorizedAccount(account={world.addr(who)}, neededRole=0x{role.hex()})"


def test_constructor_sets_name_symbol_decimals_and_cap(world: World) -> None:
    token = world.deploy("AssetToken", "Bond 2031", "BND31", 4, 10**9, world.addr("alice"))

    assert token.functions.name().call() == "Bond 2031"
    assert token.functions.symbol().call() == "BND31"
    assert token.functions.decimals().call() == 4
    assert token.functions.cap().call() == 10**9
    assert token.functions.totalSupply().call() == 0
    assert token.functions.ISSUER_ROLE().call() == ISSUER_ROLE
    assert token.functions.hasRole(ADMIN_ROLE, world.addr("alice")).call()
    assert token.functions.hasRole(ISSUER_ROLE, world.addr("alice")).call()
    assert not token.functions.hasRole(ISSUER_ROLE, world.addr("deployer")).call()


def test_issuer_issues_to_a_holder_and_emits_issued(world: World) -> None:
    token = world.asset("BND")

    receipt = world.send("deployer", token.functions.issue(world.addr("alice"), 1_500))

    assert token.functions.balanceOf(world.addr("alice")).call() == 1_500
    assert token.functions.totalSupply().call() == 1_500
    issuer, alice = world.addr("deployer"), world.addr("alice")
    assert events(token, "Issued", receipt) == [{"issuer": issuer, "to": alice, "amount": 1_500}]
    assert events(token, "Transfer", receipt) == [
        {"from": ZERO_ADDRESS, "to": alice, "value": 1_500}
    ]


def test_non_issuer_cannot_issue(world: World) -> None:
    token = world.asset("BND")

    with reverts(unauthorized(world, "alice", ISSUER_ROLE)):
        world.send("alice", token.functions.issue(world.addr("alice"), 1))
    assert token.functions.totalSupply().call() == 0


def test_issuing_zero_reverts(world: World) -> None:
    token = world.asset("BND")

    with reverts("ZeroIssue()"):
        world.send("deployer", token.functions.issue(world.addr("alice"), 0))


def test_issue_up_to_the_cap_succeeds_and_beyond_it_reverts(world: World) -> None:
    token = world.asset("BND", cap=1_000)
    issue = token.functions.issue

    world.send("deployer", issue(world.addr("alice"), 600))
    with reverts("CapExceeded(cap=1000, supplyAfter=1001)"):
        world.send("deployer", issue(world.addr("bob"), 401))
    world.send("deployer", issue(world.addr("bob"), 400))
    with reverts("CapExceeded(cap=1000, supplyAfter=1001)"):
        world.send("deployer", issue(world.addr("bob"), 1))

    assert token.functions.totalSupply().call() == 1_000
    assert token.functions.balanceOf(world.addr("bob")).call() == 400


def test_burning_makes_room_under_the_cap(world: World) -> None:
    token = world.asset("BND", cap=1_000)
    world.send("deployer", token.functions.issue(world.addr("alice"), 1_000))

    world.send("alice", token.functions.burn(300))
    world.send("deployer", token.functions.issue(world.addr("bob"), 300))

    assert token.functions.totalSupply().call() == 1_000


def test_cap_zero_means_uncapped(world: World) -> None:
    token = world.asset("BND", cap=0)

    world.send("deployer", token.functions.issue(world.addr("alice"), 2**200))
    world.send("deployer", token.functions.issue(world.addr("alice"), 2**200))

    assert token.functions.totalSupply().call() == 2**201


def test_admin_grants_and_revokes_the_issuer_role(world: World) -> None:
    token = world.asset("BND")
    carol = world.addr("carol")

    world.send("deployer", token.functions.grantRole(ISSUER_ROLE, carol))
    world.send("carol", token.functions.issue(world.addr("dave"), 5))
    world.send("deployer", token.functions.revokeRole(ISSUER_ROLE, carol))

    assert token.functions.balanceOf(world.addr("dave")).call() == 5
    assert not token.functions.hasRole(ISSUER_ROLE, carol).call()
    with reverts(unauthorized(world, "carol", ISSUER_ROLE)):
        world.send("carol", token.functions.issue(world.addr("dave"), 5))


def test_the_admin_can_revoke_its_own_issuer_role(world: World) -> None:
    token = world.asset("BND")
    deployer = world.addr("deployer")

    world.send("deployer", token.functions.revokeRole(ISSUER_ROLE, deployer))

    with reverts(unauthorized(world, "deployer", ISSUER_ROLE)):
        world.send("deployer", token.functions.issue(world.addr("alice"), 1))


def test_non_admin_cannot_grant_the_issuer_role(world: World) -> None:
    token = world.asset("BND")

    with reverts(unauthorized(world, "alice", ADMIN_ROLE)):
        world.send("alice", token.functions.grantRole(ISSUER_ROLE, world.addr("alice")))
    assert not token.functions.hasRole(ISSUER_ROLE, world.addr("alice")).call()


def test_holders_burn_their_own_tokens(world: World) -> None:
    token = world.asset("BND")
    world.send("deployer", token.functions.issue(world.addr("alice"), 1_000))

    receipt = world.send("alice", token.functions.burn(250))

    assert token.functions.balanceOf(world.addr("alice")).call() == 750
    assert token.functions.totalSupply().call() == 750
    assert events(token, "Transfer", receipt) == [
        {"from": world.addr("alice"), "to": ZERO_ADDRESS, "value": 250}
    ]


def test_burning_more_than_held_reverts(world: World) -> None:
    token = world.asset("BND")
    world.send("deployer", token.functions.issue(world.addr("alice"), 10))

    with reverts(f"ERC20InsufficientBalance(sender={world.addr('alice')}, balance=10, needed=11)"):
        world.send("alice", token.functions.burn(11))


def test_burn_from_needs_an_allowance(world: World) -> None:
    token = world.asset("BND")
    world.send("deployer", token.functions.issue(world.addr("alice"), 100))

    with reverts("ERC20InsufficientAllowance("):
        world.send("bob", token.functions.burnFrom(world.addr("alice"), 10))
    world.send("alice", token.functions.approve(world.addr("bob"), 10))
    world.send("bob", token.functions.burnFrom(world.addr("alice"), 10))

    assert token.functions.balanceOf(world.addr("alice")).call() == 90
    assert token.functions.totalSupply().call() == 90
