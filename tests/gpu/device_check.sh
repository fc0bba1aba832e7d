#!/usr/bin/env bash
# device_check.sh: the one command a session runs on the GPU machine (the device
# tool, /work/.library/device/README.md): build with CUDA for sm_90 only, run the
# GPU tests (ctest -L gpu), then tests/bench/gpu.sh at sizes that fit, all within
# about 8 minutes, each step under its own timeout. Logs, the table and a summary
# go under $OUT when it is set (the files that come back), else build-gpu/check/.
#
# Run from the repository root of a fresh copy; ../shared is absent there, so
# before the call, in the checkout that calls the tool:
#     mkdir -p shared && cp -r ../shared/fixtures shared/fixtures
#     echo /shared/ >> .git/info/exclude
# (the models, the golden logits and the real vocabulary g4gen needs: ~36 MB of
# the 64 MiB a call carries), or set G4_SHARED on the machine. The peer, CUDA
# llama.cpp, comes in parts staged by earlier calls (tests/bench/gpu.sh's header:
# --stage-peer, then one call per part); without them the table says so.
#     device run: bash tests/gpu/device_check.sh      (timeout_s 570)
# Budget, in seconds (each a `timeout`): configure + build 240 (targets gemma4,
# g4gen and the two GPU tests), ctest 180 while g4gen makes the bench models in
# the background (E4B BF16 whole; 31B and 26B-A4B Q4_K_M reduced to 6 of 60 and
# 6 of 30 layers, one period of 5 sliding + 1 full, since g4gen would need ~4.5
# minutes for a whole 31B Q4_K_M), then one gpu.sh run per row, 1 round of 2
# measured runs, prompt 2048 and 64 decoded tokens, in whatever is left of 470.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
START=$(date +%s)
BUDGET=470
BUILD=$ROOT/build-gpu
LOGS=${OUT:-$BUILD/check}
mkdir -p "$LOGS"
SUMMARY=$LOGS/summary.txt
: >"$SUMMARY"
elapsed() { echo $(( $(date +%s) - START )); }
note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $(( BUDGET - $(elapsed) )); }

# ---- the machine ----------------------------------------------------------------------------
note "== device_check $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)') on $(hostname), $(nproc) CPUs"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory --format=csv,noheader 2>&1 |
    sed 's/^/   GPU: /' | tee -a "$SUMMARY"
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
note "   nvcc: $(nvcc --version 2>/dev/null | tail -1)"

if [ -n "${G4_SHARED:-}" ] && [ -d "$G4_SHARED/fixtures" ]; then :
elif [ -d "$ROOT/../shared/fixtures" ]; then G4_SHARED=$(cd "$ROOT/../shared" && pwd)
elif [ -d "$ROOT/shared/fixtures" ]; then G4_SHARED=$ROOT/shared
else G4_SHARED=""; fi
if [ -n "$G4_SHARED" ]; then export G4_SHARED; note "   fixtures: $G4_SHARED/fixtures"
else note "   fixtures: none (copy ../shared/fixtures to shared/fixtures before the call): test_gpu_models skips, g4gen uses a synthetic vocabulary"; fi

# ---- build ----------------------------------------------------------------------------------
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
[ -f "$BUILD/CMakeCache.txt" ] && GEN=()   # keep the generator of an earlier warm call
note "== build (CUDA sm_90, ${GEN[*]:-make}) at $(elapsed) s"
timeout 240 bash -c '
    cmake -S . -B "$1" "${@:2}" -DCMAKE_BUILD_TYPE=Release -DG4_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real &&
    cmake --build "$1" -j16 --target gemma4 g4gen test_gpu_ops test_gpu_models' _ "$BUILD" "${GEN[@]}" >"$LOGS/build.log" 2>&1
BUILD_RC=$?
if [ "$BUILD_RC" != 0 ]; then
    note "   build FAILED (rc $BUILD_RC$([ "$BUILD_RC" = 124 ] && echo ', timed out after 240 s')) at $(elapsed) s; the end of build.log:"
    grep -E 'error|Error' "$LOGS/build.log" | head -20 | tee -a "$SUMMARY"
    tail -5 "$LOGS/build.log" | tee -a "$SUMMARY"
    exit 1
fi
note "   built at $(elapsed) s"

