#!/usr/bin/env bash
# gpu.sh: GPU speed of gemma4 (`gemma4 bench --gpu-layers all`) against the peer,
# CUDA llama.cpp (the npm package @node-llama-cpp/linux-x64-cuda through a GPU
# build of ../shared/peer/lref.c), on the same generated GGUF files. Conventions
# of tests/bench/run.sh: g4gen makes real-shape random-weight models, ours and the
# peer alternate for R rounds, medians go into a markdown table. It builds
# nothing: it expects a CUDA release build (BUILD/gemma4, BUILD/tests/g4gen).
#
# Rows (--rows): SHAPE:TYPE[:LAYERS], LAYERS cutting the model to its first
# LAYERS layers (g4gen --layers; the table then says "reduced to N of M layers").
# g4gen's K-quantizer makes about 7 M parameters/s per thread (31B-shape Q4_K_M
# with one layer, 556 M parameters: 39 s on 2 threads), so a full 31B Q4_K_M
# (31 G parameters) takes about 4.5 minutes on 16 threads, too long for one
# device call; tests/gpu/device_check.sh runs 31B and 26B-A4B with 6 layers (one
# period of 5 sliding + 1 full; about 4.4 G and 5.8 G parameters, ~40-50 s each)
# and E4B BF16 whole (no quantizing: as fast as the disk).
#
# Bandwidth: for each row, bytes read per decoded token =
#     sum of the GGUF's tensor sizes
#   - per_layer_token_embd (one row of it is read per token)
#   - token_embd when output.weight exists (else it is the tied LM head, read whole)
#   - (1 - top_k / n_experts) x every *_exps tensor (a token reads top_k experts)
# and decode tok/s x that / the peak bandwidth is the fraction of the peak. The
# peak is what `gemma4 bench` prints ("... bandwidth ... GB/s"), else the device's
# memory clock x bus width x 2 (CUDA driver attributes, through python3 ctypes).
#
# The peer on the device machine. That machine cannot download anything, and a
# call carries at most 64 MiB, while libggml-cuda.so alone is 159 MB. So:
#   1. here, once: ../shared/peer/setup.sh /tmp/g4peer, then
#        (cd /tmp/g4peer && npm i -E --no-save --ignore-scripts --no-audit --no-fund \
#            @node-llama-cpp/linux-x64-cuda@3.22.1)
#   2. in the checkout that calls the device tool (its .git/info/exclude holding
#      /.g4peer/):  tests/bench/gpu.sh --stage-peer .g4peer
#      builds .g4peer/peer-cuda/ (the CUDA bins, and lref built from lref.c with
#      every layer on the GPU and one untimed warm-up before its timed prefill,
#      loading its backends from its own folder) and splits its .tar.gz into
#      .g4peer/peer-cuda.tgz.part-aa, -ab, ... of 56 MiB.
#   3. one device run per part, each started within the 30 s the machine stays
#      warm: carry [".g4peer/peer-cuda.tgz.part-aa"], command
#        mkdir -p /tmp/g4peer-parts && cp .g4peer/peer-cuda.tgz.part-* /tmp/g4peer-parts/
#      and so on for -ab, -ac (nothing else large in the checkout meanwhile).
#   4. tests/gpu/device_check.sh joins the parts it finds in /tmp/g4peer-parts or
#      .g4peer/, unpacks them to /tmp/peer-cuda and passes --peer-dir /tmp/peer-cuda.
# Without --peer-dir the table says "peer: not available (...)".
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/bench/gpu.sh [options]
  --rows LIST       comma-separated SHAPE:TYPE[:LAYERS] (default
                    e4b:bf16,31b:q4_k_m,26b-a4b:q4_k_m; LAYERS: g4gen --layers)
  -p N  -n N        prompt tokens to prefill, tokens to decode (default 2048, 64)
  --rounds R        alternating ours/peer rounds; medians are reported (default 3)
  --reps N          measured runs per round of `gemma4 bench` (-r, default 3)
  --peer-dir DIR    the peer: a folder with lref and the CUDA llama.cpp libraries
                    (see --stage-peer); without it the peer columns say why not
  --peer-timeout S  seconds one peer run may take (default 300: its first run may
                    compile the library's PTX for this GPU)
  --build DIR       the CUDA release build (default build)
  --bin PATH        gemma4 (default BUILD/gemma4)
  --gen PATH        g4gen (default BUILD/tests/g4gen)
  --gen-threads N   g4gen threads (default: online CPUs, at most 16)
  --dir DIR         scratch directory for the models (default BUILD/bench-models)
  --out FILE        also write the table (markdown) to FILE
  --keep            keep the generated models (and reuse ones already there)
  --stage-peer DIR  make DIR/peer-cuda and its transport parts (see the header of
                    this script), then exit; G4_PEER_NPM names the folder of
                    ../shared/peer/setup.sh (default /tmp/g4peer)
EOF
}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build BIN="" GEN="" DIR="" OUT="" PEER_DIR="" STAGE=""
ROWS=e4b:bf16,31b:q4_k_m,26b-a4b:q4_k_m
ROUNDS=3 REPS=3 NP=2048 NG=64 KEEP=0 PEER_TIMEOUT=300
GEN_THREADS=$(nproc); [ "$GEN_THREADS" -le 16 ] || GEN_THREADS=16
die() { echo "gpu.sh: $*" >&2; exit 1; }
posint() { if ! [[ $2 =~ ^[0-9]{1,7}$ ]] || [ "$2" -lt 1 ]; then die "$1 needs a positive integer, got '$2'"; fi; }
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --keep) KEEP=1; shift; continue ;;
        -h|--help) usage; exit 0 ;;
    esac
    [ $# -ge 2 ] || die "$opt needs a value (see --help)"
    val=$2; shift 2
    case $opt in
        --rows) ROWS=$val ;;
        -p) posint "$opt" "$val"; NP=$val ;;
        -n) posint "$opt" "$val"; NG=$val ;;
        --rounds) posint "$opt" "$val"; ROUNDS=$val ;;
        --reps) posint "$opt" "$val"; REPS=$val ;;
        --peer-dir) PEER_DIR=$val ;;
        --peer-timeout) posint "$opt" "$val"; PEER_TIMEOUT=$val ;;
        --build) BUILD=$val ;;
        --bin) BIN=$val ;;
        --gen) GEN=$val ;;
        --gen-threads) posint "$opt" "$val"; GEN_THREADS=$val ;;
        --dir) DIR=$val ;;
        --out) OUT=$val ;;
        --stage-peer) STAGE=$val ;;
        *) die "unknown option '$opt' (see --help)" ;;
    esac
