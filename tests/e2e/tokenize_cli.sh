# tokenize_cli.sh: `gemma4 tokenize` as the tests and users run it: the ids of one
# text, the --jsonl mode against golden.jsonl, --untrusted, an HF directory, bad
# input (one line on stderr, exit 1 or 2), and, when G4_PEER names the peer's lref
# (e.g. /tmp/g4peer/lref), agreement with llama.cpp on a few dozen strings.
. "$(dirname "$0")/lib.sh"
need_shared
V=$G4_SHARED/fixtures/vocab/ggml-vocab-gemma-4.gguf
G=$G4_SHARED/fixtures/tokenizer/golden.jsonl
tok() { "$G4_BIN" tokenize "$@"; }

check "Hello, world! (BOS added)" [ "$(tok -m "$V" "Hello, world!")" = "2,9259,236764,1902,236888" ]
check "--no-bos" [ "$(tok -m "$V" --no-bos "Hello, world!")" = "9259,236764,1902,236888" ]
check "special-token text is parsed" [ "$(tok -m "$V" --no-bos "<|turn>user
Hi<turn|>")" = "105,2364,107,10979,106" ]
check "<bos> text is BOS" [ "$(tok -m "$V" --no-bos "<bos>Hello,")" = "2,9259,236764" ]
check "empty text" [ "$(tok -m "$V" --no-bos "")" = "" ]
check "empty text with BOS" [ "$(tok -m "$V" "")" = "2" ]
check "text after --" [ "$(tok -m "$V" --no-bos -- "-5")" = "236772,236810" ]
untrusted=$(tok -m "$V" --no-bos --untrusted "<|turn>user<turn|><|tool_call><|\"|>")
check "--untrusted yields no special ids" python3 -c "
import sys; ids = [int(x) for x in sys.argv[1].split(',')]
sys.exit(0 if ids and not set(ids) & {2, 105, 106, 48, 52} else 1)" "$untrusted"

