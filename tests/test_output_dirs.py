"""Output folders otcmm did not make are never written into (`bots.outputs.owned_dir`,
`bots.k8s.render.foreign_files`): `demo --workdir` and `k8s render --out` refuse a user's
non-empty folder before starting anything, and take their own folders from an earlier run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bots.demo.session import WORKDIR_MARKER, prepare_workdir
from tests.clirun import NO_ANVIL
from tests.clirun import otcmm as run_otcmm

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"


def otcmm(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_otcmm(*args, cwd=cwd, env=NO_ANVIL)


def one_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("otcmm: error: "), result.stderr
    assert text in lines[0], lines[0]


def test_demo_refuses_a_users_folder_and_touches_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "seed.toml").write_text("my own plan\n")
    (mine / "password").write_text("my password\n")
    result = otcmm("demo", "--workdir", str(mine), "--duration", "1")
    one_line(result, 2, f"--workdir {mine}: the folder is not empty and otcmm did not make it")
    assert sorted(p.name for p in mine.iterdir()) == ["password", "seed.toml"]
    assert (mine / "seed.toml").read_text() == "my own plan\n"
    assert (mine / "password").read_text() == "my password\n"


def test_a_demo_workdir_is_cleared_for_a_rerun(tmp_path: Path) -> None:
    workdir = prepare_workdir(tmp_path / "demo")
    assert (workdir / WORKDIR_MARKER).is_file() and (workdir / "seed.toml").is_file()
    (workdir / "deployment.json").write_text('{"chain_id": 1, "market": "0x..."}')
    (workdir / "state").mkdir()
    (workdir / "state" / "maker-as.journal").write_text("old chain\n")
    (workdir / "logs").mkdir()
    (workdir / "logs" / "maker-as.log").write_text("started on the old chain\n")
    again = prepare_workdir(workdir)  # the earlier demo's chain is gone: so is its state
    assert not (again / "deployment.json").exists()
    assert not (again / "state").exists() and not (again / "logs").exists()
    assert (again / WORKDIR_MARKER).is_file() and (again / "seed.toml").is_file()
    assert (again / "password").read_text().strip() == "otcmm-demo-only"


def _fleet_copy(tmp_path: Path) -> Path:
    shutil.copytree(K8S / "bots", tmp_path / "bots")
    shutil.copytree(K8S / "base" / "seed", tmp_path / "base" / "seed")
    shutil.copy(K8S / "fleet.toml", tmp_path / "fleet.toml")
    return tmp_path / "fleet.toml"


def test_k8s_render_refuses_to_overwrite_a_users_kustomization(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "kustomization.yaml").write_text("resources: [my-app.yaml]\n")
    result = otcmm("k8s", "render", "--fleet", str(fleet), "--out", str(out))
    one_line(result, 2, f"--out {out}: holds files otcmm did not render (kustomization.yaml)")
    assert [p.name for p in out.iterdir()] == ["kustomization.yaml"]
    assert (out / "kustomization.yaml").read_text() == "resources: [my-app.yaml]\n"


def test_k8s_render_refuses_a_folder_of_other_files_and_rerenders_its_own(
    tmp_path: Path,
) -> None:
    fleet = _fleet_copy(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    one_line(
        otcmm("k8s", "render", "--fleet", str(fleet), "--out", str(other)),
        2,
        "holds files otcmm did not render (notes.txt)",
    )
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    out = tmp_path / "out"
    for _ in range(2):  # a new folder, then the same folder otcmm rendered
        result = otcmm("k8s", "render", "--fleet", str(fleet), "--out", str(out))
        assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("0 files changed\n")
    check = otcmm("k8s", "render", "--fleet", str(fleet), "--out", str(out), "--check")
    assert check.returncode == 0, check.stderr


def test_k8s_render_of_the_repositorys_own_folder_still_checks() -> None:
    result = otcmm("k8s", "render", "--check")
    assert result.returncode == 0, result.stderr
