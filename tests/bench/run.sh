#!/usr/bin/env bash
# run.sh: CPU speed of gemma4 against the peer engine (llama.cpp, through
# ../shared/peer's `lref bench`) on the same generated GGUF files with the same
# threads. Not part of `make test` (it takes hours at full size); `make bench`
# runs it. It builds nothing: it expects the release build (build/gemma4,
# build/tests/g4gen) and the peer (build/peer/lref, from `make peer`).
#
# For each model it generates a random-weight file with g4gen (real shape, real
# vocabulary size), then alternates ours / peer for R rounds and prints the
# medians as a markdown table. Models are deleted when their row is done unless
# --keep is given (E2B BF16 is ~9 GB; free disk is checked before generating).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/bench/run.sh [options]
  --quick           smoke run: E2B Q8_0 only, -p 128 -n 16
  --out FILE        also write the table (markdown) to FILE
  --models LIST     comma-separated SHAPE:TYPE rows, TYPE any g4gen --type (default
                    e2b:q4_k_m,e2b:q8_0,e2b:bf16,e4b:q4_k_m; q4_k_m: llama.cpp's Q4_K_M mix)
  --threads T       threads for both engines (default: nproc)
  --rounds R        alternating ours/peer rounds; medians are reported (default 3)
  --reps N          measured runs per round of `gemma4 bench` (-r, default 1; each
                    round also does its one warm-up run)
  -p N  -n N        prompt tokens to prefill, tokens to decode (default 512, 64)
  --build DIR       the release build (default build)
  --bin PATH        gemma4 (default BUILD/gemma4)
  --gen PATH        g4gen (default BUILD/tests/g4gen)
  --peer PATH       the peer's lref (default BUILD/peer/lref)
  --dir DIR         scratch directory for the models (default BUILD/bench-models)
  --keep            keep the generated models (and reuse ones already there)
EOF
}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build BIN="" GEN="" PEER="" DIR="" OUT=""
MODELS=e2b:q4_k_m,e2b:q8_0,e2b:bf16,e4b:q4_k_m
THREADS=$(nproc) ROUNDS=3 REPS=1 NP=512 NG=64 KEEP=0
die() { echo "run.sh: $*" >&2; exit 1; }
posint() { if ! [[ $2 =~ ^[0-9]{1,7}$ ]] || [ "$2" -lt 1 ]; then die "$1 needs a positive integer, got '$2'"; fi; }
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --quick) MODELS=e2b:q8_0 NP=128 NG=16; shift; continue ;;
        --keep) KEEP=1; shift; continue ;;
        -h|--help) usage; exit 0 ;;
    esac
    [ $# -ge 2 ] || die "$opt needs a value (see --help)"
    val=$2; shift 2
    case $opt in
        --out) OUT=$val ;;
        --models) MODELS=$val ;;
        --threads) posint "$opt" "$val"; THREADS=$val ;;
        --rounds) posint "$opt" "$val"; ROUNDS=$val ;;
        --reps) posint "$opt" "$val"; REPS=$val ;;
        -p) posint "$opt" "$val"; NP=$val ;;
        -n) posint "$opt" "$val"; NG=$val ;;
        --build) BUILD=$val ;;
        --bin) BIN=$val ;;
        --gen) GEN=$val ;;
        --peer) PEER=$val ;;
        --dir) DIR=$val ;;
        *) die "unknown option '$opt' (see --help)" ;;
    esac
done
BIN=${BIN:-$BUILD/gemma4} GEN=${GEN:-$BUILD/tests/g4gen} PEER=${PEER:-$BUILD/peer/lref}
DIR=${DIR:-$BUILD/bench-models}
[ -x "$BIN" ] || die "$BIN is missing: build first (make build)"
[ -x "$GEN" ] || die "$GEN is missing: build first (make build)"
[ -x "$PEER" ] || die "the peer $PEER is missing: run make peer (or pass --peer PATH)"
command -v python3 >/dev/null || die "python3 is needed to read the results"
export G4_SHARED=${G4_SHARED:-$(cd "$ROOT/.." && pwd)/shared}   # g4gen copies the real tokenizer from here
mkdir -p "$DIR"

# Peak RSS of the peer: /usr/bin/time -v (installed here when missing and root),
# else getrusage of the child through python3.
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing time (for the peer's peak RSS)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } >/dev/null 2>&1 || true
fi
peak_rss_run() {  # RSSFILE CMD...: runs CMD, writes its peak RSS in KiB to RSSFILE
    local f=$1; shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v -o "$f.time" "$@" || return 1
        sed -n 's/.*Maximum resident set size (kbytes): *//p' "$f.time" >"$f"
    else
        python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r)' "$f" "$@" || return 1
    fi
}

# Rough file sizes for the disk check: parameters per shape, bits per weight per type.
params_of() { case $1 in e2b) echo 4630000000 ;; e4b) echo 7500000000 ;; *) echo 0 ;; esac; }
bits_of() {
    case $1 in f32) echo 32 ;; f16|bf16) echo 16 ;; q8_0) echo 8.5 ;; q6_k) echo 6.6 ;; q5_k|q5_0|q5_1) echo 6 ;;
        q4_k_m) echo 6 ;; q4_k|q4_0|q4_1) echo 5 ;; q3_k) echo 4 ;; q2_k) echo 3 ;; *) echo 16 ;; esac
}

SAMPLES=$DIR/samples.tsv
: >"$SAMPLES"
load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "bench: prompt $NP, decode $NG, threads $THREADS, $ROUNDS round(s) x $REPS run(s); $(nproc) CPUs (${cpu:-unknown}); load $(load)" >&2

