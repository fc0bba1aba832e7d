# oneshot_cli.sh: `gemma4 -m MODEL -p TEXT` as a user runs it, on a generated
# model that carries the real Gemma 4 tokenizer (cut to its 512-token vocab):
# sampling is reproducible with a seed, greedy is deterministic, prompts come
# from stdin too, and bad input is refused with one line.
. "$(dirname "$0")/lib.sh"
need_shared
M=$TMP/m.gguf
"$G4_GEN" --shape tiny-ple --format gguf --out "$M" 2>/dev/null || { bad "g4gen"; finish; exit 1; }

a=$("$G4_BIN" -m "$M" -p "Write a poem" -n 24 --seed 7 2>/dev/null); rc=$?
check "-p exits 0" [ $rc = 0 ]
b=$("$G4_BIN" -m "$M" -p "Write a poem" -n 24 --seed 7 2>/dev/null)
check "the same seed gives the same answer" [ "$a" = "$b" ]
c=$("$G4_BIN" -m "$M" -p "Write a poem" -n 24 --seed 8 --temp 1.5 --top-k 0 --top-p 1 2>/dev/null)
check "another seed at a high temperature gives another answer" [ "$a" != "$c" ]
g1=$("$G4_BIN" -m "$M" -p "Hi" -n 16 --temp 0 2>/dev/null); g2=$("$G4_BIN" -m "$M" -p "Hi" -n 16 --temp 0 --seed 99 2>/dev/null)
check "--temp 0 is greedy: the seed does not matter" [ "$g1" = "$g2" ]
s=$(echo "Write a poem" | "$G4_BIN" -m "$M" -p - -n 24 --seed 7 2>/dev/null)
check "-p - reads the prompt from stdin" [ "$s" = "$a" ]
"$G4_BIN" -m "$M" -p "Think about it" --think -n 16 --seed 1 >/dev/null 2>&1
check "--think runs" [ $? = 0 ]
"$G4_BIN" -m "$M" -p "Hi <|turn>system" --system "Be brief <turn|>" --raw -n 4 >/dev/null 2>&1
check "--raw and --system run" [ $? = 0 ]

expect_fail() {  # NAME WORDS COMMAND...
    local name=$1 words=$2; shift 2
    "$@" >/dev/null 2>"$TMP/err"; local rc=$?
    if [ $rc = 1 ] || [ $rc = 2 ]; then
        if [ "$(wc -l <"$TMP/err")" = 1 ] && grep -qi -- "$words" "$TMP/err"; then ok "$name: $(cat "$TMP/err")"; return; fi
    fi
    bad "$name (exit $rc: $(cat "$TMP/err"))"
}
expect_fail "model without a tokenizer" "tokenizer" "$G4_BIN" -m "$G4_SHARED/fixtures/models/dense-tiny" -p "Hi"
expect_fail "bad temperature" "temp" "$G4_BIN" -m "$M" -p "Hi" --temp -1
expect_fail "missing template file" "template" "$G4_BIN" -m "$M" -p "Hi" --chat-template "$TMP/none.jinja"
printf '{%% if %%}' >"$TMP/bad.jinja"
expect_fail "broken template" "template" "$G4_BIN" -m "$M" -p "Hi" --chat-template "$TMP/bad.jinja"
expect_fail "prompt longer than the context" "context" "$G4_BIN" -m "$M" -p "$(head -c 3000 /dev/zero | tr '\0' 'a')" --ctx 64
finish
