# neon_cross.sh: the AArch64 build, checked on this (x86) machine: every engine and
# kernel source compiles for AArch64 with the project's warnings as errors, and the
# NEON dot kernels (kernels/cpu/dot_neon.c) give the scalar kernels' bits for every
# weight type (tests/arm/neon_dot_check.c, cross-compiled and run under qemu-user):
# the SDOT path (-march=armv8.2-a+dotprod, and armv8-a choosing it at run time on
# -cpu max) and the plain NEON path (armv8-a on a Cortex-A53, which lacks SDOT).
# Skips (77) without aarch64-linux-gnu-gcc or qemu-aarch64.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=aarch64-linux-gnu-gcc
QEMU=qemu-aarch64
for tool in "$CC" "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "skip: $tool is missing (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
        exit 77
    }
done

# The flags CMakeLists.txt gives the engine (C17 without extensions, _GNU_SOURCE, the
# warnings); jansson's headers are the same on every architecture, so only they are
# taken from the host (a folder holding just them, not the host's /usr/include).
FLAGS="-std=c17 -O2 -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror -D_GNU_SOURCE"
INC="-I$ROOT/engine/include -I$ROOT/engine -I$ROOT/kernels"
mkdir -p "$TMP/inc"
for h in jansson.h jansson_config.h; do
    [ -f "/usr/include/$h" ] && ln -s "/usr/include/$h" "$TMP/inc/$h"
done

# 1. every engine/ and kernels/cpu/ source compiles for AArch64 (armv8-a, the baseline)
compile_all() {
    local failed=0 f
    for f in "$ROOT"/engine/*/*.c "$ROOT"/kernels/cpu/*.c; do
        # shellcheck disable=SC2086
        if ! $CC $FLAGS -march=armv8-a $INC -isystem "$TMP/inc" -c "$f" -o "$TMP/unit.o" 2>"$TMP/cc.err"; then
            echo "  does not compile for AArch64: ${f#"$ROOT"/}"
            head -n 5 "$TMP/cc.err"
            failed=1
        fi
    done
    return $failed
}
check "engine and kernels compile for AArch64 (-Werror)" compile_all

# 2. the bit-exactness check, built for both targets
SOURCES="$ROOT/tests/arm/neon_dot_check.c $ROOT/kernels/cpu/dot_scalar.c $ROOT/kernels/cpu/dot_neon.c
         $ROOT/kernels/cpu/dot_avx2.c $ROOT/kernels/cpu/dot_avx512.c $ROOT/engine/model/quant.c
         $ROOT/engine/model/quant_k.c"
build() { # build MARCH OUTPUT
    # shellcheck disable=SC2086
    $CC $FLAGS -march="$1" $INC -static -o "$2" $SOURCES -lm
}
check "neon_dot_check builds for armv8.2-a+dotprod" build armv8.2-a+dotprod "$TMP/check_dotprod"
check "neon_dot_check builds for armv8-a" build armv8-a "$TMP/check_base"

run() { # run NAME QEMU_CPU BINARY EXPECTED_PATH
    local name=$1 cpu=$2 bin=$3 path=$4
    if [ ! -x "$bin" ]; then bad "$name (not built)"; return; fi
    if "$QEMU" -cpu "$cpu" "$bin" --dotprod "$path" >"$TMP/out" 2>&1; then
        ok "$name"
        sed 's/^/    /' "$TMP/out"
    else
        bad "$name"
        sed 's/^/    /' "$TMP/out"
    fi
}
run "SDOT build on -cpu max: NEON bits = scalar bits" max "$TMP/check_dotprod" yes
run "armv8-a build on -cpu max picks SDOT at run time: bits = scalar bits" max "$TMP/check_base" yes
run "armv8-a build on -cpu cortex-a53 (no SDOT), plain NEON: bits = scalar bits" cortex-a53 "$TMP/check_base" no
finish
