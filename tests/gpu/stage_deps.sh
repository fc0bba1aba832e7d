#!/usr/bin/env bash
# stage_deps.sh: gathers, on this Debian 12 machine, what tests/gpu/device_check.sh
# needs on a bare GPU machine (no network, no apt there): the .deb files of every
# library the build links (the pkg-config modules of CMakeLists.txt: jansson,
# ncursesw, readline, libcmark-gfm + extensions, libcurl, libcrypto, libmicrohttpd,
# lua5.4, libxml-2.0, cmocka, openblas), their runtime libraries and the runtime
# libraries those need, plus pkgconf, into .g4deps/ at the repository root; and the
# fixtures the GPU check reads, into shared/fixtures. Both are ignored through
# .git/info/exclude and travel with a device call that carries them:
#     tests/gpu/stage_deps.sh
#     device run: bash tests/gpu/device_check.sh   carry [".g4deps", "shared"]
# device_check.sh unpacks the debs under /tmp/g4deps (never into /) and points
# pkg-config, CMake, the compiler, the linker and the loader there.
#
# What is left out: what every machine that can run nvcc has (the C library and its
# headers, libgcc/libstdc++, zlib, xz, zstd, libtinfo: the BASE list below) and the
# alternatives nobody links (OpenBLAS's OpenMP and serial builds, GnuTLS's DANE,
# C++ and OpenSSL-compat libraries). Each kept deb is trimmed (static libraries,
# docs, manuals and translations removed) and rebuilt with xz -9: the build links
# shared libraries only. A call carries at most 64 MiB in all (the repository's own
# files, shared/ and .g4deps/): the script measures the three and fails if they do
# not fit. Fixtures: only what the GPU tests and g4gen read (each model's
# model.gguf, golden.json, logits.f32, config.json; the real vocabulary GGUF).
#
# usage: tests/gpu/stage_deps.sh [--dir DIR] [--no-fixtures] [--shared DIR]
#   --dir DIR       where the debs go (default: .g4deps at the repository root)
#   --no-fixtures   leave shared/fixtures as it is (still measured)
#   --shared DIR    the reference folder holding fixtures/ (default ../shared)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$ROOT/.g4deps
SHARED_SRC=$ROOT/../shared
FIXTURES=1
LIMIT=$((64 * 1024 * 1024))
die() { echo "stage_deps.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        --dir) [ $# -ge 2 ] || die "--dir needs a folder"; DEST=$(realpath -m "$2"); shift 2 ;;
        --shared) [ $# -ge 2 ] || die "--shared needs a folder"; SHARED_SRC=$2; shift 2 ;;
        --no-fixtures) FIXTURES=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
for tool in apt-get apt-cache dpkg-deb git; do
    command -v "$tool" >/dev/null || die "$tool is needed (run this on the Debian 12 development machine)"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "the GPU machine is x86-64: run this on an amd64 Debian"
grep -q 'VERSION_CODENAME=bookworm' /etc/os-release ||
    echo "stage_deps.sh: warning: not Debian 12 (bookworm); the debs are this system's release" >&2

# DEST holds what this script put there and nothing else: never empty another folder
if [ -e "$DEST" ] && find "$DEST" -mindepth 1 ! -name '*.deb' ! -name PACKAGES | grep -q .; then
    die "$DEST holds files other than debs: not emptying it (choose another --dir)"
fi

# The packages the build asks for by name; the rest is their dependency closure.
ROOTS=(libjansson-dev libncurses-dev libreadline-dev libcmark-gfm-dev libcmark-gfm-extensions-dev
    libcurl4-openssl-dev libssl-dev libmicrohttpd-dev liblua5.4-dev libxml2-dev libcmocka-dev
    libopenblas-dev libopenblas-pthread-dev pkgconf pkgconf-bin)
# On every Ubuntu 24.04 / Debian 13 with a C toolchain (what nvcc itself needs).
BASE=" libc6 libc6-dev libc-dev-bin linux-libc-dev libcrypt1 libcrypt-dev libnsl2 libnsl-dev libtirpc3
    libtirpc-dev libtirpc-common rpcsvc-proto gcc-12-base libgcc-s1 libstdc++6 libgomp1 zlib1g liblzma5
    libzstd1 libbz2-1.0 libselinux1 libpcre2-8-0 libacl1 libmd0 tar dpkg install-info ncurses-bin
    readline-common libtinfo6 ncurses-base debconf perl-base libdebconfclient0 "
# Alternatives and companions that nothing here links or reads.
UNUSED=" libopenblas0-openmp libopenblas0-serial libopenblas-openmp-dev libopenblas-serial-dev
    libgnutls-dane0 libgnutls-openssl27 libgnutlsxx30 libunbound8 libevent-2.1-7 icu-devtools
    libgmpxx4ldbl "
SKIP=" $(echo $BASE $UNUSED) "   # one line, single spaces
skipped() { [[ $SKIP == *" $1 "* ]]; }

