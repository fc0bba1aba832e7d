# peer_logits.sh: our logits against the peer engine (llama.cpp) on the same
# GGUF files: the fixtures and generated models in every weight type. The peer
# rounds GELU through an f16 table and quantizes activations for quantized dot
# products, so the bound is relative to the spread of the logits.
. "$(dirname "$0")/lib.sh"
[ -x "${G4_PEER:-}" ] || { echo "skip: the peer engine is not set up (make peer)"; exit 77; }
toks=2,100,200,300,400,17,33,250,11,490,77,3,64,128
compare() {  # NAME FILE BOUND
    "$G4_BIN" eval -m "$2" --tokens "$toks" --logits "$TMP/ours.f32" || { bad "$1: gemma4 failed"; return; }
    "$G4_PEER" logits "$2" "$toks" "$TMP/peer.f32" >/dev/null 2>&1 || { bad "$1: the peer failed"; return; }
    local r
    r=$(python3 - "$TMP/ours.f32" "$TMP/peer.f32" <<'PY'
import sys, array, statistics
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
print(max(abs(x - y) for x, y in zip(a, b)) / statistics.pstdev(b) if len(a) == len(b) else 99)
PY
)
    check "$1: max|ours - peer| / std = $r (bound $3)" python3 -c "import sys; sys.exit(0 if $r <= $3 else 1)"
}
if [ -d "${G4_SHARED:-}/fixtures" ]; then
    for m in dense-tiny ple-kvshare keqv moe; do compare "fixture $m" "$G4_SHARED/fixtures/models/$m/model.gguf" 0.02; done
    compare "fixture dense-bf16" "$G4_SHARED/fixtures/models/dense-bf16/model.gguf" 0.1
fi
# The peer rounds activations to bf16 for BF16 weights and to 8 bits for
# quantized ones; in the MoE model that flips near-tied expert choices, so there
# only f32/f16 are compared here (quantized MoE is checked against the float64
# reference in quantized_reference.sh).
for shape in tiny-q tiny-q-ple tiny-q-moe; do
    for t in f32 f16 bf16 q8_0 q6_k q5_k q5_0 q5_1 q4_k q4_0 q4_1 q3_k q2_k; do
        case $shape:$t in
            *:f32|*:f16) bound=0.02 ;;
            tiny-q-moe:*) continue ;;
            *:bf16) bound=0.15 ;;
            *) bound=0.5 ;;
        esac
        "$G4_GEN" --shape $shape --format gguf --type $t --out "$TMP/m.gguf" 2>/dev/null || { bad "g4gen $shape $t"; continue; }
        compare "$shape $t" "$TMP/m.gguf" $bound
    done
done
finish
