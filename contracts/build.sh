#!/usr/bin/env bash
# Regenerates Anchor.bin and Anchor.abi.json from Anchor.sol with solc-js (npm, works offline once
# installed: `npm ci` at the repository's top installs the pinned solc). Neither CI nor a user needs
# this: the outputs are committed.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
../node_modules/.bin/solcjs --bin --abi --optimize --optimize-runs 200 -o "$out" Anchor.sol
cp "$out"/Anchor_sol_Anchor.bin Anchor.bin
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open("Anchor.abi.json","w"), indent=2); open("Anchor.abi.json","a").write("\n")' "$out"/Anchor_sol_Anchor.abi
echo "Anchor.bin ($(wc -c < Anchor.bin) hex chars) and Anchor.abi.json regenerated"
