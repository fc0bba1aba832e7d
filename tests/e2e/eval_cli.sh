# eval_cli.sh: `gemma4 eval` and `gemma4 -m` as a user runs them, and their
# behaviour on bad input: a one-line reason, a non-zero exit, never a crash.
. "$(dirname "$0")/lib.sh"
need_shared
M=$G4_SHARED/fixtures/models/dense-tiny
toks=$(golden_tokens "$M")
n=$(echo "$toks" | tr ',' '\n' | wc -l)

"$G4_BIN" eval -m "$M/model.gguf" --tokens "$toks" --logits "$TMP/l.f32" >/dev/null
check "eval --logits writes n_tokens x vocab floats" [ "$(stat -c %s "$TMP/l.f32")" = $((n * 512 * 4)) ]
check "eval --logits matches logits.f32 within 1e-3" python3 - "$TMP/l.f32" "$M/logits.f32" <<'PY'
import sys, array
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
sys.exit(0 if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= 1e-3 else 1)
PY
"$G4_BIN" eval -m "$M/model.gguf" --tokens "$toks" --logits "$TMP/l7.f32" --batch 7 >/dev/null
check "eval --batch 7 writes the same logits" python3 - "$TMP/l.f32" "$TMP/l7.f32" <<'PY'
import sys, array
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
sys.exit(0 if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= 5e-4 else 1)
PY
want=$(python3 -c "import json;print(','.join(map(str,json.load(open('$M/golden.json'))['greedy_after_prompt'])))")
got=$("$G4_BIN" eval -m "$M" --tokens "$toks" --greedy 12)
check "eval --greedy 12 (HF dir) prints the golden continuation" [ "$got" = "$want" ]
got=$("$G4_BIN" -m "$M/model.gguf" --tokens "$toks" -n 12)
check "gemma4 -m --tokens -n 12 generates the golden continuation" [ "$got" = "$want" ]

# expect_error NAME EXPECTED-WORDS COMMAND...: exit 1 or 2 (not a signal), one line naming the problem
expect_error() {
    local name=$1 words=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then bad "$name (exit $rc)"; return; fi
    if [ "$(wc -l <"$TMP/err")" != 1 ]; then bad "$name (stderr is not one line)"; cat "$TMP/err"; return; fi
    if ! grep -qi -- "$words" "$TMP/err"; then bad "$name (stderr lacks '$words')"; cat "$TMP/err"; return; fi
    ok "$name: $(cat "$TMP/err")"
}
expect_error "missing model file" "no such file" "$G4_BIN" eval -m "$TMP/nope.gguf" --tokens 2
head -c 100000 "$M/model.gguf" >"$TMP/trunc.gguf"
expect_error "truncated GGUF" "$TMP/trunc.gguf" "$G4_BIN" eval -m "$TMP/trunc.gguf" --tokens 2
head -c 4096 /dev/urandom >"$TMP/noise.gguf"
expect_error "random bytes" "gguf" "$G4_BIN" eval -m "$TMP/noise.gguf" --tokens 2
: >"$TMP/empty.gguf"
expect_error "empty file" "empty.gguf" "$G4_BIN" eval -m "$TMP/empty.gguf" --tokens 2
mkdir -p "$TMP/hf" && cp "$M/model.safetensors" "$TMP/hf/"
expect_error "HF dir without config.json" "config.json" "$G4_BIN" eval -m "$TMP/hf" --tokens 2
cp "$M/config.json" "$TMP/hf/" && head -c 5000 "$M/model.safetensors" >"$TMP/hf/model.safetensors"
expect_error "truncated safetensors" "safetensors" "$G4_BIN" eval -m "$TMP/hf" --tokens 2
printf '{"text_config": {"hidden_size": "big"}}' >"$TMP/hf/config.json"
expect_error "bad config.json" "hidden_size" "$G4_BIN" eval -m "$TMP/hf" --tokens 2
expect_error "token id out of the vocabulary" "vocabulary" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2,512
expect_error "bad token list" "tokens" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2,x
expect_error "bad --batch" "batch" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --batch 0
expect_error "unknown option" "unknown" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --frobnicate 1
expect_error "context too small" "context" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2,3,4,5 --ctx 2
expect_error "bad --gpu-layers" "gpu-layers" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --gpu-layers many
expect_error "bad --device" "device" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --device -1

# where the model runs: --cpu always works; without a GPU, asking for one says so
want=$("$G4_BIN" eval -m "$M/model.gguf" --tokens "$toks" --greedy 4)
check "--cpu gives the same greedy ids" [ "$("$G4_BIN" eval -m "$M/model.gguf" --tokens "$toks" --greedy 4 --cpu)" = "$want" ]
if "$G4_BIN" bench -m "$M/model.gguf" -p 4 -n 2 -r 1 --cpu | grep -q '^device: CPU$'; then ok "bench --cpu prints 'device: CPU'"; else bad "bench --cpu device line"; fi
if "$G4_BIN" bench -m "$M/model.gguf" -p 4 -n 2 -r 1 | grep -q '^device: CPU$'; then
    expect_error "--gpu-layers all without a GPU" "no GPU" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --gpu-layers all
    expect_error "--device 1 without a GPU" "no GPU" "$G4_BIN" eval -m "$M/model.gguf" --tokens 2 --gpu-layers 1 --device 1
else
    ok "a GPU is here: the GPU tests (ctest -L gpu) cover it"
fi
finish
