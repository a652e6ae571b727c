"""The fault-injecting proxy itself: what each fault looks like on the wire, seeding, counts,
and that it stops without leaving a thread or a process behind."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.chainfixtures import World
from tests.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
SINGLE = {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []}
BATCH = [
    {"jsonrpc": "2.0", "id": 10 + i, "method": method, "params": []}
    for i, method in enumerate(("eth_chainId", "eth_blockNumber", "eth_gasPrice"))
]


def post(url: str, payload: Any, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of one raw HTTP POST; `http.client` errors propagate."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        connection.request("POST", "/", json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_healthy_proxy_forwards_singles_and_batches_unchanged(
    world: World, fault_proxy: FaultProxy
) -> None:
    assert post(fault_proxy.url, SINGLE) == post(world.chain.url, SINGLE)
    status, body = post(fault_proxy.url, BATCH)
    assert status == 200 and [a["id"] for a in json.loads(body)] == [10, 11, 12]
    assert fault_proxy.counts() == {
        "http_requests": 2,
        "received": {"eth_chainId": 2, "eth_blockNumber": 1, "eth_gasPrice": 1},
        "forwarded": {"eth_chainId": 2, "eth_blockNumber": 1, "eth_gasPrice": 1},
        "injected": {},
    }


def test_each_fault_looks_as_documented_on_the_wire(world: World, fault_proxy: FaultProxy) -> None:
    _, real = post(world.chain.url, SINGLE)

    def faulted(kind: str, payload: Any) -> tuple[int, bytes]:
        fault_proxy.configure(FaultPlan.every(kind, 1))
        return post(fault_proxy.url, payload)

    status, body = faulted("truncate", SINGLE)
    assert status == 200 and len(body) < len(real) and real.startswith(body)
    status, body = faulted("garbage", SINGLE)
    assert status == 200 and body != real
    with pytest.raises(ValueError):
        json.loads(body)
    assert faulted("http500", SINGLE)[0] == 500
    with pytest.raises(http.client.RemoteDisconnected):
        faulted("drop", SINGLE)
    with pytest.raises(http.client.IncompleteRead):
        faulted("cut", SINGLE)
    status, body = faulted("wrong_id", SINGLE)
    assert status == 200 and json.loads(body)["id"] != 7
    status, body = faulted("wrong_id", BATCH)
    assert sorted(a["id"] in (10, 11, 12) for a in json.loads(body)) == [False, True, True]
    status, body = faulted("shuffle", BATCH)
    ids = [a["id"] for a in json.loads(body)]
    assert sorted(ids) == [10, 11, 12] and ids != [10, 11, 12]
    assert faulted("shuffle", SINGLE) == (200, real)  # nothing to reorder: not a fault

    expected = dict.fromkeys(set(FAULT_KINDS) - {"delay"}, 1) | {"wrong_id": 2}
    assert fault_proxy.injected == expected
    # Every fault but the shuffled single happened after the node had the request.
    assert fault_proxy.forwarded["eth_chainId"] == 9


def test_a_fault_budget_ends_and_methods_restrict_what_is_eligible(
    world: World, fault_proxy: FaultProxy
) -> None:
    fault_proxy.configure(FaultPlan.every("http500", 2, methods=frozenset({"eth_blockNumber"})))
    statuses = [post(fault_proxy.url, SINGLE)[0]]  # eth_chainId: not eligible
    statuses += [post(fault_proxy.url, BATCH)[0] for _ in range(3)]  # holds eth_blockNumber
    assert statuses == [200, 500, 500, 200]
    assert fault_proxy.drawn == [None, "http500", "http500", None]


def test_the_same_seed_draws_the_same_faults(world: World) -> None:
    plans = [FaultPlan.mixed(0.5, seed=42), FaultPlan.mixed(0.5, seed=42)]
    drawn = []
    for plan in plans:
        with FaultProxy(world.chain.url, plan) as proxy:
            for _ in range(30):
                try:
                    post(proxy.url, BATCH)
                except http.client.HTTPException:
                    pass
            drawn.append(proxy.drawn)
    assert drawn[0] == drawn[1]
    assert 5 <= sum(kind is not None for kind in drawn[0]) <= 25


def test_stopping_wakes_a_delayed_request_and_leaves_no_thread(world: World) -> None:
    before = set(threading.enumerate())
    proxy = FaultProxy(world.chain.url, FaultPlan(rates={"delay": 1.0}, delay_s=600)).start()
    with pytest.raises(TimeoutError):
        post(proxy.url, SINGLE, timeout_s=0.2)  # its handler thread now waits 600 s
    proxy.stop()
    assert set(threading.enumerate()) == before
    assert proxy.forwarded == {}  # woken by stop: the delayed request was never forwarded


def test_the_proxy_runs_as_a_process_and_prints_its_counts_on_sigterm(world: World) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.faultproxy",
            "--upstream",
            world.chain.url,
            "--seed",
            "1",
            "--rate",
            "1",
            "--kinds",
            "garbage",
            "--max-faults",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        bodies = [post(url, SINGLE)[1] for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert [body.startswith(b'{"jsonrpc"') for body in bodies] == [False, False, True]
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["injected"] == {"garbage": 2} and counts["http_requests"] == 3


def test_the_process_refuses_bad_arguments_in_one_error_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.faultproxy", "--upstream", "http://x", "--rate", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("error: --rate must be between 0 and 1")
    assert "Traceback" not in done.stderr
