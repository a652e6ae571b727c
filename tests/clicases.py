"""Bad input for every `otcmm` command: the table `tests/test_cli_table.py` runs.

Each case builds its command line in a `Workspace`: files that are not UTF-8, directories where
files belong, configs with one thing wrong, an RPC URL of a recorder that counts requests (a
command that refuses must send none) and an anvil that leaves a mark when started (a command
that refuses must start none). Secrets (a private key, a password, mnemonic words) are put
where a careless error message would repeat them; none may appear in the output.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bots.chain.keystore import create_keystore
from bots.devtools.devchain import anvil_binary

SECRET_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # noqa: S105
PASSWORD = "hunter2-correct-horse"  # noqa: S105 - test secrets that must never be echoed
# A valid BIP-39 test vector with its last word changed: the checksum fails. "sausage" is the
# word the output must not repeat.
BAD_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank winner"
SECRETS = (SECRET_KEY, SECRET_KEY[2:], PASSWORD, "sausage")
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BASE = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
QUOTE = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"


@dataclass
class Invocation:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Workspace:
    """A folder of inputs, good and bad, shared by the cases; `rpc(case)` is a per-case URL."""

    root: Path
    recorder_url: str

    def __post_init__(self) -> None:
        r = self.root
        (r / "not-utf8.toml").write_bytes(b"\xff\xfe = 1\n")
        (r / "a-file").write_text("not a directory\n", encoding="utf-8")
        (r / "a-dir").mkdir()
        (r / "password").write_text(PASSWORD + "\n", encoding="utf-8")
        (r / "wrong-password").write_text("not it\n", encoding="utf-8")
        (r / "key.hex").write_text(SECRET_KEY + "zz\n", encoding="utf-8")
        (r / "words").write_text(BAD_MNEMONIC + "\n", encoding="utf-8")
        (r / "good-words").write_text("test " * 11 + "junk\n", encoding="utf-8")
        (r / "keys").mkdir()
        create_keystore(r / "keys" / "bot.json", PASSWORD, scrypt_n=2**4)
        (r / "prices.csv").write_text("1,100\n2,101\n", encoding="utf-8")
        secrets = r / "secrets-not-utf8"
        secrets.mkdir()
        (secrets / "otcmm_name").write_bytes(b"\xff\xfe")
        deployment = {"chain_id": 8995, "market": MARKET, "assets": {}}
        (r / "deployment.json").write_text(json.dumps(deployment), encoding="utf-8")
        plan = r / "seed.toml"
        plan.write_text(
            '[[assets]]\nsymbol = "BND30"\nname = "Bond"\ndecimals = 2\nsupply = "10"\n'
            '[[participants]]\nname = "m"\nkeystore = "keys/new.json"\ngas = "1"\n',
            encoding="utf-8",
        )
        self.anvil = r / "anvil"
        self.anvil.write_text(
            f'#!/bin/sh\ntouch "$OTCMM_TEST_ANVIL_MARK"\nexec {anvil_binary()} "$@"\n',
            encoding="utf-8",
        )
        self.anvil.chmod(self.anvil.stat().st_mode | stat.S_IXUSR)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def rpc(self, case: str) -> str:
        return f"{self.recorder_url}/{case}"

    def config(self, case: str, **changes: str | None) -> str:
        """A bot config whose RPC is the recorder; `changes` replace (None: drop) top-level
        lines `key = value` or whole `[section]` bodies given as `section=...`."""
        lines = {
            "name": '"bot"',
            "rpc_url": json.dumps(self.rpc(case)),
            "market": json.dumps(MARKET),
            "base": json.dumps(BASE),
            "quote": json.dumps(QUOTE),
            "tick_interval_s": "5",
        }
        sections = {
            "keystore": 'path = "keys/bot.json"\npassword_file = "password"',
            "strategy": 'name = "fixed_spread"\nparams = { spread_bps = 40, size = 1000 }',
            "feed": 'kind = "static"\nprice = "100"',
        }
        for key, value in changes.items():
            target = sections if key in sections or key in ("rpc", "risk", "runtime") else lines
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        text = "".join(f"{k} = {v}\n" for k, v in lines.items())
        text += "".join(f"[{k}]\n{v}\n" for k, v in sections.items())
        path = self.root / f"bot-{case}.toml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def scenario(self, case: str, path: str) -> str:
        """A scenario whose price path is the csv file `path`."""
        file = self.root / f"scenario-{case}.toml"
        file.write_text(
            '[market]\nbase = { symbol = "B", decimals = 2 }\nquote = { symbol = "Q", '
            f'decimals = 2 }}\n[path]\nkind = "csv"\nfile = {json.dumps(path)}\n'
            '[[bots]]\nname = "mm"\nstrategy = { name = "fixed_spread", params = '
            "{ spread_bps = 40, size = 100 } }\n",
            encoding="utf-8",
        )
        return str(file)


Build = Callable[[Workspace, str], Invocation]


def argv(*args: str) -> Build:
    """A case that is only a command line; `{path}` names a workspace file."""

    def build(ws: Workspace, case: str) -> Invocation:
        return Invocation([a.format(ws=ws.root, rpc=ws.rpc(case)) for a in args])

    return build


def with_env(build: Build, **env: str) -> Build:
    def wrapped(ws: Workspace, case: str) -> Invocation:
        done = build(ws, case)
        done.env.update({k: v.format(ws=ws.root) for k, v in env.items()})
        return done

    return wrapped


def run_config(*flags: str, **changes: str | None) -> Build:
    """`run --config <a config with changes>` plus flags."""

    def build(ws: Workspace, case: str) -> Invocation:
        return Invocation(["run", "--config", ws.config(case, **changes), *flags])

    return build


def market(command: str, *args: str) -> Build:
    """`book` or `balances` on the recorder with explicit addresses, then `args`."""

    def build(ws: Workspace, case: str) -> Invocation:
        base = ["--rpc-url", ws.rpc(case), "--market", MARKET, "--base", BASE, "--quote", QUOTE]
        return Invocation([command, *base, *[a.format(ws=ws.root) for a in args]])

    return build


def backtest_csv(path: str, *flags: str) -> Build:
    def build(ws: Workspace, case: str) -> Invocation:
        file = path.format(ws=ws.root)
        return Invocation(["backtest", "--config", ws.scenario(case, file), *flags])

    return build


KS = "{ws}/keys/bot.json"
NEW = "{ws}/keys/new.json"
PW = ("--password-file", "{ws}/password")
BT = ("backtest", "--config", "examples/gbm_basket.toml")
SEED = ("seed", "--plan", "{ws}/seed.toml")

CASES: dict[str, dict[str, Build]] = {
    "compile": {
        "unknown compiler": argv("compile", "--compiler", "nope"),
    },
    "chain-config": {
        "unknown action": argv("chain-config", "bogus"),
        "no action": argv("chain-config"),
    },
    "devchain": {
        "port above 65535": argv("devchain", "--port", "70000"),
        "block time 0": argv("devchain", "--block-time", "0"),
        "block time not a number": argv("devchain", "--block-time", "abc"),
        "block time without interval mining": argv(
            "devchain", "--mode", "auto", "--block-time", "3"
        ),
    },
    "price-oracle": {
        "port above 65535": argv("price-oracle", "--port", "70000"),
        "negative port": argv("price-oracle", "--port", "-1"),
        "port in use": lambda ws, case: Invocation(
            ["price-oracle", "--port", ws.recorder_url.rsplit(":", 1)[1]]
        ),
        "start not a number": argv("price-oracle", "--start", "abc"),
        "negative start": argv("price-oracle", "--start", "-5"),
        "start nan": argv("price-oracle", "--start", "nan"),
        "negative volatility": argv("price-oracle", "--volatility", "-1"),
        "negative seed": argv("price-oracle", "--seed", "-1"),
    },
    "demo": {
        "duration 0": argv("demo", "--duration", "0"),
        "negative duration": argv("demo", "--duration", "-5"),
        "duration nan": argv("demo", "--duration", "nan"),
        "duration inf": argv("demo", "--duration", "inf"),
        "block time 0": argv("demo", "--block-time", "0"),
        "negative block time": argv("demo", "--block-time", "-1"),
        "workdir is a file": argv("demo", "--workdir", "{ws}/a-file"),
        "workdir under a file": argv("demo", "--workdir", "{ws}/a-file/sub"),
        "workdir a user's folder": argv("demo", "--workdir", "{ws}/keys"),
    },
    "roundtrip": {
        "unknown mode": argv("roundtrip", "--mode", "manual"),
    },
    "keystore new": {
        "keystore exists": argv("keystore", "new", KS, *PW),
        "no such directory": argv("keystore", "new", "{ws}/nowhere/k.json", *PW),
        "password file missing": argv("keystore", "new", NEW, "--password-file", "{ws}/none"),
        "password file not UTF-8": argv(
            "keystore", "new", NEW, "--password-file", "{ws}/not-utf8.toml"
        ),
        "no password, no terminal": argv("keystore", "new", NEW),
        "a key on the command line": argv("keystore", "new", NEW, "--key", SECRET_KEY),
    },
    "keystore import-mnemonic": {
        "mnemonic with a bad checksum": argv(
            "keystore", "import-mnemonic", NEW, "--mnemonic-file", "{ws}/words", *PW
        ),
        "mnemonic file missing": argv(
            "keystore", "import-mnemonic", NEW, "--mnemonic-file", "{ws}/none", *PW
        ),
        "negative index": argv("keystore", "import-mnemonic", NEW, "--index", "-1"),
        "index of 2**31": argv("keystore", "import-mnemonic", NEW, "--index", "2147483648"),
        "a key as the index": argv("keystore", "import-mnemonic", NEW, "--index", SECRET_KEY),
        "path component of 2**31": argv(
            "keystore",
            "import-mnemonic",
            NEW,
            "--mnemonic-file",
            "{ws}/good-words",
            "--path",
            "m/44'/60'/0'/0/2147483648",
            *PW,
        ),
    },
    "keystore import-key": {
        "a key on the command line": argv("keystore", "import-key", NEW, "--key", SECRET_KEY),
        "a key as an unknown argument": argv("keystore", "import-key", NEW, SECRET_KEY),
        "key file with a bad key": argv(
            "keystore", "import-key", NEW, "--key-file", "{ws}/key.hex", *PW
        ),
        "key file missing": argv("keystore", "import-key", NEW, "--key-file", "{ws}/none", *PW),
    },
    "keystore verify": {
        "wrong password": argv("keystore", "verify", KS, "--password-file", "{ws}/wrong-password"),
        "keystore missing": argv("keystore", "verify", "{ws}/keys/none.json", *PW),
        "keystore not UTF-8": argv("keystore", "verify", "{ws}/not-utf8.toml", *PW),
        "the password as an argument": argv("keystore", "verify", KS, "--password", PASSWORD),
    },
    "keystore address": {
        "keystore missing": argv("keystore", "address", "{ws}/keys/none.json"),
        "a directory": argv("keystore", "address", "{ws}/a-dir"),
        "not JSON": argv("keystore", "address", "{ws}/a-file"),
        "not UTF-8": argv("keystore", "address", "{ws}/not-utf8.toml"),
    },
    "run": {
        "config not UTF-8": argv("run", "--config", "{ws}/not-utf8.toml", "--check"),
        "config missing": argv("run", "--config", "{ws}/none.toml"),
        "config is a directory": argv("run", "--config", "{ws}/a-dir"),
        "strategy params from the environment are not JSON": with_env(
            run_config(), OTCMM_STRATEGY__PARAMS="{{bad"
        ),
        "secrets dir is a file": with_env(run_config("--check"), OTCMM_SECRETS_DIR="{ws}/a-file"),
        "secrets dir missing": with_env(run_config("--check"), OTCMM_SECRETS_DIR="{ws}/none"),
        "secret file not UTF-8": with_env(
            run_config("--check"), OTCMM_SECRETS_DIR="{ws}/secrets-not-utf8"
        ),
        "tick interval 1e308 from the environment": with_env(
            run_config(), OTCMM_TICK_INTERVAL_S="1e308"
        ),
        "tick interval 1e308 in the file": run_config(tick_interval_s="1e308"),
        "rpc timeout of a year": run_config(rpc="timeout_s = 31536000"),
        "chain id other than the deployment's": run_config(
            "--check", chain_id="5", deployment='"deployment.json"', market=None
        ),
        "keystore missing": run_config(
            keystore='path = "keys/none.json"\npassword_file = "password"'
        ),
        "password file missing": run_config(
            keystore='path = "keys/bot.json"\npassword_file = "none"'
        ),
        "no password": run_config(keystore='path = "keys/bot.json"'),
        "wrong password": run_config(
            keystore='path = "keys/bot.json"\npassword_file = "wrong-password"'
        ),
        "price file missing": run_config("--check", feed='kind = "csv"\npath = "none.csv"'),
        "base is the quote": run_config(quote=json.dumps(BASE)),
        "abbreviated --config": argv("run", "--conf", "{ws}/none.toml"),
    },
    "book": {
        "short market address": market("book", "--market", "0x123"),
        "depth 0": market("book", "--depth", "0"),
        "99 base decimals": market("book", "--base-decimals", "99"),
        "base is the quote": market("book", "--quote", BASE),
        "symbol without a deployment": market("book", "--base", "BND30"),
        "deployment missing": market("book", "--deployment", "{ws}/none.json", "--base", "BND30"),
        "deployment not UTF-8": market("book", "--deployment", "{ws}/not-utf8.toml"),
        "symbol not in the deployment": market(
            "book", "--deployment", "{ws}/deployment.json", "--base", "XYZ"
        ),
        "config not UTF-8": argv("book", "--config", "{ws}/not-utf8.toml"),
        "nothing to read": argv("book"),
    },
    "balances": {
        "short address": market("balances", "--address", "0x123"),
        "no address and no config": market("balances"),
        "config not UTF-8": argv("balances", "--config", "{ws}/not-utf8.toml"),
    },
    "k8s render": {
        "fleet not UTF-8": argv("k8s", "render", "--fleet", "{ws}/not-utf8.toml"),
        "fleet missing": argv("k8s", "render", "--fleet", "{ws}/none.toml"),
        "out is a file": argv("k8s", "render", "--out", "{ws}/a-file"),
        "out is a file, check": argv("k8s", "render", "--out", "{ws}/a-file", "--check"),
        "out a user's folder": argv("k8s", "render", "--out", "{ws}/keys"),
    },
    "seed": {
        "plan not UTF-8": argv(
            "seed", "--plan", "{ws}/not-utf8.toml", "--dev-account", "0", "--dry-run"
        ),
        "plan missing": argv("seed", "--plan", "{ws}/none.toml", "--dev-account", "0"),
        "negative dev account": argv(*SEED, "--dev-account", "-1", "--rpc-url", "{rpc}"),
        "dev account beyond the chain's": argv(*SEED, "--dev-account", "99", "--rpc-url", "{rpc}"),
        "deployment is a directory": argv(
            *SEED, "--dev-account", "0", "--deployment", "{ws}/a-dir", "--rpc-url", "{rpc}"
        ),
        "keystore missing": argv(
            *SEED, "--keystore", "{ws}/keys/none.json", *PW, "--rpc-url", "{rpc}"
        ),
        "wrong password": argv(
            *SEED, "--keystore", KS, "--password-file", "{ws}/wrong-password", "--rpc-url", "{rpc}"
        ),
        "chain id not a number": argv(*SEED, "--dev-account", "0", "--chain-id", "abc"),
        "a key on the command line": argv(*SEED, "--dev-account", "0", "--key", SECRET_KEY),
    },
    "fleet keystores": {
        "plan not UTF-8": argv("fleet", "keystores", "--plan", "{ws}/not-utf8.toml"),
        "plan missing": argv("fleet", "keystores", "--plan", "{ws}/none.toml"),
        "password file missing": argv(
            "fleet", "keystores", "--plan", "{ws}/seed.toml", "--password-file", "{ws}/none"
        ),
        "a password on the command line": argv(
            "fleet", "keystores", "--plan", "{ws}/seed.toml", "--password", PASSWORD
        ),
    },
    "backtest": {
        "scenario not UTF-8": argv("backtest", "--config", "{ws}/not-utf8.toml"),
        "scenario missing": argv("backtest", "--config", "{ws}/none.toml"),
        "out is a file": argv(*BT, "--out", "{ws}/a-file"),
        "sweep out is a file": argv(
            *BT, "--out", "{ws}/a-file", "--sweep", "bots.fixed.strategy.params.spread_bps=40,60"
        ),
        "no jobs": argv(*BT, "--jobs", "0"),
        "zero steps": argv(*BT, "--set", "steps=0"),
        "steps 1e308": argv(*BT, "--set", "steps=1e308"),
        "sweep without values": argv(*BT, "--sweep", "steps"),
        "sweep of an unknown bot": argv(*BT, "--sweep", "bots.nobody.strategy.params.size=1,2"),
        "unknown sweep metric": argv(*BT, "--sweep", "steps=5,6", "--metric", "nope"),
        "price file missing, check": backtest_csv("{ws}/none.csv", "--check"),
        "price file not UTF-8": backtest_csv("{ws}/not-utf8.toml", "--check"),
    },
}
"""{command: {what is wrong: how to build the command line}}; every command has entries."""


def env_for(ws: Workspace, case: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of one run: no `OTCMM_*` from outside, anvil replaced by the marker."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OTCMM_")}
    env.update(
        {
            "OTCMM_ANVIL": str(ws.anvil),
            "OTCMM_TEST_ANVIL_MARK": str(ws.root / f"anvil-started-{case}"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "PYTHON": sys.executable,
        }
    )
    env.update(extra)
    return env
