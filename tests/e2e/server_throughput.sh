# server_throughput.sh: what continuous batching buys: 8 requests sent at once to
# `gemma4 --serve` finish at least 3x sooner than the same 8 sent one after another,
# on a generated model big enough that batching matters (H1536, 8 layers, Q8_0).
# Both figures are printed. A speed test: ctest runs it alone (RUN_SERIAL), and not
# in the sanitizer build (label perf).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server/lib.sh"
need_shared
M=$TMP/big.gguf
"$G4_GEN" --shape tiny --format gguf --out "$M" --hidden 1536 --ff 6144 --layers 8 --type q8_0 2>/dev/null \
    || { bad "g4gen"; finish; exit 1; }
trap 'stop_server; rm -rf "$TMP"' EXIT
start_server "$TMP/log" -m "$M" --parallel 8 --ctx 256 --shutdown-timeout 1 || { bad "server start"; finish; exit 1; }
python3 - "$PORT" >"$TMP/out" 2>&1 <<'PY'
import http.client, json, sys, threading, time
port = int(sys.argv[1])

def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    b = {"prompt": "Request number %d says" % i, "max_tokens": 32, "temperature": 0}
    c.request("POST", "/v1/completions", json.dumps(b), {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read().decode())
    return r["usage"]["completion_tokens"]

run(0)  # warm-up
t0 = time.time()
tokens = sum(run(i) for i in range(8))
t_seq = time.time() - t0
got = {}
ts = [threading.Thread(target=lambda i=i: got.__setitem__(i, run(i))) for i in range(8)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
t_par = time.time() - t0
print("8 requests one at a time: %.2f s (%.1f tok/s); together: %.2f s (%.1f tok/s); %.2fx"
      % (t_seq, tokens / t_seq, t_par, sum(got.values()) / t_par, t_seq / t_par))
print("RATIO %.3f" % (t_seq / t_par))
PY
cat "$TMP/out"
ratio=$(sed -n 's/^RATIO //p' "$TMP/out")
check "8 concurrent requests: at least 3x the throughput of one at a time (${ratio:-none})" \
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 3 else 1)" "${ratio:-0}"
finish
