# quantized_reference.sh: every quantized GGUF type against the independent
# float64 reference, run on the very values that GGUF holds (g4gen --as-type T
# writes its quantization round trip to an f32 HF directory).
#  - f16, bf16: the kernels keep f32 activations, so the logits agree within 1e-3.
#  - quantized types: like llama.cpp, the dot products take the activations
#    rounded to 8 bits per block (Q8_0/Q8_1/Q8_K), and prompt batches may run on
#    bf16 tiles; both cost accuracy. The error (RMS of logit - reference, over the
#    logits' standard deviation) must not exceed the peer's own error on the same
#    file by more than a quarter (plus 0.01 for small differences), and stays
#    below a fixed 0.2 when the peer is not set up. In the MoE model a rounding
#    flips near-tied expert choices at random (the peer's own error ranges from
#    0.012 to 0.13 there), so its bound is never below 0.15.
. "$(dirname "$0")/lib.sh"
need_shared
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "skip: python3-numpy is missing"; exit 77; }
toks=2,100,200,300,400,17,33,250,11,490,77,3,64,128,9,400,401,402,403,404
have_peer=0; [ -x "${G4_PEER:-}" ] && have_peer=1
# rel_err OURS REF: RMS(ours - ref) / std(ref) and max|ours - ref|
rel_err() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, numpy as np
a = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64)
b = np.fromfile(sys.argv[2], dtype=np.float32).astype(np.float64)
if a.size != b.size or a.size == 0 or not np.all(np.isfinite(a)): print("99 99")
else: print(f"{np.sqrt(np.mean((a - b) ** 2)) / np.std(b):.4g} {np.max(np.abs(a - b)):.4g}")
PY
}
for shape in tiny-q tiny-q-ple tiny-q-moe; do
    for t in f16 bf16 q8_0 q6_k q5_k q5_0 q5_1 q4_k q4_0 q4_1 q3_k q2_k; do
        "$G4_GEN" --shape $shape --format gguf --type $t --out "$TMP/m.gguf" 2>/dev/null &&
        "$G4_GEN" --shape $shape --format hf --as-type $t --out "$TMP/hf" 2>/dev/null || { bad "g4gen $shape $t"; continue; }
        /usr/bin/python3 "$G4_SHARED/reference/gemma4_ref.py" "$TMP/hf" "$toks" "$TMP/ref.f32" >/dev/null
        "$G4_BIN" eval -m "$TMP/m.gguf" --tokens "$toks" --logits "$TMP/ours.f32" || { bad "$shape $t: eval"; continue; }
        read -r rel max < <(rel_err "$TMP/ours.f32" "$TMP/ref.f32")
        case $t in
            f16|bf16) check "$shape $t: max |logit - float64 ref| = $max (bound 1e-3)" \
                          python3 -c "import sys; sys.exit(0 if $max <= 1e-3 else 1)"; continue ;;
        esac
        bound=0.2 peer_note="no peer"
        if [ $have_peer = 1 ]; then
            "$G4_PEER" logits "$TMP/m.gguf" "$toks" "$TMP/peer.f32" >/dev/null 2>&1 || { bad "$shape $t: the peer failed"; continue; }
            read -r peer_rel peer_max < <(rel_err "$TMP/peer.f32" "$TMP/ref.f32")
            floor=0; [ $shape = tiny-q-moe ] && floor=0.15
            bound=$(python3 -c "print(f'{max(1.25 * $peer_rel + 0.01, $floor):.4g}')") peer_note="peer $peer_rel (max $peer_max)"
        fi
        check "$shape $t: RMS error / std = $rel (max $max), $peer_note, bound $bound" \
            python3 -c "import sys; sys.exit(0 if $rel <= $bound else 1)"
    done
done
finish
