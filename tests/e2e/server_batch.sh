# server_batch.sh: continuous batching in `gemma4 --serve` on a generated model big
# enough that batching matters (H1024, 8 layers, bf16): 16 concurrent streaming
# clients get exactly the outputs they get one at a time (greedy and seeded), and so
# do 8 concurrent non-streaming requests. (How much faster they are together is
# server_throughput.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server/lib.sh"
need_shared
M=$TMP/big.gguf
"$G4_GEN" --shape tiny --format gguf --out "$M" --hidden 1024 --ff 4096 --layers 8 --type bf16 2>/dev/null \
    || { bad "g4gen"; finish; exit 1; }
trap 'stop_server; rm -rf "$TMP"' EXIT
start_server "$TMP/log" -m "$M" --parallel 16 --ctx 256 --shutdown-timeout 1 || { bad "server start"; finish; exit 1; }
python3 - "$PORT" >"$TMP/out" 2>&1 <<'PY'
import http.client, json, sys, threading, time
port = int(sys.argv[1])

def body(i, stream):
    b = {"prompt": "Request number %d says" % i, "max_tokens": 24, "stream": stream}
    b.update({"temperature": 0} if i % 2 == 0 else {"temperature": 1.0, "top_k": 0, "top_p": 1, "seed": 100 + i})
    return json.dumps(b)

def run(i, stream, out):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/completions", body(i, stream), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    if not stream:
        out[i] = json.loads(data)["choices"][0]["text"]
        return
    text, done = "", False
    for line in data.split("\n"):
        if line == "data: [DONE]": done = True
        elif line.startswith("data: "): text += json.loads(line[6:])["choices"][0]["text"] if json.loads(line[6:])["choices"] else ""
    out[i] = text if done else None

def parallel(ids, stream):
    out = {}
    ts = [threading.Thread(target=run, args=(i, stream, out)) for i in ids]
    t0 = time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    return out, time.time() - t0

alone = {}
for i in range(16): run(i, True, alone)
together, _ = parallel(range(16), True)
same = all(together.get(i) == alone[i] and alone[i] is not None for i in range(16))
print("16 streams identical:", same)
for i in range(16):
    if together.get(i) != alone[i]: print("  differs:", i, repr(alone[i]), repr(together.get(i)))
seq = {}
for i in range(8): run(i, False, seq)
par, _ = parallel(range(8), False)
print("SAME8", all(par[i] == seq[i] for i in range(8)))
PY
cat "$TMP/out"
check "16 concurrent streaming clients get their one-at-a-time outputs" grep -q "identical: True" "$TMP/out"
check "8 concurrent non-stream outputs equal one-at-a-time" grep -q "SAME8 True" "$TMP/out"
finish