done

# ---- --stage-peer: the peer's folder and its transport parts ---------------------------
stage_peer() {
    local out=$1 npm=${G4_PEER_NPM:-/tmp/g4peer}
    local bins=$npm/node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda
    local lref_src=$ROOT/../shared/peer/lref.c
    [ -f "$bins/libggml-cuda.so" ] || die "no CUDA llama.cpp in $bins: install it first (see the header of $0)"
    [ -f "$npm/include/llama.h" ] || die "no llama.h in $npm/include: run ../shared/peer/setup.sh $npm first"
    [ -f "$lref_src" ] || die "$lref_src is missing"
    rm -rf "$out/peer-cuda" && mkdir -p "$out/peer-cuda/include"
    cp "$bins"/*.so "$out/peer-cuda/"
    cp "$npm"/include/*.h "$out/peer-cuda/include/"
    # every layer on the GPU; one untimed prefill first (CUDA and cuBLAS start-up,
    # as gemma4 bench's warm-up run), then the memory cleared for the timed one
    sed -e 's/mp\.n_gpu_layers = 0;/mp.n_gpu_layers = 999;/' \
        -e 's|^\( *\)double t0 = now();|\1if (!strcmp(mode, "bench")) { if (llama_decode(c, llama_batch_get_one(toks, n))) { fprintf(stderr, "warm-up failed\\n"); return 1; } llama_memory_clear(llama_get_memory(c), true); }\n\1double t0 = now();|' \
        "$lref_src" >"$out/peer-cuda/lref_gpu.c"
    grep -q 'n_gpu_layers = 999' "$out/peer-cuda/lref_gpu.c" && grep -q 'warm-up failed' "$out/peer-cuda/lref_gpu.c" ||
        die "lref.c changed: the GPU patches no longer apply"
    build_lref "$out/peer-cuda" || die "cannot build lref for the CUDA libraries"
    rm -f "$out"/peer-cuda.tgz.part-*
    tar -C "$out" -czf - peer-cuda | split -b 56m - "$out/peer-cuda.tgz.part-"
    ls -l "$out"/peer-cuda.tgz.part-* >&2
    echo "peer staged: carry each of $out/peer-cuda.tgz.part-* in its own device call (see the header of $0)" >&2
}

# Builds DIR/lref from DIR/lref_gpu.c against the libraries beside it (found there
# at run time through $ORIGIN; the backends load from the executable's folder).
build_lref() {
    local d=$1
    cc -O2 -DPEER_LIB='getenv("LREF_LIB")' -I"$d/include" -o "$d/lref" "$d/lref_gpu.c" \
        "$d/libllama.cuda.v0.5.0.so" "$d/libggml.cuda.v0.5.0.so" "$d/libggml-base.so" -Wl,-rpath,'$ORIGIN'
}

if [ -n "$STAGE" ]; then
    stage_peer "$STAGE"
    exit 0
fi

BIN=${BIN:-$BUILD/gemma4} GEN=${GEN:-$BUILD/tests/g4gen} DIR=${DIR:-$BUILD/bench-models}
[ -x "$BIN" ] || die "$BIN is missing: build first (cmake --build build)"
[ -x "$GEN" ] || die "$GEN is missing: build first (cmake --build build)"
command -v python3 >/dev/null || die "python3 is needed to read the results"
if [ -z "${G4_SHARED:-}" ]; then   # g4gen copies the real tokenizer from here
    if [ -d "$ROOT/../shared/fixtures" ]; then G4_SHARED=$(cd "$ROOT/../shared" && pwd); else G4_SHARED=$ROOT/shared; fi
fi
export G4_SHARED
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# ---- the peer ------------------------------------------------------------------------------
PEER_NOTE=""
if [ -z "$PEER_DIR" ]; then
    PEER_NOTE="no --peer-dir given"
elif [ ! -f "$PEER_DIR/libggml-cuda.so" ]; then
    PEER_NOTE="$PEER_DIR holds no libggml-cuda.so"
else
    PEER_DIR=$(cd "$PEER_DIR" && pwd)
    export LD_LIBRARY_PATH="$PEER_DIR:/usr/local/cuda/lib64:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export CUDA_CACHE_MAXSIZE=4294967296   # keep what the driver compiles from PTX for the next runs
    # llama.cpp skips a backend it cannot load and runs on the CPU without a word
    missing=$(ldd "$PEER_DIR/libggml-cuda.so" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')
    [ -z "$missing" ] || PEER_NOTE="its libggml-cuda.so needs ${missing% } (not found)"
    # lref prints its usage (exit 2) when it can start at all; rebuild it here if not
    if [ -z "$PEER_NOTE" ] && ! { "$PEER_DIR/lref" 2>&1 || true; } | grep -q usage; then
        echo "peer: the staged lref does not start here; rebuilding it" >&2
        if ! command -v cc >/dev/null || ! build_lref "$PEER_DIR" >&2; then PEER_NOTE="lref does not start and cannot be rebuilt"; fi
    fi
fi
[ -z "$PEER_NOTE" ] || echo "peer: not available ($PEER_NOTE)" >&2

# ---- the GPU's peak bandwidth ----------------------------------------------------------------
# memory clock (kHz) x bus width (bits) x 2 (double data rate), from the CUDA driver
driver_peak_gbs() {
    python3 - <<'PY' 2>/dev/null || echo 0
import ctypes
cuda = ctypes.CDLL("libcuda.so.1")
v, dev = ctypes.c_int(), ctypes.c_int()
assert cuda.cuInit(0) == 0 and cuda.cuDeviceGet(ctypes.byref(dev), 0) == 0
assert cuda.cuDeviceGetAttribute(ctypes.byref(v), 36, dev) == 0   # MEMORY_CLOCK_RATE, kHz
clock = v.value
assert cuda.cuDeviceGetAttribute(ctypes.byref(v), 37, dev) == 0   # GLOBAL_MEMORY_BUS_WIDTH, bits
print("%.1f" % (2.0 * clock * 1e3 * v.value / 8 / 1e9))
PY
}
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
DRIVER_PEAK=$(driver_peak_gbs)

# Layers of the real models (g4gen's shapes), for "reduced to N of M layers".
real_layers() { case $1 in e2b) echo 35 ;; e4b) echo 42 ;; 12b) echo 48 ;; 26b-a4b) echo 30 ;; 31b) echo 60 ;; *) echo "" ;; esac; }

# Bytes read per decoded token (see the header), from the GGUF's tensor table.
bytes_per_token() {
    python3 - "$1" <<'PY'
import struct, sys
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
f = open(sys.argv[1], "rb")
def rd(fmt): return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
def rstr(): return f.read(rd("Q")).decode("utf-8", "replace")
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
def rval(t):
    if t == 8: return rstr()
    if t == 9:
        et, n = rd("I"), rd("Q")
        if et in SCALAR: f.seek(n * struct.calcsize(SCALAR[et]), 1); return None
        return [rval(et) for _ in range(n)]
    return rd(SCALAR[t])
assert f.read(4) == b"GGUF", "not a GGUF file"
rd("I")
n_tensors, n_kv = rd("Q"), rd("Q")
meta = {}
for _ in range(n_kv):
    k = rstr(); meta[k] = rval(rd("I"))
arch = meta.get("general.architecture", "gemma4")
E, K = meta.get(arch + ".expert_count", 0), meta.get(arch + ".expert_used_count", 0)
sizes = {}
for _ in range(n_tensors):
    name = rstr(); nd = rd("I"); ne = [rd("Q") for _ in range(nd)]; t = rd("I"); rd("Q")
    n = 1
    for x in ne: n *= x
    bs, ts = BLOCK[t]
    sizes[name] = (n // bs * ts, nd)
total = 0.0
for name, (b, nd) in sizes.items():
    if name == "per_layer_token_embd.weight": continue
    if name == "token_embd.weight" and "output.weight" in sizes: continue
    if "_exps" in name and nd == 3 and E: b *= K / E
    total += b
print(int(total))
PY
}

# ---- the rows -------------------------------------------------------------------------------
SAMPLES=$DIR/gpu-samples.tsv
: >"$SAMPLES"
echo "gpu bench: prompt $NP, decode $NG, $ROUNDS round(s) x $REPS run(s); ${GPU_NAME:-unknown GPU}, driver peak ${DRIVER_PEAK} GB/s" >&2
IFS=, read -r -a rows <<<"$ROWS"
for row in "${rows[@]}"; do   # every row checked before the first is run
    IFS=: read -r shape type layers extra <<<"$row"
    [ -n "$shape" ] && [ -n "$type" ] && [ -z "${extra:-}" ] || die "--rows: '$row' is not SHAPE:TYPE[:LAYERS]"
    if [ -n "${layers:-}" ]; then   # 2 at least: llama.cpp wants a sliding layer beside the last, full one
        posint "--rows $row" "$layers"
        [ "$layers" -ge 2 ] || die "--rows $row: LAYERS must be 2 or more (one sliding, one full)"
    fi
done
for row in "${rows[@]}"; do
    IFS=: read -r shape type layers extra <<<"$row"
    layer_opt=()
    [ -z "${layers:-}" ] || layer_opt=(--layers "$layers")
    f=$DIR/$shape-$type${layers:+-l$layers}.gguf
    if [ "$KEEP" = 1 ] && [ -f "$f.ok" ] && [ -f "$f" ]; then
        echo "== $row: reusing $f" >&2
    else
        rm -f "$f" "$f.ok"
        echo "== $row: generating $f ($GEN_THREADS threads)" >&2
        t0=$(date +%s)
        "$GEN" --shape "$shape" --format gguf --type "$type" "${layer_opt[@]}" --threads "$GEN_THREADS" --out "$f" >&2 ||
            die "g4gen failed for $row"
        echo "   generated in $(( $(date +%s) - t0 )) s" >&2
        touch "$f.ok"
    fi
    full_layers=$(real_layers "$shape")
    bpt=$(bytes_per_token "$f")
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "   round $r/$ROUNDS: gemma4" >&2
        if timeout 600 "$BIN" bench -m "$f" -p "$NP" -n "$NG" -r "$REPS" --gpu-layers all --json >"$DIR/ours.out" 2>"$DIR/ours.err"; then
            python3 - "$DIR/ours.out" "$row" "$bpt" "${layers:-}" "$full_layers" >>"$SAMPLES" <<'PY' || echo "   cannot read gemma4 bench's output" >&2
import json, re, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):text.rindex("}") + 1])
dev = j.get("device") or (re.search(r"^device: *(.*)$", text, re.M) or [None, ""])[1]
bw = re.search(r"bandwidth[^0-9\n]*([0-9.]+) *GB/s", text)
peak = j.get("peak_bandwidth_gb_s") or (float(bw.group(1)) if bw else 0)
print("\t".join([sys.argv[2], "ours", str(j["prefill_tok_s"]), str(j["decode_tok_s"]), sys.argv[3], sys.argv[4],
                 sys.argv[5], str(peak), dev.replace("\t", " ")]))
PY
        else
            echo "   gemma4 bench failed: $(tail -1 "$DIR/ours.err")" >&2
            printf '%s\tfail\t0\t0\t%s\t%s\t%s\t0\t%s\n' "$row" "$bpt" "${layers:-}" "$full_layers" "$(tail -1 "$DIR/ours.err" | tr '\t' ' ')" >>"$SAMPLES"
        fi
        [ -z "$PEER_NOTE" ] || continue
        echo "   round $r/$ROUNDS: peer" >&2
        if timeout "$PEER_TIMEOUT" "$PEER_DIR/lref" bench "$f" "$NP" "$NG" "$(nproc)" >"$DIR/peer.out" 2>"$DIR/peer.err"; then
            cat "$DIR/peer.out" >&2
            python3 - "$DIR/peer.out" "$row" "$bpt" "${layers:-}" "$full_layers" >>"$SAMPLES" <<'PY' || echo "   cannot read the peer's output" >&2
import re, sys
m = re.search(r"prefill ([0-9.]+) tok/s +decode ([0-9.]+) tok/s", open(sys.argv[1]).read())
if not m: sys.exit(1)
print("\t".join([sys.argv[2], "peer", m.group(1), m.group(2), sys.argv[3], sys.argv[4], sys.argv[5], "0", ""]))
PY
        else
            rc=$?
            why=$([ "$rc" = 124 ] && echo "timed out after $PEER_TIMEOUT s" ||
                  grep -m1 -E 'GGML_ASSERT|error|failed' "$DIR/peer.err" || tail -1 "$DIR/peer.err")
            why=${why##*/}   # no build paths in the table
            echo "   the peer failed: $why" >&2
            printf '%s\tpeerfail\t0\t0\t%s\t%s\t%s\t0\t%s\n' "$row" "$bpt" "${layers:-}" "$full_layers" "$(echo "$why" | tr '\t' ' ')" >>"$SAMPLES"
        fi
    done
    [ "$KEEP" = 1 ] || rm -f "$f" "$f.ok"
