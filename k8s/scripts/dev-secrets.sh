#!/usr/bin/env bash
# DEV ONLY: every key the dev overlay needs, then its Secrets, in one go.
#
#   k8s/scripts/dev-secrets.sh [NAMESPACE] [KEY_DIR]   (default: otcmm-dev ~/.otcmm/dev-keys/NS)
#
# The validator (m/44'/60'/0'/0/10) and the initializer (dev account 0, prefunded) come from
# the PUBLIC test mnemonic of chain-config/network.toml: anyone can sign with them, so they are
# for a throwaway dev network only. The bots get fresh keystores. Existing files are kept.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

ns=${1:-otcmm-dev}
key_dir=${2:-$HOME/.otcmm/dev-keys/$ns}
python=$(pick_python)
otcmm=("$python" -m bots.cli)
mkdir -p "$key_dir"
chmod 700 "$key_dir"
password=$key_dir/password
if [[ ! -f $password ]]; then
  (umask 077 && "$python" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$password")
fi
mnemonic=$(mktemp)
trap 'rm -f "$mnemonic"' EXIT
"$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["dev"]["mnemonic"])' \
  "$repo_dir/chain-config/network.toml" >"$mnemonic"

from_mnemonic() { # file index
  [[ -f $1 ]] || "${otcmm[@]}" keystore import-mnemonic "$1" --mnemonic-file "$mnemonic" \
    --index "$2" --password-file "$password"
}
from_mnemonic "$key_dir/validator-0.json" 10
cp "$password" "$key_dir/validator-0.password"
from_mnemonic "$key_dir/initializer.json" 0

"$scripts_dir/create-validator-secrets.sh" -n "$ns" "$key_dir"
"$scripts_dir/create-keystore-secret.sh" -n "$ns" otcmm-initializer "$key_dir/initializer.json" "$password"
while read -r bot secret; do
  [[ -f $key_dir/$bot.json ]] || "${otcmm[@]}" keystore new "$key_dir/$bot.json" --password-file "$password"
  "$scripts_dir/create-keystore-secret.sh" -n "$ns" "$secret" "$key_dir/$bot.json" "$password"
done < <("$python" -c '
import sys, tomllib
for name, bot in tomllib.load(open(sys.argv[1], "rb"))["bots"].items():
    print(name, bot["keystore_secret"])' "$k8s_dir/fleet.toml")