IFS=, read -r -a rows <<<"$MODELS"
for row in "${rows[@]}"; do
    shape=${row%%:*} type=${row#*:}
    [ "$shape" != "$row" ] || die "--models: '$row' is not SHAPE:TYPE"
    f=$DIR/$shape-$type.gguf
    if [ "$KEEP" = 1 ] && [ -f "$f.ok" ] && [ -f "$f" ]; then
        echo "== $shape $type: reusing $f" >&2
    else
        rm -f "$f" "$f.ok"
        need=$(python3 -c "import sys; print(int($(params_of "$shape") * $(bits_of "$type") / 8 * 1.05) + (1 << 30))")
        avail=$(( $(df -Pk "$DIR" | awk 'NR == 2 {print $4}') * 1024 ))
        if [ "$avail" -lt "$need" ]; then
            echo "== $shape $type: skipped, needs ~$((need >> 30)) GiB free in $DIR, has $((avail >> 30)) GiB" >&2
            printf '%s\t%s\tskip\t0\t0\t0\t0\n' "$shape" "$type" >>"$SAMPLES"
            continue
        fi
        echo "== $shape $type: generating $f" >&2
        "$GEN" --shape "$shape" --format gguf --type "$type" --out "$f" >&2 || die "g4gen failed for $row"
        touch "$f.ok"
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "   round $r/$ROUNDS: gemma4 (load $(load))" >&2
        if "$BIN" bench -m "$f" -p "$NP" -n "$NG" -t "$THREADS" -r "$REPS" --json >"$DIR/ours.json"; then
            python3 - "$DIR/ours.json" "$shape" "$type" >>"$SAMPLES" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("\t".join([sys.argv[2], sys.argv[3], "ours", str(j["prefill_tok_s"]), str(j["decode_tok_s"]),
                 str(j["peak_rss_mib"] or 0), str(j["ttft_ms"])]))
PY
        else
            echo "   gemma4 bench failed" >&2
        fi
        echo "   round $r/$ROUNDS: peer (load $(load))" >&2
        if peak_rss_run "$DIR/peer.rss" "$PEER" bench "$f" "$NP" "$NG" "$THREADS" >"$DIR/peer.out"; then
            cat "$DIR/peer.out" >&2
            python3 - "$DIR/peer.out" "$DIR/peer.rss" "$shape" "$type" >>"$SAMPLES" <<'PY'
import re, sys
m = re.search(r"prefill ([0-9.]+) tok/s +decode ([0-9.]+) tok/s", open(sys.argv[1]).read())
if not m: sys.exit("run.sh: cannot read the peer's output")
rss = open(sys.argv[2]).read().strip() or "0"
print("\t".join([sys.argv[3], sys.argv[4], "peer", m.group(1), m.group(2), str(int(rss) / 1024), "0"]))
PY
        else
            echo "   the peer failed" >&2
        fi
    done
    [ "$KEEP" = 1 ] || rm -f "$f" "$f.ok"
done
echo "bench: done; load $(load)" >&2

TABLE=$(python3 - "$SAMPLES" "$THREADS" "$NP" "$NG" "$ROUNDS" <<'PY'
import statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    shape, typ, eng, pf, dc, rss, _ = line.rstrip("\n").split("\t")
    key = (shape, typ)
    if key not in rows: rows[key] = {"ours": [], "peer": [], "skip": []}; order.append(key)
    rows[key][eng].append((float(pf), float(dc), float(rss)))
threads, np_, ng, rounds = sys.argv[2:6]
def med(xs, i): return statistics.median(x[i] for x in xs) if xs else None
def f(x, d=2): return "n/a" if x is None else f"{x:.{d}f}"
def ratio(a, b): return "n/a" if a is None or not b else f"{a / b:.2f}"
def rss(x): return "n/a" if not x else f"{x:.0f} MiB"
print(f"prompt {np_} tokens, decode {ng} tokens, median of {rounds} alternating round(s)\n")
print("| model | type | threads | ours prefill tok/s | peer prefill tok/s | ratio | ours decode tok/s | peer decode tok/s | ratio | ours peak RSS | peer peak RSS |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in order:
    r = rows[key]
    name = key[0].upper() + "-shape"
    typ = key[1].upper()
    if r["skip"] and not r["ours"] and not r["peer"]:
        print(f"| {name} | {typ} | {threads} | skipped: not enough free disk | | | | | | | |"); continue
    o, p = r["ours"], r["peer"]
    print(f"| {name} | {typ} | {threads} | {f(med(o, 0))} | {f(med(p, 0))} | {ratio(med(o, 0), med(p, 0))} | "
          f"{f(med(o, 1))} | {f(med(p, 1))} | {ratio(med(o, 1), med(p, 1))} | {rss(med(o, 2))} | {rss(med(p, 2))} |")
PY
)
echo "$TABLE"
if [ "$KEEP" != 1 ]; then   # the per-round samples stay with --keep
    rm -f "$DIR/ours.json" "$DIR/peer.out" "$DIR/peer.rss" "$DIR/peer.rss.time" "$SAMPLES"
    rmdir "$DIR" 2>/dev/null || true
fi
if [ -n "$OUT" ]; then
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    { echo "Measured $(date -u +%Y-%m-%d) on $(nproc) CPUs (${cpu:-unknown}), threads $THREADS, gemma4 $rev."; echo; echo "$TABLE"; } >"$OUT"
fi
