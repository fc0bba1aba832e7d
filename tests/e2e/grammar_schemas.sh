#!/usr/bin/env bash
# grammar_schemas.sh: every output test_grammar_schema generates under a JSON Schema
# grammar (54 schemas x 3 seeds, tiny random-weight model, temperature 1), and the
# arguments of the tool calls it generates under a tools grammar (read back by the
# engine's output parser), validate against their schemas with ajv, a JSON Schema
# validator independent of ours. ajv and ajv-formats are installed with npm into the
# build tree; skipped if npm cannot.
. "$(dirname "$0")/lib.sh"
need_shared
command -v node >/dev/null && command -v npm >/dev/null || { echo "skip: node/npm not installed"; exit 77; }
TESTBIN=$(dirname "$G4_BIN")/tests/test_grammar_schema
[ -x "$TESTBIN" ] || { bad "test_grammar_schema is not built at $TESTBIN"; finish; exit; }
NODE_DIR=${G4_TMP}/../node-ajv
if [ ! -d "$NODE_DIR/node_modules/ajv-formats" ]; then
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent ajv@8 ajv-formats@3 >/dev/null 2>&1) \
        || { echo "skip: npm could not install ajv"; exit 77; }
fi
DUMP=$TMP/dump
mkdir -p "$DUMP"
check "generation under 54 schemas" env G4_GRAMMAR_DUMP="$DUMP" "$TESTBIN"
n=$(ls "$DUMP" | grep -c '^out_')
check "outputs dumped ($n)" test "$n" -ge 100
check "tool-call arguments dumped" test -e "$DUMP/out_90_1.json"
node "$(dirname "$0")/grammar_validate.js" "$NODE_DIR/node_modules" "$DUMP" > "$TMP/ajv.log" 2>&1
rc=$?
grep FAIL "$TMP/ajv.log"
tail -1 "$TMP/ajv.log"
check "ajv validates every output" test "$rc" = 0
finish
