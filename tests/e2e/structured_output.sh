#!/usr/bin/env bash
# structured_output.sh: structured output end to end, checked with ajv (a JSON
# Schema validator independent of ours; tests/e2e/structured/ajv_schema.js).
# CLI: every schema test_grammar_schema dumps x 2 seeds through `gemma4 -m
# dense-tiny --json-schema` validates; --grammar output matches its GBNF;
# --tools-json with --tool-choice required / NAME prints JSON lines whose arguments
# validate against the tool's parameters; --no-parallel-tool-calls gives one call;
# an unsupported schema feature exits 1 naming it; --tool-choice without
# --tools-json exits 2; a model with the real 262144-token vocabulary validates too
# and --stats prints the grammar masks' time per token.
# Server (--parallel 2): the real `openai` npm client, structured/server_client.mjs
# (response_format, json_object, llama.cpp's json_schema and grammar fields,
# tool_choice, thinking, 400s naming the feature, concurrent different schemas).
# ajv, ajv-formats and openai are installed with npm into the build tree; skipped
# if npm cannot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server/lib.sh"
need_shared
command -v node >/dev/null && command -v npm >/dev/null || { echo "skip: node/npm not installed"; exit 77; }
command -v curl >/dev/null || { echo "skip: curl is missing"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)
TESTBIN=$(dirname "$G4_BIN")/tests/test_grammar_schema
[ -x "$TESTBIN" ] || { bad "test_grammar_schema is not built at $TESTBIN"; finish; exit; }
NPM_DIR=${G4_TMP}/../structured_npm
if [ ! -d "$NPM_DIR/node_modules/openai" ] || [ ! -d "$NPM_DIR/node_modules/ajv-formats" ]; then
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && timeout 180 npm install --no-audit --no-fund --silent openai@4 ajv@8 ajv-formats@3 >/dev/null 2>&1) \
        || { echo "skip: npm could not install ajv and openai"; exit 77; }
fi
NM=$NPM_DIR/node_modules
DENSE=$G4_SHARED/fixtures/models/dense-tiny/model.gguf
G() { "$G4_BIN" -t 1 "$@"; }
trap 'stop_server; rm -rf "$TMP"' EXIT

# ---- CLI: every dumped schema x 2 seeds ----
DUMP=$TMP/dump CLI=$TMP/cli
mkdir -p "$DUMP" "$CLI"
env G4_GRAMMAR_DUMP="$DUMP" "$TESTBIN" >/dev/null 2>&1 || bad "test_grammar_schema (dumping the schemas) failed"
n_schemas=0 n_runs=0 n_cut=0 n_err=0
for schema in "$DUMP"/schema_*.json; do
    id=${schema##*/schema_}; id=${id%.json}
    cp "$schema" "$CLI/"
    n_schemas=$((n_schemas + 1))
    for seed in 1 2; do
        n_runs=$((n_runs + 1))
        G -m "$DENSE" -p "Answer in JSON" --json-schema "$schema" --seed "$seed" --temp 1 --top-k 0 --top-p 1 -n 400 \
            >"$CLI/run.out" 2>"$CLI/run.err"
        case $? in
        0) mv "$CLI/run.out" "$CLI/out_${id}_$seed.json" ;;
        3) n_cut=$((n_cut + 1)) ;;   # cut at -n 400: incomplete by design, not validated
        *) n_err=$((n_err + 1)); echo "    schema $id seed $seed: $(cat "$CLI/run.err")" ;;
        esac
    done
done
check "schemas dumped ($n_schemas)" [ "$n_schemas" -ge 50 ]
check "no CLI run failed ($n_err of $n_runs)" [ "$n_err" = 0 ]
check "at most 10% cut at -n 400 ($n_cut of $n_runs)" [ $((n_cut * 10)) -le "$n_runs" ]
node "$HERE/grammar_validate.js" "$NM" "$CLI" >"$TMP/ajv.log" 2>&1
rc=$?
grep FAIL "$TMP/ajv.log"
check "ajv validates every CLI output: $(tail -1 "$TMP/ajv.log")" [ "$rc" = 0 ]

