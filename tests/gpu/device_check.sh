#!/usr/bin/env bash
# device_check.sh: the one command a session runs on the GPU machine (the device
# tool, /work/.library/device/README.md): build with CUDA for sm_90 only, run the
# GPU tests (ctest -L gpu), then tests/bench/gpu.sh at sizes that fit, all within
# about 8 minutes, each step under its own timeout. Logs, the table and a summary
# go under $OUT when it is set (the files that come back), else build-gpu/check/.
#
# The machine is bare: no network, no apt, and very likely none of the -dev
# libraries CMakeLists.txt asks pkg-config for (maybe not even pkg-config). So a
# session with a GPU works in the checkout that calls the device tool (the
# session's own: the tool sends that one, whichever worktree calls it):
#   1. here, once per checkout (about 2 minutes):  tests/gpu/stage_deps.sh
#        downloads the debs of those libraries, their runtime libraries and pkgconf
#        into .g4deps/ (64 debs, about 23 MiB trimmed), copies the fixtures the check
#        reads (models without their safetensors, the real vocabulary: about 25 MiB)
#        into shared/fixtures, ignores both through .git/info/exclude and prints what
#        a call carries (about 51 MiB of the 64; it fails if over).
#   2. optional, the peer (CUDA llama.cpp), whose parts are 56 MiB each: steps 1-3
#      of tests/bench/gpu.sh's header (--stage-peer, then one call per part, each
#      carrying one .g4peer/peer-cuda.tgz.part-* and copying it to /tmp/g4peer-parts,
#      each call within the 30 s the machine stays warm after the one before, and
#      step 3 below too). shared/ travels with every call: move it out of the
#      checkout during these calls (56 + 25 MiB is over 64) and back before step 3.
#      Without the parts the table says "peer: not staged".
#   3. device run: command  bash tests/gpu/device_check.sh
#                  carry    [".g4deps", "shared"]      timeout_s 570
#      then read summary.txt (build.log, smoke.log, ctest.log, gen.log, bench.log,
#      bench.md, deps.log when not empty) from the files that come back. Exit 0: all
#      passed; 77: no GPU seen (built, smoke-tested, nothing measured); else 1.
# Here the script unpacks every .g4deps/*.deb with dpkg-deb -x (ar + tar where
# dpkg-deb is missing) into /tmp/g4deps, never into /; rewrites the .pc files'
# /usr paths to /tmp/g4deps/usr; points absolute symbolic links into that tree;
# lets a library the machine already has (its soname in ldconfig's cache) win over
# the staged copy, so that the machine's own tools (cc1, ld, python3) never load
# an older Debian build; and exports PKG_CONFIG_PATH/PKG_CONFIG_LIBDIR,
# CMAKE_PREFIX_PATH, CPATH, LIBRARY_PATH and LD_LIBRARY_PATH for configure, build,
# link and run, using the staged pkgconf where the machine has no pkg-config.
# It finds cmake and ninja from pip when they are not on PATH, nvcc in
# /usr/local/cuda/bin, and checks that nvcc accepts the host g++ (else an older
# g++-N, else -allow-unsupported-compiler). Whatever is missing is named in the
# summary. G4_SHARED may name the fixtures' parent instead of shared/.
# Without a GPU (nvidia-smi sees none) it still builds and runs the tests (they
# skip) and the CPU smoke run, and says that it skipped the bench.
# Knobs, for trying the script elsewhere: G4_DEPS_ISOLATED=1 uses the staged
# libraries and pkgconf alone (no system .pc files, no system library wins);
# G4_CHECK_BUILD_TIMEOUT (seconds, default 240); G4_CHECK_JOBS (default nproc).
#
# Budget, in seconds (each a `timeout`): unpacking the debs ~5, configure + build
# 240 (targets gemma4, g4gen and the two GPU tests), ctest 180 while g4gen makes
# the bench models in the background (E4B BF16 whole; 31B and 26B-A4B Q4_K_M
# reduced to 6 of 60 and 6 of 30 layers, one period of 5 sliding + 1 full, since
# g4gen would need ~4.5 minutes for a whole 31B Q4_K_M), then one gpu.sh run per
# row, 1 round of 2 measured runs, prompt 2048 and 64 decoded tokens, in whatever
# is left of 470.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
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
HAVE_GPU=0
if GPUS=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory \
              --format=csv,noheader 2>&1) && [ -n "$GPUS" ]; then
    HAVE_GPU=1
