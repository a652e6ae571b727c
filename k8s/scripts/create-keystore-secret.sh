#!/usr/bin/env bash
# Store one keystore and its password as a Secret (keys `keystore.json` and `password`), for a
# bot (otcmm-bot-<name>, as named in k8s/fleet.toml) or the seed initializer (otcmm-initializer).
#
#   k8s/scripts/create-keystore-secret.sh [-n NAMESPACE] SECRET KEYSTORE PASSWORD_FILE
#
# Make the keystore with `otcmm keystore new|import-key|import-mnemonic` on the operator's
# machine; it never enters the repository. Re-running replaces the Secret (the bot must then be
# restarted; see "Rotate a bot's key" in k8s/README.md before replacing a funded key).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ns=${NAMESPACE:-otcmm}
if [[ ${1:-} == -n ]]; then ns=$2; shift 2; fi
[[ $# -eq 3 ]] || die "usage: $0 [-n NAMESPACE] SECRET KEYSTORE PASSWORD_FILE"
secret=$1 keystore=$2 password=$3
[[ -f $keystore ]] || die "no keystore file $keystore"
[[ -f $password ]] || die "no password file $password"
kc=$(pick_kubectl any)
address=$("$(pick_python)" -m bots.cli keystore address "$keystore")

apply_generated "$kc" "$ns" secret generic "$secret" \
  --from-file=keystore.json="$keystore" --from-file=password="$password"
echo "secret $secret in $ns holds the keystore of $address"