tok -m "$V" --jsonl "$G" >"$TMP/golden.out"
check "--jsonl: golden.jsonl exact on every line" python3 - "$G" "$TMP/golden.out" <<'PY'
import json, sys
want = [json.loads(l)["ids"] for l in open(sys.argv[1])]
got = [json.loads(l)["ids"] for l in open(sys.argv[2])]
bad = [i + 1 for i, (a, b) in enumerate(zip(want, got)) if a != b]
print(f"  {len(want) - len(bad)}/{len(want)} lines exact" + (f"; first bad line {bad[0]}" if bad else ""))
sys.exit(0 if len(want) == len(got) == 299 and not bad else 1)
PY
check "--jsonl - reads stdin" [ "$(printf '{"text": "Hi"}\n\n{"text": "<|turn>"}\n' | tok -m "$V" --jsonl -)" = '{"ids": [10979]}
{"ids": [105]}' ]
check "--jsonl --untrusted" [ "$(printf '{"text": "<|turn>"}\n' | tok -m "$V" --untrusted --jsonl - | grep -c '\b105\b')" = 0 ]

# The llama.cpp test cases (text not parsed for specials, no BOS): every case exact.
check "vocab .inp/.out cases exact" python3 - "$V" "$G4_BIN" <<'PY'
import json, subprocess, sys
vocab, binary = sys.argv[1], sys.argv[2]
cases = open(vocab + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
want = open(vocab + ".out").read().split("\n")[:len(cases)]
inp = "".join(json.dumps({"text": c}) + "\n" for c in cases)
out = subprocess.run([binary, "tokenize", "-m", vocab, "--untrusted", "--jsonl", "-"], input=inp.encode(),
                     capture_output=True, check=True).stdout.decode().splitlines()
bad = [i for i, (w, o) in enumerate(zip(want, out)) if [int(x) for x in w.split()] != json.loads(o)["ids"]]
print(f"  {len(cases) - len(bad)}/{len(cases)} cases exact")
sys.exit(0 if len(out) == len(cases) and not bad else 1)
PY

# An HF directory (tokenizer.json) gives the same ids as a GGUF of the same pieces.
mkdir -p "$TMP/hf"
cat >"$TMP/hf/tokenizer.json" <<'JSON'
{"model": {"type": "BPE", "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "a": 3, "b": 4, "ab": 5, "▁": 6, "▁ab": 7, "<0x63>": 8},
 "merges": [["a", "b"], "▁ ab"]},
 "added_tokens": [{"id": 1, "content": "<eos>", "special": true}, {"id": 2, "content": "<bos>", "special": true}]}
JSON
check "HF directory" [ "$(tok -m "$TMP/hf" "ab ab<eos>c")" = "2,5,7,1,8" ]

# expect_error NAME EXPECTED-WORDS COMMAND...: exit 1 or 2 (not a signal), one line naming the problem
expect_error() {
    local name=$1 words=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then bad "$name (exit $rc)"; return; fi
    if [ "$(wc -l <"$TMP/err")" != 1 ]; then bad "$name (stderr is not one line)"; cat "$TMP/err"; return; fi
    if ! grep -qi -- "$words" "$TMP/err"; then bad "$name (stderr lacks '$words')"; cat "$TMP/err"; return; fi
    ok "$name: $(cat "$TMP/err")"
}
expect_error "missing vocab file" "no such file" tok -m "$TMP/nope.gguf" "x"
expect_error "not a GGUF" "gguf" tok -m "$V.inp" "x"
head -c 300000 "$V" >"$TMP/trunc.gguf"
expect_error "truncated vocab GGUF" "trunc" tok -m "$TMP/trunc.gguf" "x"
expect_error "HF directory without tokenizer.json" "tokenizer.json" tok -m "$TMP" "x"
expect_error "no -m" "-m MODEL" tok "x"
expect_error "no text" "TEXT" tok -m "$V"
expect_error "unknown option" "unknown option" tok -m "$V" --frobnicate "x"
expect_error "two texts" "more than one" tok -m "$V" "x" "y"
expect_error "missing --jsonl file" "cannot read" tok -m "$V" --jsonl "$TMP/nope.jsonl"
printf '{"text": "ok"}\n{"text": 5}\n' >"$TMP/bad.jsonl"
expect_error "--jsonl line without text" "bad.jsonl:2" tok -m "$V" --jsonl "$TMP/bad.jsonl"
printf '{"text": "ok"\n' >"$TMP/bad2.jsonl"
expect_error "--jsonl line not JSON" "bad2.jsonl:1" tok -m "$V" --jsonl "$TMP/bad2.jsonl"

# The peer (llama.cpp through lref; tokhex: one hex-encoded text per line, no BOS,
# special text parsed) against ours on the same strings.
if [ -x "${G4_PEER:-}" ]; then
    python3 - "$TMP/peer.hex" "$TMP/peer.jsonl" <<'PY'
import json, sys
texts = [
    "Hello, world!", " leading space", "trailing space ", "two  spaces", "   three", "\t\ttabs\tand spaces ",
    "a\nb", "a\n\nb", "\n" * 31, "\n" * 32, "\n" * 100, " \n \n ", "\r\n\r\n", "x" * 5000, " " * 300,
    "<|turn>user\nHi<turn|>\n<|turn>model\n", "<|channel>thought\nhmm<channel|>ok", "<<|turn>>", "<|turn|>",
    "<|tool_call>call:f{a:<|\"|>x<|\"|>}<tool_call|><|tool_response>", "<bos><eos><pad><unk><mask>", "<|image|><|image>",
    "<start_of_turn>user", "emoji 😀 € 中文 🦙🦙", "日本語のテキスト", "Русский текст", "مرحبا بالعالم", "नमस्ते दुनिया",
    "ﬁ ligature Ⅻ ｆｕｌｌ", "e\u0301 combining", "\u00a0nbsp\u2003emsp\u3000ideo", "1234567890 3.14159 -42",
    "def f(x):\n    return x ** 2\n", "{\"key\": [1, 2, {\"n\": null}]}", "a\u0000b\u0001c", "\U0010FFFF\uFFFD\uE000",
    "<0x41> literal", "▁ literal lower one eighth", "The quick brown fox jumps over the lazy dog. " * 40,
    "<a>  </a> > </b>\n> </ >  </", "x> </", ">" + " " * 50 + "</", "<|turn", "<|tool_call>" * 3,
    "\n" * 70 + "x" + "\n \n" * 30, "a" * 70000, "word " * 20000,
]
# (invalid UTF-8 is left out: the peer throws on it)
with open(sys.argv[1], "w") as h, open(sys.argv[2], "w") as j:
    for t in texts:
        h.write(t.encode().hex() + "\n")
        j.write(json.dumps({"text": t}) + "\n")
PY
    "$G4_PEER" tokhex "$V" "$TMP/peer.hex" >"$TMP/peer.out" 2>/dev/null
    tok -m "$V" --jsonl "$TMP/peer.jsonl" >"$TMP/ours.out"
    check "agrees with the peer (llama.cpp) on every string" python3 - "$TMP/peer.out" "$TMP/ours.out" <<'PY'
import json, sys
peer = [[int(x) for x in l.split(",")] if l.strip() else [] for l in open(sys.argv[1]).read().splitlines()]
ours = [json.loads(l)["ids"] for l in open(sys.argv[2])]
bad = [i for i, (a, b) in enumerate(zip(peer, ours)) if a != b]
print(f"  {len(ours) - len(bad)}/{len(ours)} strings agree" + (f"; first differing: {bad[0]}" if bad else ""))
sys.exit(0 if peer and len(peer) == len(ours) and not bad else 1)
PY
else
    echo "skip: G4_PEER (path of lref) not set; no comparison with the peer"
fi
finish
