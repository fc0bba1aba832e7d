# oneshot_cli.sh: non-interactive `gemma4 -m MODEL -p TEXT` as a user runs it, on
# a generated model that carries the real Gemma 4 tokenizer (cut to its 512-token
# vocab): sampling is reproducible with a seed, greedy is deterministic, prompts
# come from stdin too (-p - or no -p), thinking reaches stderr only with
# --show-thinking, the exit status says how the reply ended (0 answered, 1 error,
# 2 usage, 3 cut at -n or a full context, 130 interrupted by SIGINT, with what was
# generated printed), and bad input is refused with one line.
. "$(dirname "$0")/lib.sh"
need_shared
M=$TMP/m.gguf
"$G4_GEN" --shape tiny-ple --format gguf --out "$M" 2>/dev/null || { bad "g4gen"; finish; exit 1; }
G() { "$G4_BIN" -m "$M" -t 1 "$@"; }

a=$(G -p "Write a poem" -n 24 --seed 7 2>/dev/null); rc=$?
check "-p cut at -n 24 exits 3" [ $rc = 3 ]
b=$(G -p "Write a poem" -n 24 --seed 7 2>/dev/null)
check "the same seed gives the same answer" [ "$a" = "$b" ]
c=$(G -p "Write a poem" -n 24 --seed 8 --temp 1.5 --top-k 0 --top-p 1 2>/dev/null)
check "another seed at a high temperature gives another answer" [ "$a" != "$c" ]
g1=$(G -p "Hi" -n 16 --temp 0 2>/dev/null); g2=$(G -p "Hi" -n 16 --temp 0 --seed 99 2>/dev/null)
check "--temp 0 is greedy: the seed does not matter" [ "$g1" = "$g2" ]
s=$(echo "Write a poem" | G -p - -n 24 --seed 7 2>/dev/null)
check "-p - reads the prompt from stdin" [ "$s" = "$a" ]
s=$(echo "Write a poem" | G -n 24 --seed 7 2>/dev/null); rc=$?
check "no -p with stdin not a terminal reads the prompt from stdin" [ "$s" = "$a" -a $rc = 3 ]

# A reply that ends its turn exits 0 (at a high temperature the random model soon samples <turn|>).
G -p "Write a poem" -n 8000 --seed 1 --temp 1.5 --top-k 0 --top-p 1 >"$TMP/out" 2>"$TMP/err"; rc=$?
check "a reply that ends its turn exits 0, nothing on stderr" [ $rc = 0 -a ! -s "$TMP/err" -a -s "$TMP/out" ]
G -p "Write a poem" --ctx 80 --temp 0 >/dev/null 2>"$TMP/err"; rc=$?
said=$(grep -c "context" "$TMP/err")
check "a reply cut by a full context exits 3 and says so" [ $rc = 3 -a "$said" = 1 ]

# Thinking: a raw prompt that ends inside a thought channel makes the whole reply thinking.
P=$'<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n'
G --raw -p "$P" -n 20 --seed 1 --temp 1.5 --top-k 0 --top-p 1 >"$TMP/out1" 2>"$TMP/err1"
G --raw -p "$P" -n 20 --seed 1 --temp 1.5 --top-k 0 --top-p 1 --show-thinking >"$TMP/out2" 2>"$TMP/err2"
G --raw -p "$P" -n 20 --seed 1 --temp 1.5 --top-k 0 --top-p 1 --hide-thinking >"$TMP/out3" 2>"$TMP/err3"; rc=$?
check "without --show-thinking stderr holds only the one-line note" [ "$(wc -l <"$TMP/err1")" = 1 -a "$(grep -c "^gemma4: " "$TMP/err1")" = 1 ]
check "--show-thinking prints the thinking to stderr" [ "$(wc -c <"$TMP/err2")" -gt "$(wc -c <"$TMP/err1")" ]
check "the thinking never reaches stdout" cmp -s "$TMP/out1" "$TMP/out2"
cmp -s "$TMP/err1" "$TMP/err3"; same=$?
check "--hide-thinking is still accepted (a no-op)" [ $rc = 3 -a $same = 0 ]
G -p "Think about it" --think -n 16 --seed 1 >/dev/null 2>&1; rc=$?
check "--think runs" [ $rc = 0 -o $rc = 3 ]
G -p "Hi <|turn>system" --system "Be brief <turn|>" -n 4 >/dev/null 2>&1; rc=$?
check "--system runs" [ $rc = 0 -o $rc = 3 ]
G -p "Hi <|turn>system" --raw -n 4 >/dev/null 2>&1; rc=$?
check "--raw runs" [ $rc = 0 -o $rc = 3 ]

# SIGINT cancels cleanly: what was generated is printed with a newline, exit 130.
# (A background job of a script starts with SIGINT ignored; gemma4 installs its handler anyway.)
"$G4_BIN" -m "$M" -t 1 -p "Hi" --temp 0 -n 1000000 --ctx 32768 >"$TMP/out" 2>"$TMP/err" &
pid=$!
sleep 1
kill -INT $pid
wait $pid; rc=$?
check "SIGINT exits 130" [ $rc = 130 ]
check "SIGINT says how many tokens were generated" grep -q "interrupted after [0-9]* tokens" "$TMP/err"
check "SIGINT ends stdout with a newline" [ "$(tail -c 1 "$TMP/out" | od -An -c | tr -d ' ')" = '\n' ]

expect_fail() {  # NAME WORDS STATUS COMMAND...
    local name=$1 words=$2 status=$3; shift 3
    "$@" >/dev/null 2>"$TMP/err" </dev/null; local rc=$?
    if [ $rc = "$status" ]; then
        if [ "$(wc -l <"$TMP/err")" = 1 ] && grep -qi -- "$words" "$TMP/err"; then ok "$name: $(cat "$TMP/err")"; return; fi
    fi
    bad "$name (exit $rc, expected $status: $(cat "$TMP/err"))"
}
expect_fail "model without a tokenizer" "tokenizer" 1 "$G4_BIN" -m "$G4_SHARED/fixtures/models/dense-tiny" -p "Hi"
expect_fail "missing model file" "$TMP/none.gguf" 1 "$G4_BIN" -m "$TMP/none.gguf" -p "Hi"
expect_fail "bad temperature" "temp" 2 "$G4_BIN" -m "$M" -p "Hi" --temp -1
expect_fail "unknown option" "--bogus" 2 "$G4_BIN" -m "$M" -p "Hi" --bogus
expect_fail "no model" "-m MODEL" 2 "$G4_BIN" -p "Hi"
expect_fail "empty prompt on stdin" "empty" 2 "$G4_BIN" -m "$M"
expect_fail "missing template file" "template" 1 "$G4_BIN" -m "$M" -p "Hi" --chat-template "$TMP/none.jinja"
printf '{%% if %%}' >"$TMP/bad.jinja"
expect_fail "broken template" "template" 1 "$G4_BIN" -m "$M" -p "Hi" --chat-template "$TMP/bad.jinja"
expect_fail "prompt longer than the context" "context" 1 "$G4_BIN" -m "$M" -p "$(head -c 3000 /dev/zero | tr '\0' 'a')" --ctx 64
expect_fail "context beyond the trained length" "trained" 1 "$G4_BIN" -m "$M" -p "Hi" --ctx 100000000
finish