# ---- the closure: breadth first, the first usable alternative of each "a | b" ---------
declare -A SEEN=()
QUEUE=("${ROOTS[@]}")
PACKAGES=()
while [ ${#QUEUE[@]} -gt 0 ]; do
    pkg=${QUEUE[0]}; QUEUE=("${QUEUE[@]:1}")
    [ -n "${SEEN[$pkg]:-}" ] && continue
    SEEN[$pkg]=1
    apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1 || die "no package '$pkg' in the apt lists (apt-get update?)"
    PACKAGES+=("$pkg")
    group=()   # the alternatives of one dependency, in apt's order
    while read -r kind name; do
        group+=("$name")
        [[ $kind == '|'* ]] && continue   # "|Depends:" means: or the next one
        chosen=""
        for alt in "${group[@]}"; do
            [[ $alt == '<'* ]] && continue   # a virtual package: provided by another alternative
            if skipped "$alt"; then chosen=-; break; fi
            chosen=$alt; break
        done
        group=()
        [ -n "$chosen" ] && [ "$chosen" != - ] && QUEUE+=("$chosen")
    done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
                 --no-enhances "$pkg" | sed -n 's/^ *\(|\{0,1\}\(Pre\)\{0,1\}Depends:\) \(.*\)$/\1 \3/p')
done

# ---- download and trim --------------------------------------------------------------------
WORK=$(mktemp -d /tmp/stage_deps.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/dl"
echo "== downloading ${#PACKAGES[@]} packages"
if ! (cd "$WORK/dl" && apt-get download -q "${PACKAGES[@]}" >"$WORK/apt.log" 2>&1); then
    echo "   apt-get download failed; updating the lists once"
    apt-get update -q >/dev/null 2>&1 || die "apt-get update failed (no network to the mirror?)"
    (cd "$WORK/dl" && apt-get download -q "${PACKAGES[@]}" >"$WORK/apt.log" 2>&1) ||
        { tail -5 "$WORK/apt.log" >&2; die "apt-get download failed"; }
fi

rm -rf "$DEST"
mkdir -p "$DEST"
ORIGINAL=0
for deb in "$WORK"/dl/*.deb; do
    ORIGINAL=$((ORIGINAL + $(stat -c %s "$deb")))
    tree=$WORK/tree
    rm -rf "$tree"
    dpkg-deb -R "$deb" "$tree"
    rm -rf "$tree"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion}
    find "$tree" -path "$tree/DEBIAN" -prune -o \( -name '*.a' -o -name '*.la' \) -print0 | xargs -0r rm -f
    rm -f "$tree/DEBIAN/conffiles" "$tree/DEBIAN/md5sums"   # they would name removed files
    # --nocheck: the trimmed control data stays as Debian wrote it
    dpkg-deb --nocheck -Zxz -z9 -b "$tree" "$DEST/$(basename "$deb")" 2>&1 >/dev/null |
        { grep -v 'not checking contents of control area' >&2 || true; }
done
printf '%s\n' "${PACKAGES[@]}" | sort >"$DEST/PACKAGES"
echo "   $(ls "$DEST"/*.deb | wc -l) debs: $((ORIGINAL / 1024)) KiB as downloaded, $(du -sk "$DEST" | cut -f1) KiB trimmed, in $DEST"
ls -S "$DEST"/*.deb | head -6 | while read -r f; do printf '     %6d KiB  %s\n' $(($(stat -c %s "$f") / 1024)) "$(basename "$f")"; done

# ---- ignored in git, so that only `carry` moves them ---------------------------------------
exclude=$(git -C "$ROOT" rev-parse --path-format=absolute --git-path info/exclude)
ignore_in_git() {   # $1: a path relative to the repository root
    git -C "$ROOT" check-ignore -q "$1" 2>/dev/null && return
    mkdir -p "$(dirname "$exclude")"
    echo "/$1/" >>"$exclude"
    echo "   added /$1/ to $exclude"
}
case $DEST in "$ROOT"/*) ignore_in_git "${DEST#"$ROOT"/}" ;; esac

# ---- the fixtures the GPU check reads ------------------------------------------------------
if [ "$FIXTURES" = 1 ]; then
    [ -d "$SHARED_SRC/fixtures/models" ] || die "no fixtures at $SHARED_SRC/fixtures (--shared DIR, or --no-fixtures)"
    [ ! -L "$ROOT/shared" ] && [ ! -L "$ROOT/shared/fixtures" ] ||
        die "$ROOT/shared is a link (to the reference folder?): a device call needs a copy there, remove the link first"
    [ "$(realpath "$SHARED_SRC")" != "$(realpath -m "$ROOT/shared")" ] || die "--shared names the copy itself"
    rm -rf "$ROOT/shared/fixtures"
    mkdir -p "$ROOT/shared/fixtures/vocab"
    for model in "$SHARED_SRC"/fixtures/models/*/; do
        name=$(basename "$model")
        [ -f "$model/model.gguf" ] || continue
        mkdir -p "$ROOT/shared/fixtures/models/$name"
        for f in model.gguf golden.json logits.f32 config.json; do
            [ -f "$model/$f" ] && cp "$model/$f" "$ROOT/shared/fixtures/models/$name/"
        done
    done
    cp "$SHARED_SRC"/fixtures/vocab/ggml-vocab-gemma-4.gguf "$ROOT/shared/fixtures/vocab/"
    chmod -R u+w "$ROOT/shared"
    ignore_in_git shared
fi

# ---- what a call carries -------------------------------------------------------------------
bytes_of() { [ -e "$1" ] && du -sb "$1" | cut -f1 || echo 0; }
tree_bytes=$(cd "$ROOT" && git ls-files -z -c -o --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
shared_bytes=$(bytes_of "$ROOT/shared")
deps_bytes=$(case $DEST in "$ROOT"/*) bytes_of "$DEST" ;; *) echo 0 ;; esac)
total=$((tree_bytes + shared_bytes + deps_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "== a device call carries $(mib $total) of $(mib $LIMIT): the repository's files $(mib "$tree_bytes"), shared/ $(mib "$shared_bytes"), $(basename "$DEST")/ $(mib "$(bytes_of "$DEST")")"
[ "$total" -le "$LIMIT" ] || die "over the 64 MiB a call carries: remove what the call does not need from shared/"
