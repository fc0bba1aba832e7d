# hub_resume.sh: downloads that go wrong, against the fake hub (fakehub.py):
# a dropped connection is continued with a Range request within the run; an
# interrupted run leaves blobs/ETAG.incomplete, which the next run continues
# from its size; wrong bytes (an LFS file or a small git file) fail the hash
# check and leave no blob, complete or partial, for that file.
. "$(dirname "$0")/lib.sh"
need_shared
command -v python3 >/dev/null || { echo "skip: python3 is absent"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=$G4_SHARED/fixtures/models/dense-tiny
ROOT=$TMP/hub
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE HF_TOKEN_PATH HUGGINGFACE_HUB_CACHE
export HF_HOME=$TMP/hfhome
mkdir -p "$ROOT/acme/tiny-it"
cp "$FIX/config.json" "$FIX/model.safetensors" "$ROOT/acme/tiny-it/"

HUB_PID=
rm -f "$TMP/port"
python3 "$HERE/fakehub.py" --root "$ROOT" --port-file "$TMP/port" &
HUB_PID=$!
trap 'kill $HUB_PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
export HF_ENDPOINT=http://127.0.0.1:$(cat "$TMP/port")
hubctl() { python3 -c "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$HF_ENDPOINT/$1"; }

SIZE=$(stat -c %s "$FIX/model.safetensors")
ETAG=$(sha256sum "$FIX/model.safetensors" | cut -d' ' -f1)
blobs() { echo "$1/models--acme--tiny-it/blobs"; }
# every complete blob's content hashes to its name (sha256 or git blob sha1)
blobs_verify() {
    python3 - "$(blobs "$1")" <<'PY'
import hashlib, os, sys
d = sys.argv[1]
for b in os.listdir(d):
    if b.endswith(".incomplete"):
        continue
    data = open(os.path.join(d, b), "rb").read()
    h = hashlib.sha256(data).hexdigest() if len(b) == 64 else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert h == b, b
PY
}
# the Range starts the log shows for model.safetensors
ranges() { hubctl _log | python3 -c "
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e['path'].endswith('/model.safetensors') and e['path'].startswith('/cdn/'): print(e['range'] or 'none')"; }

# 1. the connection drops half way once: continued with Range in the same run
export HF_HUB_CACHE=$TMP/c1
hubctl "_control?reset=1&drop=model.safetensors" >/dev/null
"$G4_BIN" pull acme/tiny-it >/dev/null 2>"$TMP/err"; rc=$?
check "a dropped connection is survived ($(tail -c 300 "$TMP/err"))" [ $rc = 0 ]
r=$(ranges | tr '\n' ' ')
check "the second request continues with Range ($r)" eval '[ "$(ranges | head -1)" = none ] && ranges | sed -n 2p | grep -q "^bytes=[1-9][0-9]*-$"'
check "the resumed blob verifies (sha256)" [ "$(sha256sum "$(blobs "$HF_HUB_CACHE")/$ETAG" | cut -d' ' -f1)" = "$ETAG" ]

# 2. every response drops: the run fails and keeps the partial file; the next run resumes it
export HF_HUB_CACHE=$TMP/c2
hubctl "_control?reset=1&drop=model.safetensors&always=1" >/dev/null
"$G4_BIN" pull acme/tiny-it >/dev/null 2>"$TMP/err"; rc=$?
check "an interrupted download fails with one line ($(cat "$TMP/err" | tail -1))" eval '[ $rc = 1 ] && grep -q "run the command again to resume" "$TMP/err"'
PART=$(blobs "$HF_HUB_CACHE")/$ETAG.incomplete
have=$(stat -c %s "$PART" 2>/dev/null || echo 0)
check "it leaves $ETAG.incomplete with part of the file ($have of $SIZE)" eval '[ "$have" -gt 0 ] && [ "$have" -lt "$SIZE" ]'
check "and no complete blob" [ ! -e "$(blobs "$HF_HUB_CACHE")/$ETAG" ]
hubctl "_control?reset=1" >/dev/null
"$G4_BIN" pull acme/tiny-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
check "the next run completes ($(cat "$TMP/err"))" [ $rc = 0 ]
check "it asked for the rest only (Range: bytes=$have-)" [ "$(ranges)" = "bytes=$have-" ]
blob_complete() { [ "$(sha256sum "$(blobs "$HF_HUB_CACHE")/$ETAG" | cut -d' ' -f1)" = "$ETAG" ] && [ ! -e "$PART" ]; }
check "the result verifies and the .incomplete file is gone" blob_complete
blobs_verify "$HF_HUB_CACHE"; check "every blob's content matches its name" [ $? = 0 ]

# 3. wrong bytes: an LFS file (sha256), then a small git file (git blob sha1)
for f in model.safetensors config.json; do
    export HF_HUB_CACHE=$TMP/c3-$f
    hubctl "_control?reset=1&corrupt=$f" >/dev/null
    "$G4_BIN" pull acme/tiny-it --quiet >/dev/null 2>"$TMP/err"; rc=$?
    check "corrupt $f: exit 1, one line ($(cat "$TMP/err"))" eval '[ $rc = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "$f does not match" "$TMP/err"'
    if [ $f = config.json ]; then e=$(python3 -c "import hashlib,sys;d=open(sys.argv[1],'rb').read();print(hashlib.sha1(b'blob %d\0'%len(d)+d).hexdigest())" "$FIX/config.json")
    else e=$ETAG; fi
    check "corrupt $f: neither a blob nor a partial blob is kept" eval '[ ! -e "$(blobs "$HF_HUB_CACHE")/$e" ] && [ ! -e "$(blobs "$HF_HUB_CACHE")/$e.incomplete" ]'
    check "corrupt $f: no snapshot link to it" [ -z "$(find "$HF_HUB_CACHE" -path "*/snapshots/*/$f")" ]
    blobs_verify "$HF_HUB_CACHE"; check "corrupt $f: every blob kept matches its name" [ $? = 0 ]
done
finish
