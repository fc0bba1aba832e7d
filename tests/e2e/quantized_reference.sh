# quantized_reference.sh: every quantized GGUF type against the independent
# float64 reference, run on the very values that GGUF holds (g4gen --as-type T
# writes its quantization round trip to an f32 HF directory). Our logits must
# agree within 1e-3: dequantization and the quantized matmul are exact.
. "$(dirname "$0")/lib.sh"
need_shared
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "skip: python3-numpy is missing"; exit 77; }
toks=2,100,200,300,400,17,33,250,11,490,77,3,64,128,9,400,401,402,403,404
for shape in tiny-q tiny-q-ple tiny-q-moe; do
    for t in f16 bf16 q8_0 q6_k q5_k q5_0 q5_1 q4_k q4_0 q4_1 q3_k q2_k; do
        "$G4_GEN" --shape $shape --format gguf --type $t --out "$TMP/m.gguf" 2>/dev/null &&
        "$G4_GEN" --shape $shape --format hf --as-type $t --out "$TMP/hf" 2>/dev/null || { bad "g4gen $shape $t"; continue; }
        /usr/bin/python3 "$G4_SHARED/reference/gemma4_ref.py" "$TMP/hf" "$toks" "$TMP/ref.f32" >/dev/null
        "$G4_BIN" eval -m "$TMP/m.gguf" --tokens "$toks" --logits "$TMP/ours.f32" || { bad "$shape $t: eval"; continue; }
        err=$(python3 - "$TMP/ours.f32" "$TMP/ref.f32" <<'PY'
import sys, array
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
print(max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) and a else 99)
PY
)
        check "$shape $t: max |logit - float64 ref| = $err" python3 -c "import sys; sys.exit(0 if $err <= 1e-3 else 1)"
    done
done
finish
