#!/usr/bin/env bash
# Take the market down, bots first: each bot cancels its offers on SIGTERM while the chain is
# still up to mine the cancels. Then the seed Job, the chain, and the published deployment.
#
#   k8s/scripts/teardown.sh [OVERLAY] [--purge]
#
# Without --purge the chain data volumes, the bots' journals, the keys (Secrets) and the peers
# ConfigMap stay, so a later deploy.sh resumes the same chain. --purge deletes them too: the
# chain is gone for good (keep the operators' key files to redeploy with the same validators).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

overlay=${1:-dev}
purge=${2:-}
[[ -z $purge || $purge == --purge ]] || die "usage: $0 [OVERLAY] [--purge]"
overlay_dir=$k8s_dir/overlays/$overlay
[[ -d $overlay_dir ]] || die "no overlay $overlay_dir"
kc=$(pick_kubectl "$overlay")
manifests=$(mktemp)
trap 'rm -f "$manifests"' EXIT
"$kc" kustomize "$overlay_dir" >"$manifests"
ns=$(awk '$1 == "namespace:" { print $2; exit }' "$manifests")

# Every kind the overlay creates, volumes (chain data, journals, seed state) only with --purge.
kinds=$(awk '/^kind: / && ($2 != "PersistentVolumeClaim" || purge) { print tolower($2) }' \
  purge="${purge:+1}" "$manifests" | sort -u | paste -sd, -)
remove() { # label selector
  "$kc" -n "$ns" delete "$kinds" -l "app.kubernetes.io/part-of=otcmm,$1" --ignore-not-found --wait=true
}

say "bots (waiting for them to cancel their offers)"
remove app.kubernetes.io/component=bot
say "seed Job and the published deployment"
remove app.kubernetes.io/component=seed
"$kc" -n "$ns" delete configmap otcmm-deployment --ignore-not-found
say "chain and network policies"
remove 'app.kubernetes.io/component in (chain,network,build)'

if [[ $purge == --purge ]]; then
  say "purge: chain volumes, keys, peers"
  "$kc" -n "$ns" delete pvc -l app.kubernetes.io/part-of=otcmm --ignore-not-found
  "$kc" -n "$ns" delete secret,configmap -l app.kubernetes.io/part-of=otcmm --ignore-not-found
fi