fi
echo "$GPUS" | sed 's/^/   GPU: /' | tee -a "$SUMMARY"
[ "$HAVE_GPU" = 1 ] || note "   no GPU seen (nvidia-smi above): build, tests (they skip) and the CPU smoke run only"
MISSING=()   # what the machine lacks, named again in the summary
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
if command -v nvcc >/dev/null; then note "   nvcc: $(command -v nvcc), $(nvcc --version 2>/dev/null | tail -1)"
else note "   nvcc: none on PATH nor in /usr/local/cuda/bin"; MISSING+=(nvcc); fi
# cmake and ninja: a pip install's console scripts are not always on PATH
for tool in cmake ninja; do
    command -v "$tool" >/dev/null && continue
    dir=$(python3 -c "import $tool, sys; sys.stdout.write(getattr($tool, '${tool^^}_BIN_DIR', getattr($tool, 'BIN_DIR', '')))" 2>/dev/null) &&
        [ -x "$dir/$tool" ] && export PATH=$dir:$PATH
done
if command -v cmake >/dev/null; then note "   cmake: $(command -v cmake), $(cmake --version | head -1)"
else note "   cmake: none on PATH nor in python3's cmake package"; MISSING+=(cmake); fi
note "   host compiler: $(for cc in gcc g++; do command -v $cc >/dev/null && echo "$cc $($cc -dumpfullversion 2>/dev/null)" || echo "no $cc"; done | paste -sd' '), glibc $(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d' ' -f2)"

if [ -n "${G4_SHARED:-}" ] && [ -d "$G4_SHARED/fixtures" ]; then :
elif [ -d "$ROOT/../shared/fixtures" ]; then G4_SHARED=$(cd "$ROOT/../shared" && pwd)
elif [ -d "$ROOT/shared/fixtures" ]; then G4_SHARED=$ROOT/shared
else G4_SHARED=""; fi
if [ -n "$G4_SHARED" ]; then export G4_SHARED; note "   fixtures: $G4_SHARED/fixtures"
else note "   fixtures: none (tests/gpu/stage_deps.sh copies them to shared/fixtures): test_gpu_models skips, g4gen uses a synthetic vocabulary"; fi

