# template_cli.sh: `gemma4 template` against every golden render in
# shared/fixtures/chat/golden.jsonl (byte for byte, no newline added), and its
# behaviour on bad input: a one-line reason on stderr, exit 1, never a crash.
. "$(dirname "$0")/lib.sh"
need_shared
G=$G4_SHARED/fixtures/chat

# Split the golden file into case files: N.case.json (the CASE.json the command
# reads), N.expected (the exact bytes), N.name and N.template.
python3 - "$G/golden.jsonl" "$TMP" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding='utf-8')):
    d = json.loads(line)
    base = '%s/%03d' % (sys.argv[2], i)
    json.dump({k: d.get(k) for k in ('messages', 'tools', 'kwargs', 'bos_token')}, open(base + '.case.json', 'w'))
    open(base + '.expected', 'wb').write(d['expected'].encode('utf-8'))
    open(base + '.name', 'w').write(d['template'] + '/' + d['case'])
    open(base + '.template', 'w').write(d['template'])
PY

# rendered STATUS GOT EXPECTED: the command succeeded and printed exactly the expected bytes
rendered() { [ "$1" = 0 ] && cmp -s "$2" "$3"; }
n=0
for c in "$TMP"/*.case.json; do
    base=${c%.case.json}
    n=$((n + 1))
    "$G4_BIN" template --template "$G/templates/$(cat "$base.template").jinja" --case "$c" >"$base.got" 2>"$base.err"
    rc=$?
    check "golden $(cat "$base.name")" rendered $rc "$base.got" "$base.expected"
    if ! rendered $rc "$base.got" "$base.expected"; then echo "  exit $rc: $(cat "$base.err")"; fi
done
check "all 72 golden cases were run" [ $n = 72 ]

# expect_error NAME EXPECTED-WORDS COMMAND...: exit 1, nothing on stdout, one line naming the problem
expect_error() {
    local name=$1 words=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ $rc -ne 1 ]; then bad "$name (exit $rc)"; cat "$TMP/err"; return; fi
    if [ -s "$TMP/out" ]; then bad "$name (output on stdout)"; return; fi
    if [ "$(wc -l <"$TMP/err")" != 1 ]; then bad "$name (stderr is not one line)"; cat "$TMP/err"; return; fi
    if ! grep -qF -- "$words" "$TMP/err"; then bad "$name (stderr lacks '$words')"; cat "$TMP/err"; return; fi
    ok "$name: $(cat "$TMP/err")"
}
case1=$(ls "$TMP"/*.case.json | head -1)
printf '{%% for m in messages %%}\n{{ m.content | nosuch }}\n{%% endfor %%}' >"$TMP/badfilter.jinja"
expect_error "unknown filter" "template:2:16: No filter named 'nosuch'." \
    "$G4_BIN" template --template "$TMP/badfilter.jinja" --case "$case1"
printf 'ok\n{%% if true %%}\nunclosed' >"$TMP/unclosed.jinja"
expect_error "unclosed block" "template:3:9: Unexpected end of template" \
    "$G4_BIN" template --template "$TMP/unclosed.jinja" --case "$case1"
printf '{{ raise_exception("No system messages, please.") }}' >"$TMP/raise.jinja"
expect_error "raise_exception" "template:1:4: No system messages, please." \
    "$G4_BIN" template --template "$TMP/raise.jinja" --case "$case1"
printf '{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]}' \
    >"$TMP/badargs.json"
expect_error "tool-call arguments that are not JSON" "arguments: invalid JSON" \
    "$G4_BIN" template --template "$G/templates/gemma-4-canonical-large.jinja" --case "$TMP/badargs.json"
printf '{"messages": [' >"$TMP/truncated.json"
expect_error "truncated case file" "truncated.json" \
    "$G4_BIN" template --template "$G/templates/gemma-4-canonical-large.jinja" --case "$TMP/truncated.json"
expect_error "missing template file" "cannot read" \
    "$G4_BIN" template --template "$TMP/nope.jinja" --case "$case1"
expect_error "missing --case" "--case" "$G4_BIN" template --template "$TMP/raise.jinja"
finish