done

TABLE=$(python3 - "$SAMPLES" "$NP" "$NG" "$ROUNDS" "$DRIVER_PEAK" "$PEER_NOTE" "${GPU_NAME:-unknown GPU}" <<'PY'
import statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    row, eng, pf, dc, bpt, layers, full, peak, note = line.rstrip("\n").split("\t")
    if row not in rows: rows[row] = {"ours": [], "peer": [], "fail": [], "peerfail": [], "bpt": float(bpt),
                                     "layers": layers, "full": full, "peak": 0.0, "dev": ""}; order.append(row)
    r = rows[row]
    r[eng].append((float(pf), float(dc)) if eng in ("ours", "peer") else note)
    if eng == "ours":
        r["peak"] = max(r["peak"], float(peak))
        r["dev"] = note or r["dev"]
np_, ng, rounds, driver_peak, peer_note, gpu = sys.argv[2:8]
def med(xs, i): return statistics.median(x[i] for x in xs) if xs else None
def f(x): return "n/a" if x is None else f"{x:.1f}"
def ratio(a, b): return "n/a" if a is None or not b else f"{a / b:.2f}"
devs = sorted({rows[k]["dev"] for k in order if rows[k]["dev"]})
print(f"{gpu}; gemma4 on {', '.join(devs) or 'n/a'}; prompt {np_} tokens, decode {ng} tokens, median of {rounds} alternating round(s)")
if peer_note: print(f"\npeer: not available ({peer_note})")
print("\n| model | type | layers | ours prefill tok/s | peer prefill tok/s | ratio | ours decode tok/s | peer decode tok/s | ratio | GB read / token | ours GB/s | % of peak |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in order:
    r = rows[key]
    shape, typ = key.split(":")[:2]
    name = shape.upper() + "-shape"
    layers = f"reduced to {r['layers']} of {r['full'] or '?'} layers" if r["layers"] else "all"
    o, p = r["ours"], r["peer"]
    if not o:
        print(f"| {name} | {typ.upper()} | {layers} | gemma4 bench failed: {(r['fail'] or ['?'])[-1]} | | | | | | | | |"); continue
    pp = f(med(p, 0)) if p else ("n/a: " + r["peerfail"][-1] if r["peerfail"] else "n/a")
    pd = f(med(p, 1)) if p else "n/a"
    peak = r["peak"] or float(driver_peak or 0)
    gbs = med(o, 1) * r["bpt"] / 1e9
    share = f"{100 * gbs / peak:.0f}% of {peak:.0f} GB/s" if peak else "n/a (no peak)"
    print(f"| {name} | {typ.upper()} | {layers} | {f(med(o, 0))} | {pp} | {ratio(med(o, 0), med(p, 0))} | "
          f"{f(med(o, 1))} | {pd} | {ratio(med(o, 1), med(p, 1))} | {r['bpt'] / 1e9:.2f} | {gbs:.0f} | {share} |")
PY
)
echo "$TABLE"
if [ "$KEEP" != 1 ]; then
    rm -f "$DIR/ours.out" "$DIR/ours.err" "$DIR/peer.out" "$DIR/peer.err" "$SAMPLES"
    rmdir "$DIR" 2>/dev/null || true
fi
if [ -n "$OUT" ]; then
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    { echo "Measured $(date -u +%Y-%m-%d), gemma4 $rev."; echo; echo "$TABLE"; } >"$OUT"
fi
