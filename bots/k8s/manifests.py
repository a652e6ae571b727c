"""The Kubernetes objects of one bot: its config, journal volume and Deployment.

Every bot gets the same shape: one replica with the `Recreate` strategy (two pods must never
sign with one keystore at once), its keystore mounted read-only from a Secret, probes on the
metrics port, a restricted security context and time enough on SIGTERM to cancel its offers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bots.k8s.fleet import BotEntry, Fleet

_BOT_KEY_DIR = "/var/run/secrets/otcmm/bot"
WIRING = {
    "name": None,
    "rpc_url": None,
    "deployment": "/etc/otcmm/deployment/deployment.json",
    "keystore__path": f"{_BOT_KEY_DIR}/keystore.json",
    "keystore__password_file": f"{_BOT_KEY_DIR}/password",
    "runtime__metrics_host": "0.0.0.0",  # noqa: S104 - the kubelet probes the pod's address
    "runtime__metrics_port": "9100",
    "runtime__journal": "/var/lib/otcmm/journal.jsonl",
    "runtime__state_dir": "/var/lib/otcmm",
    "runtime__log_format": "json",
}
"""`OTCMM_*` settings the Deployment sets (None: per bot or per fleet); bot files must not."""


def wiring(name: str, fleet: Fleet) -> dict[str, str]:
    per_bot = {"name": name, "rpc_url": fleet.rpc_url}
    return {key: value or per_bot[key] for key, value in WIRING.items()}


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "otcmm-bot",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "bot",
        "app.kubernetes.io/part-of": "otcmm",
    }


def bot_objects(name: str, bot: BotEntry, fleet: Fleet, toml_text: str) -> list[dict[str, Any]]:
    """ConfigMap (bot.toml), journal PVC and Deployment of one bot.

    One replica with the Recreate strategy: a rollout stops the old pod (which cancels its
    offers on SIGTERM) before the new one starts, so two processes never sign with one key.
    """
    size = fleet.sizing(bot)
    full = f"otcmm-bot-{name}"
    labels = _labels(name)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": full, "labels": labels},
        "data": {"bot.toml": toml_text},
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{full}-state", "labels": labels},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size["state_size"]}},
        },
    }
    checksum = hashlib.sha256(toml_text.encode()).hexdigest()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": full, "labels": labels},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {k: labels[k] for k in list(labels)[:2]}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"otcmm.io/config-sha256": checksum}},
                "spec": _pod_spec(name, bot, fleet, size),
            },
        },
    }
    return [config_map, claim, deployment]


def _pod_spec(name: str, bot: BotEntry, fleet: Fleet, size: dict[str, Any]) -> dict[str, Any]:
    env = [{"name": f"OTCMM_{k.upper()}", "value": v} for k, v in wiring(name, fleet).items()]
    container: dict[str, Any] = {
        "name": "bot",
        "image": "otcmm",
        "command": ["otcmm", "run", "--config", "/etc/otcmm/bot/bot.toml"],
        "workingDir": "/var/lib/otcmm",
        "env": env,
        "ports": [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}],
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        "resources": {
            "requests": {"cpu": size["cpu_request"], "memory": size["memory_request"]},
            "limits": {"cpu": size["cpu_limit"], "memory": size["memory_limit"]},
        },
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/otcmm/bot", "readOnly": True},
            {"name": "deployment", "mountPath": "/etc/otcmm/deployment", "readOnly": True},
            {"name": "keystore", "mountPath": _BOT_KEY_DIR, "readOnly": True},
            {"name": "state", "mountPath": "/var/lib/otcmm"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  (an emptyDir: $HOME of the image)
        ],
    }
    if bot.env_secret:
        container["envFrom"] = [{"secretRef": {"name": bot.env_secret}}]
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": size["termination_grace_period_s"],
        "securityContext": POD_SECURITY,
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": f"otcmm-bot-{name}"}},
            # Published by the seed Job: until it exists the pod waits in ContainerCreating.
            {"name": "deployment", "configMap": {"name": "otcmm-deployment"}},
            {
                "name": "keystore",
                "secret": {"secretName": bot.keystore_secret, "defaultMode": 0o440},
            },
            {"name": "state", "persistentVolumeClaim": {"claimName": f"otcmm-bot-{name}-state"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }


POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 1001,
    "fsGroup": 1001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""Plain Kubernetes needs a UID; the OpenShift overlay removes the fixed ids (the SCC assigns)."""
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "metrics"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 3,
    }


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def seed_patch(secrets: dict[str, str]) -> dict[str, Any]:
    """Strategic-merge patch giving the seed Job each participant bot's keystore file only."""
    sources = [
        {"secret": {"name": secret, "items": [{"key": "keystore.json", "path": f"{name}.json"}]}}
        for name, secret in sorted(secrets.items())
    ]
    volume = {"name": "participants", "projected": {"defaultMode": 0o440, "sources": sources}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "otcmm-seed"},
        "spec": {"template": {"spec": {"volumes": [volume]}}},
    }


# A small YAML writer: the output is read by kustomize and reviewed by people, and PyYAML is
# not a runtime dependency. Strings that could be read as anything else are JSON-quoted (JSON
# strings are valid YAML), multi-line text becomes a literal block so bot.toml stays readable.
