# long_context.sh: 160 tokens evaluated one at a time, so every sliding ring
# wraps many times, against the independent float64 reference run on the same
# HF checkpoint (shared/reference/gemma4_ref.py, numpy).
. "$(dirname "$0")/lib.sh"
need_shared
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "skip: python3-numpy is missing"; exit 77; }
for name in dense-tiny ple-kvshare keqv moe; do
    M=$G4_SHARED/fixtures/models/$name
    toks=$(python3 -c "import random; r = random.Random(5); print(','.join(['2'] + [str(r.randrange(3, 512)) for _ in range(159)]))")
    /usr/bin/python3 "$G4_SHARED/reference/gemma4_ref.py" "$M" "$toks" "$TMP/ref.f32" >/dev/null
    "$G4_BIN" eval -m "$M/model.gguf" --tokens "$toks" --logits "$TMP/ours.f32" --batch 1
    err=$(python3 - "$TMP/ours.f32" "$TMP/ref.f32" <<'PY'
import sys, array
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
print(max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) and a else 'size-mismatch')
PY
)
    check "$name: 160 tokens one at a time, max |logit - ref| = $err" python3 -c "import sys; sys.exit(0 if '$err' != 'size-mismatch' and float('$err') <= 1e-3 else 1)"
done
finish
