"""The README's "Two bots trade on a dev chain" block, run by bash as a reader would run it.

Changed only where this machine needs it: free ports instead of 8545 and 8600 (the configs'
feed URL follows through `OTCMM_FEED__URL`), a temporary directory instead of `/tmp/market`, the
repository's virtualenv first on PATH (the README's "activated venv"), a cheap scrypt cost, and
one inserted line that waits (with a deadline) until the maker quotes, where a reader would
look at the book. Afterwards every process the block started must be gone.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.procs import MARK, none_left

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[1]
SECTION = "### Two bots trade on a dev chain"
WAIT = """\
deadline=$((SECONDS + 120))
until grep -q '"made": [1-9]' "$BOT_LOG"; do
  [ $SECONDS -lt $deadline ] || { echo "the maker never quoted" >&2; exit 1; }
  sleep 0.1
done"""


def walkthrough() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(SECTION) :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_walkthrough_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    chain, oracle = free_port(), free_port()
    script = walkthrough().replace("/tmp/market", str(tmp_path / "market"))  # noqa: S108
    script = script.replace("8545", str(chain)).replace("8600", str(oracle))
    lines = script.splitlines()
    last_bot = max(i for i, line in enumerate(lines) if line.startswith("otcmm run "))
    lines.insert(last_bot + 1, WAIT)
    script = 'set -e\nexec 2>"$BOT_LOG"\n' + "\n".join(lines) + "\n"
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTCMM_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "OTCMM_FEED__URL": f"http://127.0.0.1:{oracle}/",
        "OTCMM_SCRYPT_N": "1024",
        "BOT_LOG": str(tmp_path / "stderr.log"),
        MARK: token,
    }
    # Output to a file, not a pipe: a job the block failed to stop would hold a pipe open.
    with (tmp_path / "stdout.log").open("w") as out:
        try:
            code = subprocess.run(
                ["bash", "-c", script], cwd=REPO, env=env, stdout=out, timeout=600
            ).returncode
        finally:
            none_left(token)
    stdout = (tmp_path / "stdout.log").read_text(encoding="utf-8")
    log = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert code == 0, f"{stdout}\n--- stderr:\n{log}"
    assert "Traceback" not in log
    assert log.count("all own offers cancelled; bye") == 2, log  # both bots, after SIGTERM
    book = stdout[stdout.index("side ") :]
    assert "maker-spread (own)" in book and "---- mid " in book, stdout
    assert re.search(r"^0x[0-9a-fA-F]{40}  ", stdout, re.M), stdout  # the balances row