# ---- CLI: --grammar ----
cat >"$TMP/date.gbnf" <<'EOF'
# an ISO date
root  ::= year "-" month "-" day
year  ::= [12] [0-9]{3}
month ::= "0" [1-9] | "1" [0-2]
day   ::= "0" [1-9] | [12] [0-9] | "3" [01]
EOF
printf 'root ::= "red" | "green" | "blue"\n' >"$TMP/color.gbnf"
grammar_ok() { # GBNF REGEX: 3 seeds, each output matches
    local s out
    for s in 1 2 3; do
        out=$(G -m "$DENSE" -p "Pick" --grammar "$1" --seed $s --temp 1 --top-k 0 --top-p 1 -n 64) || return 1
        printf '%s\n' "$out" | grep -Eqx "$2" || { echo "    '$out' does not match $2"; return 1; }
    done
}
check "--grammar: a date" grammar_ok "$TMP/date.gbnf" '[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
check "--grammar: an enum" grammar_ok "$TMP/color.gbnf" 'red|green|blue'
printf 'root ::= missing\n' >"$TMP/bad.gbnf"
G -m "$DENSE" -p x --grammar "$TMP/bad.gbnf" >/dev/null 2>"$TMP/err"; rc=$?
check "a bad grammar exits 1 naming the rule" eval '[ $rc = 1 ] && grep -q "undefined rule missing" "$TMP/err"'

