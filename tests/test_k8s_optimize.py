"""k8s/optimize, checked offline: the optimiser's Indexed Job and its PostgreSQL, built with the
real kustomize and validated against the Kubernetes schemas (strict), then the properties the
Job relies on: N indexed workers, the storage URL from a Secret only, restricted pods with no
fixed UID, the real CLI flags, and the scenario copies equal to examples/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bots.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
KUBECTL = Path(sys.executable).with_name("kubectl")
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(REPO / "k8s" / "optimize")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def test_every_object_validates_against_its_schema(docs: list[dict[str, Any]]) -> None:
    assert {d["kind"] for d in docs} == {
        "Job", "StatefulSet", "Service", "ConfigMap", "NetworkPolicy",
    }  # fmt: skip
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_job_runs_n_indexed_workers_of_one_study(docs: list[dict[str, Any]]) -> None:
    job = one(docs, "Job")["spec"]
    assert job["completionMode"] == "Indexed"  # each pod gets $JOB_COMPLETION_INDEX
    assert job["completions"] == job["parallelism"] >= 2
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # backoffLimitPerIndex needs it
    (worker,) = job["template"]["spec"]["containers"]
    args = build_parser().parse_args(worker["command"][1:])  # the real CLI accepts it
    assert args.optimize and args.study == "bond-day" and args.jobs == 1
    assert args.worker_index is None  # taken from $JOB_COMPLETION_INDEX
    assert args.config == Path("/etc/otcmm/scenario/bond_day.toml")


def test_the_storage_url_comes_from_a_secret_never_a_literal(docs: list[dict[str, Any]]) -> None:
    job = one(docs, "Job")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in job["containers"][0]["env"]}
    assert env["OTCMM_STUDY_STORAGE"]["valueFrom"]["secretKeyRef"] == {
        "name": "otcmm-optuna-storage",
        "key": "url",
    }
    text = json.dumps(docs)
    assert "postgresql://" not in text and "password" not in json.dumps(job["containers"])
    db = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    secret_envs = [e for e in db["env"] if e["name"] in ("POSTGRESQL_USER", "POSTGRESQL_PASSWORD")]
    assert all("valueFrom" in e and "value" not in e for e in secret_envs)
    service = one(docs, "Service")
    assert service["metadata"]["name"] == "otcmm-optuna-db"  # what the URL names
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "otcmm-optimize"}}}
    ]


def test_pods_suit_openshift_restricted_scc(docs: list[dict[str, Any]]) -> None:
    """Non-root, no fixed UID or fsGroup (restricted-v2 assigns them), nothing privileged; the
    workers' root filesystem is read-only (they write to emptyDirs only)."""
    assert "runAsUser" not in json.dumps(docs) and "fsGroup" not in json.dumps(docs)
    for kind in ("Job", "StatefulSet"):
        pod = one(docs, kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"] and container["resources"]["limits"]
    worker = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    assert {"/tmp", "/work"} <= mounts  # noqa: S108  ($HOME, matplotlib's cache, the report)


def test_the_scenario_configmap_is_the_example_and_validates(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    data = one(docs, "ConfigMap")["data"]
    for name in ("bond_day.toml", "bond_path.csv"):
        assert data[name] == (REPO / "examples" / name).read_text(), name
        (tmp_path / name).write_text(data[name])
    result = subprocess.run(
        [sys.executable, "-m", "bots.cli", "backtest", "--config", str(tmp_path / "bond_day.toml"),
         "--optimize", "--study", "bond-day", "--check"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
