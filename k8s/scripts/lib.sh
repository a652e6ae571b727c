# Shared by the k8s/scripts/*.sh: sourced, not run.
# shellcheck shell=bash

scripts_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_dir=$(dirname "$scripts_dir")
repo_dir=$(dirname "$k8s_dir")

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# kubectl or oc for overlay $1: $KUBECTL if set, else oc for openshift, else whichever exists.
pick_kubectl() {
  if [[ -n ${KUBECTL:-} ]]; then echo "$KUBECTL"; return; fi
  if [[ ${1:-} == openshift ]] && command -v oc >/dev/null; then echo oc; return; fi
  local tool
  for tool in kubectl oc; do
    if command -v "$tool" >/dev/null; then echo "$tool"; return; fi
  done
  die "neither kubectl nor oc is on PATH (or set KUBECTL)"
}

# A Python with otcmm's dependencies (coincurve, eth-account) and the otcmm CLI.
pick_python() {
  if [[ -n ${OTCMM_PYTHON:-} ]]; then echo "$OTCMM_PYTHON"
  elif [[ -x $repo_dir/.venv/bin/python ]]; then echo "$repo_dir/.venv/bin/python"
  else echo python3; fi
}

# Create or replace a Secret/ConfigMap from `kubectl create ... --dry-run` arguments, labelled
# as part of the market so teardown.sh --purge finds it.
apply_generated() { # kubectl namespace create-arguments... (e.g. secret generic NAME ...)
  local kc=$1 ns=$2
  shift 2
  "$kc" -n "$ns" create "$@" --dry-run=client -o yaml \
    | "$kc" label --local -f - app.kubernetes.io/part-of=otcmm -o yaml \
    | "$kc" -n "$ns" apply -f -
}
