# lib.sh: shared helpers for the end-to-end tests (sourced, not run).
# Environment from ctest: G4_BIN, G4_GEN, G4_SHARED, G4_TMP.
set -u
pass=0 fail=0
mkdir -p "${G4_TMP:-/tmp}"
TMP=$(mktemp -d "${G4_TMP:-/tmp}/e2e.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

need_shared() { [ -d "${G4_SHARED:-}/fixtures" ] || { echo "skip: ../shared is absent"; exit 77; }; }
ok()   { pass=$((pass + 1)); echo "ok   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }
# check NAME CONDITION-COMMAND...
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
# golden tokens of a fixture model, comma-separated
golden_tokens() { python3 -c "import json,sys;print(','.join(map(str,json.load(open(sys.argv[1]))['tokens'])))" "$1/golden.json"; }
