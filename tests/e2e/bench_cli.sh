# bench_cli.sh: `gemma4 bench` on a tiny generated model: the table, the JSON
# (every key, positive numbers), and one-line errors for bad options.
. "$(dirname "$0")/lib.sh"
M=$TMP/tiny.gguf
"$G4_GEN" --shape tiny --format gguf --vocab-from none --out "$M" >/dev/null 2>&1 || { bad "g4gen tiny"; finish; exit; }

"$G4_BIN" bench -m "$M" -p 16 -n 4 -r 2 >"$TMP/table" 2>"$TMP/err"; rc=$?
check "bench exits 0" [ $rc = 0 ]
check "bench prints nothing on stderr (not a terminal)" [ ! -s "$TMP/err" ]
for row in "prefill tok/s" "decode tok/s" "TTFT ms" "TPOT ms" "peak RSS MiB"; do
    check "table has a '$row' row" grep -q "^| $row" "$TMP/table"
done
check "table names the model, prompt and runs" grep -q "tiny.gguf.*F32" "$TMP/table"
check "table header line" grep -q "prompt 16 tokens, generate 4 tokens, threads [0-9]*, median of 2 runs after 1 warm-up" "$TMP/table"

"$G4_BIN" bench -m "$M" -p 16 -n 4 -r 2 -t 1 --json >"$TMP/json" 2>"$TMP/err"; rc=$?
check "bench --json exits 0" [ $rc = 0 ]
check "bench --json prints one line" [ "$(wc -l <"$TMP/json")" = 1 ]
check "bench --json: valid JSON, expected keys, positive numbers" python3 - "$TMP/json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("prefill_tok_s", "decode_tok_s", "ttft_ms", "tpot_ms", "peak_rss_mib", "load_ms"):
    assert isinstance(j[k], (int, float)) and j[k] > 0, (k, j.get(k))
assert j["n_prompt"] == 16 and j["n_gen"] == 4 and j["reps"] == 2 and j["threads"] == 1, j
assert j["weight_type"] == "F32" and j["format"] == "gguf" and j["model"].endswith("tiny.gguf"), j
assert j["n_params"] > 0
# TTFT includes the prefill: it is at least the prefill time
assert j["ttft_ms"] >= 16 / j["prefill_tok_s"] * 1e3 * 0.5, j
for k, (lo, hi) in j["min_max"].items():
    assert 0 < lo <= hi and lo <= j[k] <= hi, (k, lo, hi, j[k])
PY
"$G4_BIN" bench -m "$M" -p 8 -n 1 -r 1 --json >"$TMP/json1" 2>/dev/null
check "bench -r 1 -n 1 works" python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j['reps']==1 and j['decode_tok_s']>0 else 1)" "$TMP/json1"
"$G4_BIN" bench --help >"$TMP/help"
check "bench --help lists the options" grep -q -- "--json" "$TMP/help"
check "gemma4 --help lists bench" sh -c "'$G4_BIN' --help | grep -q 'gemma4 bench -m MODEL'"

# expect_error NAME EXPECTED-WORDS COMMAND...: exit 1 or 2 (not a signal), one line naming the problem
expect_error() {
    local name=$1 words=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then bad "$name (exit $rc)"; return; fi
    if [ "$(wc -l <"$TMP/err")" != 1 ]; then bad "$name (stderr is not one line)"; cat "$TMP/err"; return; fi
    if ! grep -qi -- "$words" "$TMP/err"; then bad "$name (stderr lacks '$words')"; cat "$TMP/err"; return; fi
    if [ -s "$TMP/out" ]; then bad "$name (wrote to stdout)"; return; fi
    ok "$name: $(cat "$TMP/err")"
}
expect_error "no model" "-m MODEL" "$G4_BIN" bench -p 4
expect_error "missing model file" "no such file" "$G4_BIN" bench -m "$TMP/nope.gguf"
expect_error "-p 0" "-p" "$G4_BIN" bench -m "$M" -p 0
expect_error "-p without a value" "needs a value" "$G4_BIN" bench -m "$M" -p
expect_error "-n x" "-n" "$G4_BIN" bench -m "$M" -n x
expect_error "-t -1" "-t" "$G4_BIN" bench -m "$M" -t -1
expect_error "-r 0" "-r" "$G4_BIN" bench -m "$M" -r 0
expect_error "unknown option" "unknown option" "$G4_BIN" bench -m "$M" --frobnicate
expect_error "prompt beyond the context" "context" "$G4_BIN" bench -m "$M" -p 1048576 -n 1048576
finish