# ---- bench models, in the background while the tests run -------------------------------------
MODELS=$BUILD/bench-models
ROWS=(e4b:bf16 31b:q4_k_m:6 26b-a4b:q4_k_m:6)
mkdir -p "$MODELS"
generate_models() {   # the file names gpu.sh --keep looks for
    local row shape type layers f
    for row in "${ROWS[@]}"; do
        IFS=: read -r shape type layers <<<"$row"
        f=$MODELS/$shape-$type${layers:+-l$layers}.gguf
        [ -f "$f.ok" ] && continue
        echo "== $row at $(elapsed) s"
        "$BUILD/tests/g4gen" --shape "$shape" --format gguf --type "$type" ${layers:+--layers "$layers"} \
            --threads 12 --out "$f" && touch "$f.ok"
    done
    echo "== models done at $(elapsed) s"
}
df -h "$MODELS" | tail -1 | sed 's/^/   disk: /' | tee -a "$SUMMARY"
generate_models >"$LOGS/gen.log" 2>&1 &
GEN_PID=$!

# ---- the GPU tests ---------------------------------------------------------------------------
note "== ctest -L gpu at $(elapsed) s"
# -V: every test's output, the measured errors ("# ...") too
(cd "$BUILD" && timeout 180 ctest -L gpu -V --timeout 170) >"$LOGS/ctest.log" 2>&1
CTEST_RC=$?
grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|tests failed|^[0-9]+: (# |no GPU|no fixtures|ERROR)' "$LOGS/ctest.log" | tee -a "$SUMMARY"
note "   ctest rc $CTEST_RC$([ "$CTEST_RC" = 124 ] && echo ' (timed out after 180 s)') at $(elapsed) s"
if grep -q 'Skipped' "$LOGS/ctest.log"; then   # on a GPU machine a skip is a failure to look at
    note "   WARNING: GPU tests skipped on the GPU machine; their reason:"
    grep -E '^[0-9]+: (no GPU|no fixtures)' "$LOGS/ctest.log" | tee -a "$SUMMARY"
    [ "$CTEST_RC" != 0 ] || CTEST_RC=77
fi

# ---- the peer --------------------------------------------------------------------------------
PEER_OPT=()
PEER=/tmp/peer-cuda
if [ ! -f "$PEER/libggml-cuda.so" ]; then
    for parts in /tmp/g4peer-parts "$ROOT/.g4peer"; do
        ls "$parts"/peer-cuda.tgz.part-* >/dev/null 2>&1 || continue
        if cat "$parts"/peer-cuda.tgz.part-* | tar -xzf - -C /tmp 2>>"$LOGS/bench.log"; then break; fi
        note "   the peer's parts in $parts do not unpack (incomplete?)"
    done
fi
if [ -f "$PEER/libggml-cuda.so" ]; then PEER_OPT=(--peer-dir "$PEER"); note "   peer: $PEER"
else note "   peer: not staged (see tests/bench/gpu.sh's header)"; fi

# ---- the bench -------------------------------------------------------------------------------
while kill -0 "$GEN_PID" 2>/dev/null && [ "$(left)" -gt 150 ]; do sleep 2; done
if kill -0 "$GEN_PID" 2>/dev/null; then   # leave the bench its time: stop the generator and its g4gen
    pkill -P "$GEN_PID" g4gen 2>/dev/null
    kill "$GEN_PID" 2>/dev/null
    note "   g4gen stopped at $(elapsed) s to leave the bench its time"
fi
wait "$GEN_PID" 2>/dev/null
note "== models generated at $(elapsed) s: $(grep -c 'g4gen:.*->' "$LOGS/gen.log") of ${#ROWS[@]} ($(du -sh "$MODELS" | cut -f1))"
ready=()
for row in "${ROWS[@]}"; do
    IFS=: read -r shape type layers <<<"$row"
    if [ -f "$MODELS/$shape-$type${layers:+-l$layers}.gguf.ok" ]; then ready+=("$row"); else note "   $row: no model (see gen.log)"; fi
done
ROWS=("${ready[@]}")
TABLE=$LOGS/bench.md
: >"$TABLE"
for row in "${ROWS[@]}"; do
    budget=$(left)
    if [ "$budget" -lt 30 ]; then note "   $row: skipped, ${budget} s left of $BUDGET"; continue; fi
    note "== bench $row at $(elapsed) s (${budget} s left)"
    timeout "$budget" tests/bench/gpu.sh --build "$BUILD" --dir "$MODELS" --keep --rows "$row" -p 2048 -n 64 \
        --rounds 1 --reps 2 --peer-timeout 150 "${PEER_OPT[@]}" --out "$LOGS/row.md" >>"$LOGS/bench.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ] && [ -f "$LOGS/row.md" ]; then sed '1,2d' "$LOGS/row.md" >>"$TABLE"; echo >>"$TABLE"
    else note "   $row: gpu.sh rc $rc$([ "$rc" = 124 ] && echo ' (out of time)')"; fi
    rm -f "$LOGS/row.md"
done
rm -rf "$MODELS"

note ""
note "== summary at $(elapsed) s: build ok, ctest rc $CTEST_RC"
cat "$TABLE" | tee -a "$SUMMARY"
[ "$CTEST_RC" = 0 ]
