# hub_pull.sh: `gemma4 pull ID` and `gemma4 -m ID` against a fake hub
# (fakehub.py) serving copies of the shared fixture models: the HF cache layout
# (blobs, relative snapshot symlinks, refs/main) checked with Python's own
# hashes, loading a pulled checkpoint and GGUF, QUANT selection and its error,
# split GGUFs, gated repos and tokens, 404, offline use, and a hub that is down.
. "$(dirname "$0")/lib.sh"
need_shared
command -v python3 >/dev/null || { echo "skip: python3 is absent"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=$G4_SHARED/fixtures/models/dense-tiny
ROOT=$TMP/hub
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE HF_TOKEN_PATH HUGGINGFACE_HUB_CACHE
export HF_HOME=$TMP/hfhome HF_HUB_CACHE=$TMP/cache

# A tokenizer.json for the 512-token fixtures: specials, the 256 byte pieces, filler.
write_tokenizer() {
    python3 - "$1" <<'PY'
import json, sys
specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|channel>", "<channel|>"]
pieces = specials + ["<0x%02X>" % b for b in range(256)]
pieces += ["t%d" % i for i in range(512 - len(pieces))]
tok = {"version": "1.0", "added_tokens": [{"id": i, "content": s, "special": True} for i, s in enumerate(specials)],
       "model": {"type": "BPE", "vocab": {p: i for i, p in enumerate(pieces)}, "merges": [], "byte_fallback": True}}
json.dump(tok, open(sys.argv[1] + "/tokenizer.json", "w"))
json.dump({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
          open(sys.argv[1] + "/tokenizer_config.json", "w"))
json.dump({"do_sample": True, "top_k": 64, "top_p": 0.95}, open(sys.argv[1] + "/generation_config.json", "w"))
PY
}

# acme/tiny-it: the dense fixture as a checkpoint (+ a README the pull skips)
mkdir -p "$ROOT/acme/tiny-it" "$ROOT/acme/tiny-GGUF" "$ROOT/acme/split-GGUF"
cp "$FIX/config.json" "$FIX/model.safetensors" "$ROOT/acme/tiny-it/"
write_tokenizer "$ROOT/acme/tiny-it"
echo "# tiny" >"$ROOT/acme/tiny-it/README.md"
# two files with the same content share one blob
cp "$ROOT/acme/tiny-it/tokenizer_config.json" "$ROOT/acme/tiny-it/special_tokens_map.json"
cp -r "$ROOT/acme/tiny-it" "$ROOT/acme/gated-it"
# acme/tiny-sharded: the same shape in two shards + index
"$G4_GEN" --shape tiny --format hf --shards 2 --out "$ROOT/acme/tiny-sharded" 2>/dev/null || bad "g4gen --shards 2"
write_tokenizer "$ROOT/acme/tiny-sharded"
# acme/tiny-GGUF: two quantizations with the real tokenizer; acme/split-GGUF: a split file
"$G4_GEN" --shape tiny-ple --format gguf --type q4_k --out "$ROOT/acme/tiny-GGUF/tiny-ple-Q4_K_M.gguf" 2>/dev/null || bad "g4gen q4_k"
"$G4_GEN" --shape tiny-ple --format gguf --type q8_0 --out "$ROOT/acme/tiny-GGUF/tiny-ple-Q8_0.gguf" 2>/dev/null || bad "g4gen q8_0"
echo "# gguf" >"$ROOT/acme/tiny-GGUF/README.md"
for f in big-Q4_K_M-00001-of-00002 big-Q4_K_M-00002-of-00002 big-Q8_0 mmproj-big-F16; do
    head -c 70000 /dev/urandom >"$ROOT/acme/split-GGUF/$f.gguf"
done

HUB_PID=
start_hub() {
    rm -f "$TMP/port"
    python3 "$HERE/fakehub.py" --root "$ROOT" --port-file "$TMP/port" --gated acme/gated-it --token secret-token &
    HUB_PID=$!
    for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
    export HF_ENDPOINT=http://127.0.0.1:$(cat "$TMP/port")
}
trap '[ -n "$HUB_PID" ] && kill $HUB_PID 2>/dev/null; rm -rf "$TMP"' EXIT
start_hub
hubctl() { python3 -c "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$HF_ENDPOINT/$1"; }
commit_of() { python3 -c "import json,urllib.request,sys;print(json.load(urllib.request.urlopen(sys.argv[1]))['sha'])" "$HF_ENDPOINT/api/models/$1/revision/main"; }

# verify_layout CACHE REPO FILE...: each FILE is a relative symlink
# snapshots/COMMIT/FILE -> ../../blobs/ETAG whose bytes equal the source, with
# ETAG = sha256 (.safetensors/.gguf) or git blob sha1 as Python computes them.
verify_layout() {
    python3 - "$1" "$2" "$ROOT" "$(commit_of "$2")" "${@:3}" <<'PY'
import hashlib, os, sys
cache, repo, root, commit, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
rd = os.path.join(cache, "models--" + repo.replace("/", "--"))
assert open(os.path.join(rd, "refs", "main")).read() == commit, "refs/main"
for f in files:
    data = open(os.path.join(root, repo, f), "rb").read()
    lfs = f.endswith((".safetensors", ".gguf"))
    etag = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    link = os.path.join(rd, "snapshots", commit, f)
    want = "../" * (2 + f.count("/")) + "blobs/" + etag
    assert os.path.islink(link) and os.readlink(link) == want, (f, os.readlink(link) if os.path.islink(link) else None, want)
    assert open(os.path.join(rd, "blobs", etag), "rb").read() == data, f
assert not [b for b in os.listdir(os.path.join(rd, "blobs")) if b.endswith(".incomplete")], "incomplete blobs left"
PY
}

CACHE=$TMP/cache
TINY=$CACHE/models--acme--tiny-it
out=$("$G4_BIN" pull acme/tiny-it --quiet 2>"$TMP/err"); rc=$?
check "pull of a checkpoint exits 0 ($(head -c 300 "$TMP/err"))" [ $rc = 0 ]
check "pull prints the snapshot directory" [ "$out" = "$TINY/snapshots/$(commit_of acme/tiny-it)" ]
check "--quiet prints nothing on stderr" [ ! -s "$TMP/err" ]
check "cache layout: blobs, relative symlinks, refs/main" verify_layout "$CACHE" acme/tiny-it \
    config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json special_tokens_map.json
check "files the model does not need are not fetched" [ ! -e "$out/README.md" ]

direct=$("$G4_BIN" -m "$ROOT/acme/tiny-it" -p hi -n 4 --temp 0 2>&1)
viahub=$("$G4_BIN" -m acme/tiny-it -p hi -n 4 --temp 0 2>"$TMP/err"); rc=$?
check "gemma4 -m ORG/NAME -p hi loads the pulled checkpoint ($(head -c 300 "$TMP/err"))" [ $rc = 0 ] && [ -n "$viahub" ]
check "it answers as the same checkpoint loaded from its directory" [ "$viahub" = "$direct" ]
tiny_answer=$viahub

hubctl "_control?reset=1" >/dev/null
"$G4_BIN" pull acme/tiny-it --quiet >/dev/null 2>&1
check "a second pull fetches no file again" [ "$(hubctl _log | grep -c /resolve/)" = 0 ]

out=$("$G4_BIN" pull acme/tiny-sharded 2>"$TMP/err"); rc=$?
check "pull of a sharded checkpoint ($(tail -c 300 "$TMP/err"))" [ $rc = 0 ]
check "the index and every shard it names are in the snapshot" verify_layout "$CACHE" acme/tiny-sharded \
    config.json model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors
check "not a tty: plain progress lines end with a summary" grep -q "downloaded 2 files" "$TMP/err"
a=$("$G4_BIN" -m acme/tiny-sharded --tokens 2,105,9 -n 3 2>/dev/null); b=$("$G4_BIN" -m "$ROOT/acme/tiny-sharded" --tokens 2,105,9 -n 3 2>/dev/null)
check "-m loads the sharded checkpoint" [ -n "$a" ] && [ "$a" = "$b" ]

# GGUF repos
G=$CACHE/models--acme--tiny-GGUF/snapshots/$(commit_of acme/tiny-GGUF)
out=$("$G4_BIN" pull acme/tiny-GGUF:Q8_0 --quiet 2>"$TMP/err"); rc=$?
check "pull ORG/NAME:Q8_0 prints the .gguf path ($(head -c 300 "$TMP/err"))" [ $rc = 0 ] && [ "$out" = "$G/tiny-ple-Q8_0.gguf" ]
check "the Q8_0 file matches its source" verify_layout "$CACHE" acme/tiny-GGUF tiny-ple-Q8_0.gguf
check "the other quant is not fetched" [ ! -e "$G/tiny-ple-Q4_K_M.gguf" ]
out=$("$G4_BIN" pull acme/tiny-GGUF:q8_0 --quiet 2>/dev/null)
check "the quant matches case-insensitively" [ "$out" = "$G/tiny-ple-Q8_0.gguf" ]
direct=$("$G4_BIN" -m "$ROOT/acme/tiny-GGUF/tiny-ple-Q4_K_M.gguf" -p hi -n 4 --temp 0 2>&1)
viahub=$("$G4_BIN" -m acme/tiny-GGUF -p hi -n 4 --temp 0 2>"$TMP/err"); rc=$?
check "-m ORG/NAME of a GGUF repo picks Q4_K_M and loads it ($(tail -c 300 "$TMP/err"))" [ $rc = 0 ] && [ "$viahub" = "$direct" ]
check "... which is now in the cache" verify_layout "$CACHE" acme/tiny-GGUF tiny-ple-Q4_K_M.gguf

"$G4_BIN" pull acme/tiny-GGUF:Q5_K_S --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "an unknown quant fails with one line listing the quants ($(cat "$TMP/err"))" \
    [ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "Q5_K_S.*available: Q4_K_M, Q8_0" "$TMP/err"

S=$CACHE/models--acme--split-GGUF/snapshots/$(commit_of acme/split-GGUF)
out=$("$G4_BIN" pull acme/split-GGUF:Q4_K_M --quiet 2>"$TMP/err"); rc=$?
check "a split GGUF: the first part's path ($(head -c 300 "$TMP/err"))" [ $rc = 0 ] && [ "$out" = "$S/big-Q4_K_M-00001-of-00002.gguf" ]
check "a split GGUF: every part, verified" verify_layout "$CACHE" acme/split-GGUF big-Q4_K_M-00001-of-00002.gguf big-Q4_K_M-00002-of-00002.gguf
check "a split GGUF: no other quant, no projector" [ ! -e "$S/big-Q8_0.gguf" ] && [ ! -e "$S/mmproj-big-F16.gguf" ]
"$G4_BIN" pull acme/split-GGUF:F16 --quiet >/dev/null 2>"$TMP/err"
check "mmproj files are not model quants ($(cat "$TMP/err"))" grep -q "available: Q4_K_M, Q8_0$" "$TMP/err"

# gated repos and tokens
"$G4_BIN" pull acme/gated-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "gated repo without a token: exit 1, says gated and HF_TOKEN ($(cat "$TMP/err"))" \
    [ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "gated.*HF_TOKEN" "$TMP/err"
HF_TOKEN=wrong "$G4_BIN" pull acme/gated-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "gated repo with a wrong token: exit 1, HTTP 403 ($(cat "$TMP/err"))" [ $rc = 1 ] && grep -q "403" "$TMP/err"
hubctl "_control?reset=1" >/dev/null
HF_TOKEN=secret-token "$G4_BIN" pull acme/gated-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "gated repo with HF_TOKEN ($(cat "$TMP/err"))" [ $rc = 0 ]
check "the token goes to the endpoint" grep -q '"/acme/gated-it/resolve/.*"auth": "Bearer secret-token"' <(hubctl _log)
check "the token never goes to the CDN host" [ "$(hubctl _log | grep '"/cdn/' | grep -c Bearer)" = 0 ] && hubctl _log | grep -q '"/cdn/acme/gated-it'
mkdir -p "$HF_HOME" && echo "secret-token" >"$HF_HOME/token"
HF_HUB_CACHE=$TMP/cache2 "$G4_BIN" pull acme/gated-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "the token file \$HF_HOME/token ($(cat "$TMP/err"))" [ $rc = 0 ]
rm "$HF_HOME/token"

"$G4_BIN" pull acme/no-such-model --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "404: no such model ($(cat "$TMP/err"))" [ $rc = 1 ] && grep -q "no such model" "$TMP/err"
"$G4_BIN" pull acme/tiny-it --revision v9 --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "404: no such revision ($(cat "$TMP/err"))" [ $rc = 1 ] && grep -q "revision 'v9'" "$TMP/err"
"$G4_BIN" pull "not an id" >/dev/null 2>"$TMP/err"; rc=$?
check "a bad id is refused ($(cat "$TMP/err"))" [ $rc = 1 ] && grep -q "not a model id" "$TMP/err"

# offline: the cache alone
want=$TINY/snapshots/$(commit_of acme/tiny-it)
hubctl "_control?reset=1" >/dev/null
out=$(HF_HUB_OFFLINE=1 "$G4_BIN" pull acme/tiny-it --quiet 2>"$TMP/err"); rc=$?
check "HF_HUB_OFFLINE=1 resolves through refs/main ($(cat "$TMP/err"))" [ $rc = 0 ] && [ "$out" = "$want" ]
HF_HUB_OFFLINE=1 "$G4_BIN" pull acme/tiny-GGUF:Q8_0 --quiet >/dev/null 2>&1
HF_HUB_OFFLINE=1 "$G4_BIN" pull acme/tiny-sharded --quiet >/dev/null 2>&1
check "HF_HUB_OFFLINE=1 never touches the network" [ -z "$(hubctl _log | grep -v _log)" ]
HF_HUB_OFFLINE=1 "$G4_BIN" pull acme/other --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "HF_HUB_OFFLINE=1 with an uncached id: one line, exit 1 ($(cat "$TMP/err"))" \
    [ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "not in the cache" "$TMP/err"

# the hub is down
kill $HUB_PID; wait $HUB_PID 2>/dev/null; HUB_PID=
HF_HUB_CACHE=$TMP/empty "$G4_BIN" pull acme/tiny-it >/dev/null 2>"$TMP/err"; rc=$?
check "hub down, nothing cached: one line, exit 1 ($(cat "$TMP/err"))" \
    [ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "cannot reach $HF_ENDPOINT: .*; cached files: none" "$TMP/err"
out=$("$G4_BIN" -m acme/tiny-it -p hi -n 4 --temp 0 2>"$TMP/err"); rc=$?
check "hub down, cached: -m ID still runs from the cache ($(tail -c 300 "$TMP/err"))" [ $rc = 0 ] && [ "$out" = "$tiny_answer" ]
HF_HUB_OFFLINE=1 "$G4_BIN" -m acme/tiny-it -p hi -n 4 --temp 0 >/dev/null 2>"$TMP/err"; rc=$?
check "HF_HUB_OFFLINE=1 -m ID runs ($(cat "$TMP/err"))" [ $rc = 0 ]
finish
