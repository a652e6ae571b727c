#!/usr/bin/env bash
# Deploy the market to the current kubectl/oc context, in dependency order:
#   namespace -> secrets check -> (OpenShift: image build) -> network policies and PoA network
#   -> wait for the validators and the RPC node -> seed Job -> wait for it -> bots.
#
#   k8s/scripts/deploy.sh [OVERLAY]          OVERLAY: dev (default), openshift, openethereum
#
# Environment: KUBECTL (kubectl or oc; default: oc for openshift, else what is on PATH),
# OTCMM_TIMEOUT (seconds per rollout wait, 600), OTCMM_SEED_TIMEOUT (1800),
# OTCMM_BUILD (openshift only: dir = build this checkout (default), git = build the
# BuildConfig's Git source, skip = use the image already in the ImageStream).
# Safe to re-run: applies are idempotent and the seed sends only what is missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

overlay=${1:-dev}
overlay_dir=$k8s_dir/overlays/$overlay
[[ -d $overlay_dir ]] || die "no overlay $overlay_dir"
timeout=${OTCMM_TIMEOUT:-600}
seed_timeout=${OTCMM_SEED_TIMEOUT:-1800}
kc=$(pick_kubectl "$overlay")
# What the Containerfile COPYs: the only files an OpenShift binary build uploads.
build_context=(Containerfile .containerignore pyproject.toml README.md package.json package-lock.json bots strategies contracts/build chain-config)

manifests=$(mktemp)
context=$(mktemp -d)
trap 'rm -rf "$manifests" "$context"' EXIT
"$kc" kustomize "$overlay_dir" >"$manifests"
ns=$(awk '$1 == "namespace:" { print $2; exit }' "$manifests")
[[ -n $ns ]] || die "overlay $overlay sets no namespace"

apply() { # label-selector [kubectl apply options]
  local selector=$1
  shift
  "$kc" -n "$ns" apply -f "$manifests" -l "$selector" "$@"
}

say "namespace $ns"
if ! "$kc" get namespace "$ns" >/dev/null 2>&1; then
  if [[ $kc == oc ]]; then oc new-project "$ns" >/dev/null; else "$kc" create namespace "$ns"; fi
fi

say "secrets (never in the manifests: see k8s/README.md)"
missing=()
while read -r secret; do
  "$kc" -n "$ns" get secret "$secret" >/dev/null 2>&1 || missing+=("secret/$secret")
done < <(awk '$1 == "secretName:" { print $2 }' "$manifests" | sort -u)
"$kc" -n "$ns" get configmap otcmm-chain-peers >/dev/null 2>&1 || missing+=(configmap/otcmm-chain-peers)
if [[ ${#missing[@]} -gt 0 ]]; then
  die "missing in $ns: ${missing[*]} (create-validator-secrets.sh, create-keystore-secret.sh; dev: dev-secrets.sh)"
fi

if grep -q '^kind: BuildConfig' "$manifests" && [[ ${OTCMM_BUILD:-dir} != skip ]]; then
  say "image build (OpenShift BuildConfig otcmm)"
  apply app.kubernetes.io/component=build
  if [[ ${OTCMM_BUILD:-dir} == git ]]; then
    "$kc" -n "$ns" start-build otcmm --follow --wait
  else
    tar -C "$repo_dir" --exclude=__pycache__ -cf - "${build_context[@]}" | tar -C "$context" -xf -
    "$kc" -n "$ns" start-build otcmm --from-dir="$context" --follow --wait
  fi
fi

say "network policies and the PoA network"
apply 'app.kubernetes.io/component in (network,chain)'
for sts in otcmm-validator otcmm-rpc; do
  "$kc" -n "$ns" rollout status "statefulset/$sts" --timeout="${timeout}s"
done

say "seed Job (deploy, issue, fund; idempotent)"
"$kc" -n "$ns" delete job otcmm-seed --ignore-not-found --wait=true
apply app.kubernetes.io/component=seed
deadline=$((SECONDS + seed_timeout))
until [[ $("$kc" -n "$ns" get job otcmm-seed -o jsonpath='{.status.succeeded}') == 1 ]]; do
  failed=$("$kc" -n "$ns" get job otcmm-seed -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  if [[ $failed == True || $SECONDS -ge $deadline ]]; then
    "$kc" -n "$ns" logs job/otcmm-seed --all-containers --tail=40 >&2 || true
    die "seed Job did not complete (kubectl -n $ns describe job otcmm-seed)"
  fi
  sleep 5
done
"$kc" -n "$ns" logs job/otcmm-seed -c seed --tail=20 || true

say "bots"
# Prune: a bot removed from the fleet loses its Deployment and ConfigMap (its offers are
# cancelled on SIGTERM); its journal volume is kept.
apply app.kubernetes.io/component=bot --prune \
  --prune-allowlist=apps/v1/Deployment --prune-allowlist=core/v1/ConfigMap
for deployment in $("$kc" -n "$ns" get deployment -l app.kubernetes.io/component=bot -o name); do
  "$kc" -n "$ns" rollout status "$deployment" --timeout="${timeout}s"
done
say "done: $("$kc" -n "$ns" get deployment -l app.kubernetes.io/component=bot -o name | wc -l) bots running in $ns"
