"""The seed Job's steps around `otcmm seed`: wait for the chain, fetch and publish the deployment.

    wait-chain  until the RPC node answers and has sealed a block (validators are up)
    fetch       restore deployment.json from the `otcmm-deployment` ConfigMap when the Job's
                volume lost it, so a re-run resumes instead of deploying a second market
    publish     write deployment.json into that ConfigMap, which every bot mounts

Standard library only (the Kubernetes API through the pod's service account token and
`urllib`), so the otcmm image needs no Kubernetes client; it is mounted from a ConfigMap. The
service account may get, patch and create ConfigMaps, get and patch only `otcmm-deployment`
(see rbac.yaml). `OTCMM_K8S_API` and `OTCMM_K8S_SA_DIR` override the in-cluster defaults for
tests. Exit code 2 and one line on stderr on failure; nothing secret is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
LABELS = {"app.kubernetes.io/part-of": "otcmm", "app.kubernetes.io/component": "seed"}


class JobError(Exception):
    """A failure worth one line in the Job's log."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        message: str = args.handler(args)
    except (JobError, OSError, ValueError) as exc:
        print(f"seed-job: error: {exc}", file=sys.stderr)
        return 2
    print(f"seed-job: {message}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seed_job.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    wait = sub.add_parser("wait-chain")
    wait.add_argument("--rpc-url", required=True)
    wait.add_argument("--min-block", type=int, default=1)
    wait.add_argument("--timeout", type=float, default=900.0)
    wait.add_argument("--interval", type=float, default=5.0)
    wait.set_defaults(handler=wait_chain)
    for name, handler in (("fetch", fetch), ("publish", publish)):
        step = sub.add_parser(name)
        step.add_argument("--configmap", default="otcmm-deployment")
        step.add_argument("--key", default="deployment.json")
        step.add_argument("--file", type=Path, required=True)
        step.set_defaults(handler=handler)
    return p


def wait_chain(args: argparse.Namespace) -> str:
    """Poll `eth_blockNumber`: the seed must not send into a chain whose validators are down."""
    _http_only(args.rpc_url)
    deadline = time.monotonic() + args.timeout
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    last = "no answer yet"
    while time.monotonic() < deadline:
        request = urllib.request.Request(  # noqa: S310  (scheme checked by _http_only)
            args.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                block = int(json.load(response)["result"], 16)
            if block >= args.min_block:
                return f"chain is up at block {block}"
            last = f"block {block}"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            last = type(exc).__name__
        time.sleep(args.interval)
    raise JobError(f"no block >= {args.min_block} after {args.timeout:.0f}s (last: {last})")


def fetch(args: argparse.Namespace) -> str:
    """Restore the file from the ConfigMap unless the volume still has it (it is newer)."""
    if args.file.exists():
        return f"{args.file} exists: kept"
    config_map = _api("GET", args.configmap)
    if config_map is None or args.key not in config_map.get("data", {}):
        return f"no published {args.key} yet: the seed starts afresh"
    args.file.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.file.with_suffix(".fetching")
    tmp.write_text(config_map["data"][args.key], encoding="utf-8")
    tmp.replace(args.file)
    return f"restored {args.file} from ConfigMap {args.configmap}"


def publish(args: argparse.Namespace) -> str:
    """Create the ConfigMap or merge-patch its one key; bots see the update on their volume."""
    text = args.file.read_text(encoding="utf-8")
    json.loads(text)  # never publish a torn or foreign file
    if _api("GET", args.configmap) is None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": args.configmap, "labels": LABELS},
            "data": {args.key: text},
        }
        _api("POST", None, body)
        return f"created ConfigMap {args.configmap}"
    _api("PATCH", args.configmap, {"metadata": {"labels": LABELS}, "data": {args.key: text}})
    return f"updated ConfigMap {args.configmap}"


def _api(method: str, name: str | None, body: dict[str, Any] | None = None) -> Any:
    """One call to the namespace's ConfigMaps; None for 404 on GET."""
    sa_dir = Path(os.environ.get("OTCMM_K8S_SA_DIR", SA_DIR))
    namespace = (sa_dir / "namespace").read_text(encoding="utf-8").strip()
    base = os.environ.get("OTCMM_K8S_API") or _in_cluster_api()
    url = f"{_http_only(base).rstrip('/')}/api/v1/namespaces/{namespace}/configmaps"
    url += f"/{name}" if name else ""
    headers = {"Authorization": "Bearer " + (sa_dir / "token").read_text().strip()}
    headers["Content-Type"] = (
        "application/merge-patch+json" if method == "PATCH" else "application/json"
    )
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    context = (
        ssl.create_default_context(cafile=str(sa_dir / "ca.crt")) if url[:6] == "https:" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and method == "GET":
            return None
        reason = json.loads(exc.read() or b"{}").get("message", exc.reason)
        raise JobError(f"{method} configmaps/{name or ''}: HTTP {exc.code}: {reason}") from None


def _in_cluster_api() -> str:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if not host or not port:
        raise JobError("not in a pod: KUBERNETES_SERVICE_HOST/PORT unset (or set OTCMM_K8S_API)")
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _http_only(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise JobError(f"not an http(s) URL: {url!r}")
    return url


if __name__ == "__main__":
    sys.exit(main())