# ---- CLI: tools ----
TOOLS=$TMP/tools.json
cat >"$TOOLS" <<'EOF'
[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object",
  "properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["celsius","fahrenheit"]},
  "days":{"type":"integer","minimum":1,"maximum":7},"tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":2}},
  "required":["city"]}}},
 {"type":"function","function":{"name":"set_alarm","parameters":{"type":"object","properties":{"time":{"type":"string","format":"time"},
  "repeat":{"type":"boolean"},"label":{"type":"string","nullable":true,"maxLength":6}},"required":["time","label"]}}},
 {"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}]
EOF
tools_ok() { # SEED CHOICE [tool_lines.js options...]
    local seed=$1 choice=$2; shift 2
    G -m "$DENSE" -p "Weather in Paris?" --tools-json "$TOOLS" --tool-choice "$choice" --seed "$seed" --temp 1 --top-k 0 \
        --top-p 1 -n 400 >"$TMP/calls" 2>"$TMP/err" || { cat "$TMP/err"; return 1; }
    node "$HERE/structured/tool_lines.js" "$NM" "$TOOLS" "$TMP/calls" "$@" >"$TMP/calls.log" 2>&1 || { sed 's/^/    /' "$TMP/calls.log"; return 1; }
}
for seed in 1 2 3; do
    check "--tool-choice required, seed $seed: calls of known tools with valid arguments" tools_ok $seed required
    check "--tool-choice set_alarm, seed $seed: set_alarm calls with valid arguments" tools_ok $seed set_alarm --name set_alarm
done
# --no-parallel-tool-calls: one call, also for the seeds where the model makes more
many=0 one=0
for seed in 1 2 3 4 5 6 7 8; do
    tools_ok $seed required && [ "$(wc -l <"$TMP/calls")" -ge 2 ] && many=$((many + 1))
    G -m "$DENSE" -p "Weather in Paris?" --tools-json "$TOOLS" --tool-choice required --no-parallel-tool-calls --seed $seed \
        --temp 1 --top-k 0 --top-p 1 -n 400 >"$TMP/calls" 2>/dev/null &&
        node "$HERE/structured/tool_lines.js" "$NM" "$TOOLS" "$TMP/calls" --count 1 >/dev/null 2>&1 && one=$((one + 1))
done
check "some seeds make several calls without --no-parallel-tool-calls ($many of 8)" [ "$many" -ge 1 ]
check "--no-parallel-tool-calls: exactly one valid call for every seed ($one of 8)" [ "$one" = 8 ]

# ---- CLI: refusals ----
printf '{"type":"object","properties":{"ids":{"type":"array","uniqueItems":true}}}' >"$TMP/unsupported.json"
G -m "$DENSE" -p x --json-schema "$TMP/unsupported.json" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "an unsupported schema feature exits 1 naming it and where" \
    eval '[ $rc = 1 ] && grep -q "uniqueItems" "$TMP/err" && grep -q "/properties/ids" "$TMP/err" && [ ! -s "$TMP/out" ]'
G -m "$DENSE" -p x --tool-choice required >/dev/null 2>"$TMP/err"; rc=$?
check "--tool-choice without --tools-json exits 2" eval '[ $rc = 2 ] && grep -q "tools-json" "$TMP/err"'
G -m "$DENSE" -p x --tools-json "$TOOLS" --tool-choice fly >/dev/null 2>"$TMP/err"; rc=$?
check "--tool-choice naming a missing tool exits 1 naming it" eval '[ $rc = 1 ] && grep -q "fly" "$TMP/err"'

# ---- CLI: the real 262144-token vocabulary ----
BIG=$TMP/big.gguf
if "$G4_GEN" --shape tiny-ple --format gguf --vocab 262144 --type f16 --out "$BIG" >/dev/null 2>&1; then
    BIGDIR=$TMP/big
    mkdir -p "$BIGDIR"
    for id in 00 10 29 31 39 40; do   # object, oneOf, nested, nested arrays, formats, anyOf
        cp "$DUMP/schema_$id.json" "$BIGDIR/"
        G -m "$BIG" -p "Answer in JSON" --json-schema "$DUMP/schema_$id.json" --seed 1 --temp 1 --top-k 0 --top-p 1 -n 400 \
            --stats >"$BIGDIR/out_${id}_1.json" 2>"$BIGDIR/stats_$id" || rm -f "$BIGDIR/out_${id}_1.json"
    done
    node "$HERE/grammar_validate.js" "$NM" "$BIGDIR" >"$TMP/ajv_big.log" 2>&1
    rc=$?
    grep FAIL "$TMP/ajv_big.log"
    check "262144 vocab: ajv validates the outputs ($(tail -1 "$TMP/ajv_big.log"))" \
        eval '[ $rc = 0 ] && [ "$(ls "$BIGDIR" | grep -c ^out_)" -ge 5 ]'
    sed -n 's/.*\(grammar masks [0-9.]* ms\/token.*\)/    \1/p' "$BIGDIR/stats_00"
    check "262144 vocab: --stats prints the grammar masks' time per token" grep -Eq "grammar masks [0-9]+\.[0-9]+ ms/token" "$BIGDIR/stats_00"
    G -m "$BIG" -p "Weather?" --tools-json "$TOOLS" --tool-choice get_weather --seed 1 --temp 1 -n 400 >"$TMP/calls" 2>/dev/null
    check "262144 vocab: a named tool call with valid arguments" \
        node "$HERE/structured/tool_lines.js" "$NM" "$TOOLS" "$TMP/calls" --name get_weather
else
    bad "g4gen could not write the 262144-token model"
fi

# ---- server, through the openai npm client ----
M=$TMP/m.gguf
"$G4_GEN" --shape tiny-ple --format gguf --out "$M" 2>/dev/null || { bad "g4gen"; finish; exit 1; }
# a template that opens the thought channel when thinking is on (as in server_api.sh)
printf '%s' '{{ bos_token }}{% for m in messages %}<|turn>{{ m.role }}
{{ m.content }}<turn|>
{% endfor %}<|turn>model
{% if enable_thinking %}<|channel>thought
{% endif %}' >"$TMP/think.jinja"
start_server "$TMP/log" -m "$M" -t 1 --chat-template "$TMP/think.jinja" --parallel 2 --shutdown-timeout 1 \
    || { bad "server start"; finish; exit 1; }
token_id() {
    curl -s "http://127.0.0.1:$PORT/tokenize" \
        -d "$(python3 -c "import json,sys;print(json.dumps({'content':sys.argv[1],'add_special':False,'parse_special':True}))" "$1")" |
        python3 -c "import json,sys;t=json.load(sys.stdin)['tokens'];assert len(t)==1;print(t[0])"
}
OPEN_CALL=$(token_id '<|tool_call>') CLOSE_THOUGHT=$(token_id '<channel|>')
check "special token ids ($OPEN_CALL, $CLOSE_THOUGHT)" [ -n "$OPEN_CALL" -a -n "$CLOSE_THOUGHT" ]
BASE="http://127.0.0.1:$PORT" MODEL=m NODE_MODULES=$NM OPEN_CALL_ID=$OPEN_CALL CLOSE_THOUGHT_ID=$CLOSE_THOUGHT \
    node "$HERE/structured/server_client.mjs" >"$TMP/node" 2>&1
rc=$?
sed 's/^/    /' "$TMP/node"
check "the openai client's structured-output checks pass" [ $rc = 0 ]
check "the server is still serving" [ "$(status GET /health)" = 200 ]
finish
