#!/usr/bin/env bash
# Create the validators' Secret and the static-peer ConfigMap from operator-held keys.
#
#   k8s/scripts/create-validator-secrets.sh [-n NAMESPACE] KEY_DIR
#
# KEY_DIR holds, for each validator ordinal i = 0, 1, ... (pod otcmm-validator-i):
#   validator-i.json      its sealing key: a Web3 keystore whose address is in the chainspec
#   validator-i.password  the keystore's password
#   validator-i.nodekey   its devp2p node key (hex); generated here, mode 0600, if missing
# The Secret otcmm-validator-keys gets all of them; each pod's init container uses only its own.
# The ConfigMap otcmm-chain-peers gets each validator's public enode key, from which every node
# builds its static peers. Nothing here is ever committed: keep KEY_DIR with the operators.
# Re-run after adding a validator (and its chainspec change): both objects are replaced.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ns=${NAMESPACE:-otcmm}
if [[ ${1:-} == -n ]]; then ns=$2; shift 2; fi
[[ $# -eq 1 && -d $1 ]] || die "usage: $0 [-n NAMESPACE] KEY_DIR"
key_dir=$1
kc=$(pick_kubectl any)
python=$(pick_python)

shopt -s nullglob
keystores=("$key_dir"/validator-*.json)
[[ ${#keystores[@]} -gt 0 ]] || die "no validator-<i>.json in $key_dir"

files=() peers=()
for keystore in "${keystores[@]}"; do
  name=$(basename "$keystore" .json)
  [[ $name =~ ^validator-[0-9]+$ ]] || die "unexpected file $keystore"
  [[ -f $key_dir/$name.password ]] || die "missing $key_dir/$name.password"
  if [[ ! -f $key_dir/$name.nodekey ]]; then
    (umask 077 && "$python" -c 'import secrets; print(secrets.token_hex(32))' >"$key_dir/$name.nodekey")
    echo "generated $key_dir/$name.nodekey (keep it: it is this validator's network identity)"
  fi
  # Fails unless the keystore's address is one of the chainspec's validators.
  pubkey=$("$python" - "$keystore" "$key_dir/$name.nodekey" "$repo_dir/chain-config/rendered/chainspec.json" <<'PY'
import json, sys
from coincurve import PrivateKey
keystore, nodekey, chainspec = sys.argv[1:]
address = "0x" + json.load(open(keystore))["address"].lower().removeprefix("0x")
listed = json.load(open(chainspec))["engine"]["authorityRound"]["params"]["validators"].get("list")
if listed is not None and address not in {a.lower() for a in listed}:
    sys.exit(f"{keystore}: {address} is not a validator in {chainspec}")
key = bytes.fromhex(open(nodekey).read().strip().removeprefix("0x"))
print(PrivateKey(key).public_key.format(compressed=False)[1:].hex())
PY
)
  files+=("--from-file=$name.json=$keystore" "--from-file=$name.password=$key_dir/$name.password"
          "--from-file=$name.nodekey=$key_dir/$name.nodekey")
  peers+=("--from-literal=$name=$pubkey")
  echo "$name: enode://$pubkey@otcmm-$name-p2p.$ns.svc:30303"
done

apply_generated "$kc" "$ns" secret generic otcmm-validator-keys "${files[@]}"
apply_generated "$kc" "$ns" configmap otcmm-chain-peers "${peers[@]}"