# ---- the libraries: the debs of tests/gpu/stage_deps.sh, unpacked under /tmp/g4deps ----------
DEPS_SRC=$ROOT/.g4deps
DEPS=/tmp/g4deps
MULTIARCH=x86_64-linux-gnu
ISOLATED=${G4_DEPS_ISOLATED:-0}
CONFIGURE_OPT=()
SYS_PC=/usr/local/lib/$MULTIARCH/pkgconfig:/usr/local/lib/pkgconfig:/usr/local/share/pkgconfig:/usr/lib/$MULTIARCH/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig
unpack_deb() {   # $1: the deb; into $DEPS
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$DEPS"; return; fi
    local tmp rc
    tmp=$(mktemp -d) || return 1
    (cd "$tmp" && ar x "$1" && tar -xf data.tar.* -C "$DEPS"); rc=$?
    rm -rf "$tmp"
    return $rc
}
soname_of() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p'; }
stage_libraries() {
    local debs=("$DEPS_SRC"/*.deb) deb bad=0 link target f so sys kept=0 machine=0 need have
    rm -rf "$DEPS"; mkdir -p "$DEPS/bin"
    for deb in "${debs[@]}"; do
        unpack_deb "$deb" 2>>"$LOGS/deps.log" || { bad=$((bad + 1)); note "   cannot unpack $(basename "$deb") (deps.log)"; }
    done
    # Debian's absolute links (libreadline.so -> /lib/...): into the tree where it has the target
    while IFS= read -r link; do
        target=$(readlink "$link")
        [ -e "$DEPS$target" ] && ln -sfn "$DEPS$target" "$link"
    done < <(find "$DEPS" -type l -lname '/*')
    # update-alternatives' links, which dpkg-deb -x does not make
    f=$DEPS/usr/lib/$MULTIARCH/openblas-pthread/pkgconfig/openblas.pc
    [ -f "$f" ] && [ ! -e "$DEPS/usr/lib/$MULTIARCH/pkgconfig/openblas.pc" ] &&
        mkdir -p "$DEPS/usr/lib/$MULTIARCH/pkgconfig" && cp "$f" "$DEPS/usr/lib/$MULTIARCH/pkgconfig/openblas.pc"
    # the .pc files name /usr: point them at the tree
    find "$DEPS" -name '*.pc' -type f -print0 | xargs -0r sed -i -E \
        "s#(^|[=[:space:]]|-I|-L)/usr(/|[[:space:]]|\$)#\1$DEPS/usr\2#g; s#(^|[=[:space:]]|-I|-L)/lib/$MULTIARCH#\1$DEPS/lib/$MULTIARCH#g"
    # a library the machine has (its soname in ldconfig's cache) is the machine's: link it
    if [ "$ISOLATED" != 1 ] && ldconfig -p >/dev/null 2>&1; then
        while IFS= read -r f; do
            so=$(soname_of "$f"); [ -n "$so" ] || continue
            sys=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ { print $NF; exit }')
            if [ -n "$sys" ] && [ -e "$sys" ]; then ln -sf "$sys" "$f"; machine=$((machine + 1)); else kept=$((kept + 1)); fi
        done < <(find "$DEPS/usr/lib/$MULTIARCH" "$DEPS/lib/$MULTIARCH" -name 'lib*.so.*' -type f 2>/dev/null)
        note "   libraries: $kept staged ones in use, $machine the machine's own (same soname)"
    fi
    # the newest glibc the staged libraries ask for, against the machine's
    need=$(find "$DEPS" -name 'lib*.so.*' -type f -print0 2>/dev/null | xargs -0r readelf -V --wide 2>/dev/null |
           grep -o 'GLIBC_2\.[0-9]*' | sort -uV | tail -1)
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d' ' -f2)
    if [ -n "$need" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "${need#GLIBC_}" "$have" | sort -V | tail -1)" != "$have" ]; then
        note "   WARNING: the staged libraries need $need, the machine has glibc $have: their loads may fail"
    else
        note "   the staged libraries need ${need:-no versioned glibc}, the machine has glibc ${have:-(unknown)}"
    fi
    note "   unpacked ${#debs[@]} debs into $DEPS$([ "$bad" = 0 ] || echo ", $bad failed")$([ "$ISOLATED" = 1 ] && echo ' (isolated: staged libraries and pkgconf alone)')"
}
LIBDIRS=$DEPS/usr/lib/$MULTIARCH:$DEPS/lib/$MULTIARCH:$DEPS/usr/lib/$MULTIARCH/openblas-pthread
if ls "$DEPS_SRC"/*.deb >/dev/null 2>&1; then
    note "== libraries from .g4deps at $(elapsed) s"
    stage_libraries
    DEPS_PC=$DEPS/usr/lib/$MULTIARCH/pkgconfig:$DEPS/usr/lib/pkgconfig:$DEPS/usr/share/pkgconfig
    export PKG_CONFIG_PATH=$DEPS_PC
    if [ "$ISOLATED" = 1 ]; then export PKG_CONFIG_LIBDIR=$DEPS_PC; else export PKG_CONFIG_LIBDIR=$DEPS_PC:$SYS_PC; fi
    export CMAKE_PREFIX_PATH=$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
    export CPATH=$DEPS/usr/include/$MULTIARCH:$DEPS/usr/include${CPATH:+:$CPATH}
    export LIBRARY_PATH=$DEPS/usr/lib/$MULTIARCH:$DEPS/lib/$MULTIARCH${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    if [ -x "$DEPS/usr/bin/pkgconf" ] && { [ "$ISOLATED" = 1 ] || ! command -v pkg-config >/dev/null; }; then
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
            "$DEPS/usr/lib/$MULTIARCH" "$DEPS/usr/bin/pkgconf" >"$DEPS/bin/pkg-config"
        chmod +x "$DEPS/bin/pkg-config"
        export PATH=$DEPS/bin:$PATH
        CONFIGURE_OPT+=("-DPKG_CONFIG_EXECUTABLE=$DEPS/bin/pkg-config")
    fi
else
    note "== libraries: no .g4deps (tests/gpu/stage_deps.sh, then carry it): the machine's own"
fi
if command -v pkg-config >/dev/null; then
    note "   pkg-config: $(command -v pkg-config) $(pkg-config --version 2>&1)"
    absent=()
    for module in jansson ncursesw readline libcmark-gfm libcurl libcrypto libmicrohttpd lua5.4 libxml-2.0 cmocka openblas; do
        pkg-config --exists "$module" 2>>"$LOGS/deps.log" || absent+=("$module")
    done
    if [ ${#absent[@]} -gt 0 ]; then
        note "   pkg-config modules missing: ${absent[*]} (deps.log; stage them with tests/gpu/stage_deps.sh)"
        MISSING+=("${absent[@]}")
    fi
else
    note "   pkg-config: none, and no staged pkgconf (tests/gpu/stage_deps.sh)"; MISSING+=(pkg-config)
fi

# nvcc and the host compiler: CUDA accepts a range of gcc versions
if command -v nvcc >/dev/null; then
    probe=$(mktemp -d)
    printf '__global__ void probe(int *p) { *p = 1; }\nint main() { return 0; }\n' >"$probe/probe.cu"
    if nvcc -arch=sm_90 -c "$probe/probe.cu" -o "$probe/probe.o" >"$probe/log" 2>&1; then
        note "   nvcc compiles with the default host compiler"
    else
        host=""
        for cxx in g++-14 g++-13 g++-12 g++-11; do
            command -v "$cxx" >/dev/null || continue
            if nvcc -ccbin "$cxx" -arch=sm_90 -c "$probe/probe.cu" -o "$probe/probe.o" >/dev/null 2>&1; then host=$cxx; break; fi
        done
        note "   nvcc rejects the default host compiler: $(grep -m1 -iE 'error|unsupported' "$probe/log")"
        if [ -n "$host" ]; then
            CONFIGURE_OPT+=("-DCMAKE_CUDA_HOST_COMPILER=$(command -v "$host")"); note "   so the host compiler of nvcc is $host"
        elif grep -qi 'unsupported GNU version' "$probe/log"; then
            CONFIGURE_OPT+=(-DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler); note "   so nvcc gets -allow-unsupported-compiler"
        fi
    fi
    rm -rf "$probe"
    CONFIGURE_OPT+=("-DCMAKE_CUDA_COMPILER=$(command -v nvcc)")
fi

# ---- build ----------------------------------------------------------------------------------
BUILD_TIMEOUT=${G4_CHECK_BUILD_TIMEOUT:-240}
JOBS=${G4_CHECK_JOBS:-$(nproc)}
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
[ -f "$BUILD/CMakeCache.txt" ] && GEN=()   # keep the generator of an earlier warm call
note "== build (CUDA sm_90, ${GEN[*]:-make}, -j$JOBS) at $(elapsed) s"
timeout "$BUILD_TIMEOUT" bash -c '
    cmake -S . -B "$1" "${@:3}" -DCMAKE_BUILD_TYPE=Release -DG4_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real &&
    cmake --build "$1" -j"$2" --target gemma4 g4gen test_gpu_ops test_gpu_models' _ "$BUILD" "$JOBS" "${GEN[@]}" "${CONFIGURE_OPT[@]}" \
    >"$LOGS/build.log" 2>&1
BUILD_RC=$?
if [ "$BUILD_RC" != 0 ]; then
    note "   build FAILED (rc $BUILD_RC$([ "$BUILD_RC" = 124 ] && echo ", timed out after $BUILD_TIMEOUT s")) at $(elapsed) s; the end of build.log:"
    grep -E 'error|Error|not found|No package' "$LOGS/build.log" | head -20 | tee -a "$SUMMARY"
    tail -5 "$LOGS/build.log" | tee -a "$SUMMARY"
    [ ${#MISSING[@]} = 0 ] || note "   missing on this machine: ${MISSING[*]}"
    exit 1
fi
note "   built at $(elapsed) s"

# ---- the built program loads its libraries and runs, on the CPU -------------------------------
unresolved=$(ldd "$BUILD/gemma4" 2>&1 | grep 'not found' | awk '{ print $1 }' | tr '\n' ' ')
[ -z "$unresolved" ] || note "   gemma4 cannot find: $unresolved"
SMOKE=skipped
SMOKE_MODEL=${G4_SHARED:+$G4_SHARED/fixtures/models/dense-tiny/model.gguf}
if [ -n "$SMOKE_MODEL" ] && [ -f "$SMOKE_MODEL" ]; then
    timeout 60 "$BUILD/gemma4" bench -m "$SMOKE_MODEL" -p 8 -n 4 -r 1 --cpu >"$LOGS/smoke.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then SMOKE=ok; else SMOKE="FAILED (rc $rc)"; fi
    note "== smoke: gemma4 bench -p 8 -n 4 --cpu on dense-tiny: $SMOKE"
    grep -iE 'tok/s|t/s|error' "$LOGS/smoke.log" | head -4 | sed 's/^/   /' | tee -a "$SUMMARY"
else
    note "== smoke: skipped, no fixtures/models/dense-tiny"
fi

# ---- bench models, in the background while the tests run -------------------------------------
MODELS=$BUILD/bench-models
ROWS=(e4b:bf16 31b:q4_k_m:6 26b-a4b:q4_k_m:6)
[ "$HAVE_GPU" = 1 ] || ROWS=()   # nothing to measure them on
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
[ "$HAVE_GPU" = 1 ] || note "   bench models: none (no GPU)"

# ---- the GPU tests ---------------------------------------------------------------------------
note "== ctest -L gpu at $(elapsed) s"
# -V: every test's output, the measured errors ("# ...") too
(cd "$BUILD" && timeout 180 ctest -L gpu -V --timeout 170) >"$LOGS/ctest.log" 2>&1
CTEST_RC=$?
grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|tests failed|^[0-9]+: (# |no GPU|no fixtures|ERROR)' "$LOGS/ctest.log" | tee -a "$SUMMARY"
note "   ctest rc $CTEST_RC$([ "$CTEST_RC" = 124 ] && echo ' (timed out after 180 s)') at $(elapsed) s"
if grep -q 'Skipped' "$LOGS/ctest.log"; then   # on a GPU machine a skip is a failure to look at
    note "   WARNING: GPU tests skipped$([ "$HAVE_GPU" = 1 ] && echo ' on the GPU machine'); their reason:"
    grep -E '^[0-9]+: (no GPU|no fixtures)' "$LOGS/ctest.log" | tee -a "$SUMMARY"
    [ "$CTEST_RC" != 0 ] || CTEST_RC=77
fi

# ---- the peer --------------------------------------------------------------------------------
if [ "$HAVE_GPU" = 1 ]; then
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
fi

# ---- the bench -------------------------------------------------------------------------------
TABLE=$LOGS/bench.md
: >"$TABLE"
if [ "$HAVE_GPU" = 1 ]; then
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
else
    wait "$GEN_PID" 2>/dev/null
    note "== bench: skipped (no GPU)"
fi
rm -rf "$MODELS"

note ""
note "== summary at $(elapsed) s: build ok, smoke $SMOKE, ctest rc $CTEST_RC, $([ "$HAVE_GPU" = 1 ] && echo "bench rows $(grep -c '^|' "$TABLE")" || echo 'no GPU: bench skipped')"
[ ${#MISSING[@]} = 0 ] || note "   missing on this machine: ${MISSING[*]}"
[ -s "$LOGS/deps.log" ] || rm -f "$LOGS/deps.log"   # at most 8 files come back from $OUT
cat "$TABLE" | tee -a "$SUMMARY"
if [ "$HAVE_GPU" != 1 ]; then exit 77; fi   # built and smoke-tested, nothing measured
[ "$CTEST_RC" = 0 ] && [[ $SMOKE != FAILED* ]]
