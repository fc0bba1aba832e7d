#!/usr/bin/env bash
# tui_chat.sh: the chat UI end to end: the real gemma4 binary on a fixture model (random weights:
# gibberish text, real mechanics) inside a detached tmux session of fixed size, driven with
# send-keys and read with capture-pane. HOME and XDG_* point into a temporary directory.
. "$(dirname "$0")/lib.sh"
need_shared
. "$(dirname "$0")/tui/lib.sh"

MODEL=$G4_SHARED/fixtures/models/dense-tiny/model.gguf

# 1. the status bar shows the model and the context; a message streams an answer and goes idle
start -m "$MODEL" --temp 0 -n 12 --ctx 32768
check "status bar shows the model and context" wait_for 'model .*ctx 0/32768.* idle'
type_line "hello there"
check "the answer streams and the state returns to idle" wait_for 'tokens · .* tok/s'
check "state idle after the answer" wait_for 'ctx [1-9][0-9]*/32768.* idle'
check "the user message is shown" has 'hello there'
check "the assistant block is shown" has '▌ gemma'

# 2. an unknown command is a one-line error; /help lists commands
type_line "/frobnicate"
check "unknown command reported" wait_for 'unknown command /frobnicate'
type_line "/help"
check "/help lists the commands" wait_for '/retry'
type_line "/help"
check "a long transcript scrolls: the first message is off screen" wait_gone 'hello there'
keys PPage PPage
check "PgUp scrolls back to the first message" wait_for 'hello there'
keys End
check "End returns to the bottom" wait_gone 'hello there'

# 3. Esc cancels a long generation; the partial answer stays, marked cancelled
type_line "/set max_tokens 1000000"
type_line "/set temperature 1"
type_line "a long story please"
wait_for 'generating|answering|thinking' 20 >/dev/null
sleep 0.2
keys Escape
check "Esc cancels: the answer is marked cancelled" wait_for '\(cancelled\)'
check "after cancelling the state is idle" wait_for 'ctx [0-9]+/32768.* idle'

# 4. resize reflows: a long message wraps at the new width
long="alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma"
type_line "/set max_tokens 4"
type_line "$long"
wait_for 'ctx [0-9]+/32768.* idle' >/dev/null
check "at 100 columns the long message is one line" wait_for 'alpha beta.*sigma'
"${T[@]}" resize-window -t ui -x 50 -y 24
check "after resize the message wraps" wait_gone 'alpha beta.*sigma'
check "after resize the message's end is on screen" has 'sigma'
check "after resize the status bar is on screen" wait_for 'ctx [0-9]+/32768'
check "after resize the status bar fits: context and state" wait_for 'ctx [0-9]+/32768 .* idle$' 
"${T[@]}" resize-window -t ui -x 100 -y 30

# 5. /theme switches, a bad name is an error
type_line "/theme light"
check "/theme light" wait_for 'theme light'
type_line "/theme nosuchtheme"
check "/theme with an unknown name is an error" wait_for '/theme: .*nosuchtheme'

# 6. /save NAME, /quit exits 0 and the session file is valid JSON with the conversation
type_line "/save first"
check "/save names the session" wait_for 'saved as first'
type_line "/quit"
check "/quit exits with status 0" wait_exit
check "exit status is 0" test "$(cat "$TMP/exit" 2>/dev/null)" = 0
check "the session file is valid JSON with the messages and a cancelled answer" python3 - "$SESSIONS/first.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["format"] == "gemma4-session", s
roles = [m["role"] for m in s["messages"]]
assert roles[:2] == ["user", "assistant"], roles
assert s["messages"][0]["content"] == "hello there"
cancelled = [m for m in s["messages"] if m.get("stats", {}).get("finish_reason") == "cancelled"]
assert cancelled, "no cancelled answer"
# the partial answer is kept: tokens were generated before Esc, far fewer than asked for
# (the fixture's random weights produce tokens without visible text, so count tokens)
assert 0 < cancelled[0]["stats"]["completion_tokens"] < 30000, cancelled[0]["stats"]
PY

# 7. --resume NAME restores the transcript; history persists (Up recalls the last input)
start -m "$MODEL" --temp 0 -n 4 --resume first
check "--resume restores the transcript" wait_for 'hello there'
check "the cancelled answer is still marked" wait_for '\(cancelled\)'
keys Up
check "Up recalls the previous run's last input" wait_for '› /quit'
keys C-u
type_line "/new"
check "/new clears the transcript" wait_gone 'hello there'
type_line "/load first"
check "/load restores the transcript" wait_for 'hello there'
type_line "/quit"
wait_exit

# 8. thinking: a session whose answer has reasoning shows a summary; t opens and closes it
# (updated a minute from now, so it is the latest session)
cat > "$SESSIONS/thought.json" <<JSON
{"format": "gemma4-session", "version": 1, "name": "thought", "created": "2026-11-28T10:00:00Z",
 "updated": "$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)", "model": "m", "settings": {"temperature": null, "top_p": null,
 "top_k": null, "min_p": null, "max_tokens": null, "seed": null, "think": true}, "system": null,
 "messages": [{"role": "user", "content": "why is the sky blue?"},
  {"role": "assistant", "content": "Because of **Rayleigh** scattering.",
   "reasoning": "The user asks about colour. Short wavelengths scatter more.",
   "stats": {"prompt_tokens": 9, "completion_tokens": 40, "thinking_seconds": 4.2,
             "seconds": 5.0, "tokens_per_second": 8.0, "finish_reason": "stop", "thinking_tokens": 31}}]}
JSON
start -m "$MODEL" --temp 0 -n 4 --resume
check "--resume without a name takes the latest session" wait_for 'why is the sky blue'
check "the thinking is collapsed to a summary" wait_for 'thought for 4.2 s, 31 tokens — press t'
check "collapsed: the reasoning text is hidden" lacks 'Short wavelengths'
check "the Markdown answer is rendered (no asterisks)" has 'Because of Rayleigh scattering'
keys t
check "t opens the thinking" wait_for 'Short wavelengths scatter more'
keys t
check "t closes it again" wait_gone 'Short wavelengths'
type_line "/think on"
check "/think on" wait_for 'thinking on'
type_line "/copy"
check "/copy copies the last answer (OSC 52)" wait_for 'copied 35 bytes to the clipboard'
type_line "/stats"
check "/stats shows tokens and context" wait_for 'context [0-9]+ of 32768 tokens in use'
type_line "/edit"
check "/edit puts the last message in the input" wait_for '› why is the sky blue\?'
keys C-u
type_line "why is grass green?"
check "the edited message replaces the old one" wait_for 'why is grass green'
check "the edited message is answered again" wait_for 'ctx [1-9][0-9]*/32768 .* idle$'
check "the old question is gone" lacks 'sky blue'
check "the old answer is gone" lacks 'Rayleigh'
type_line "/retry"
sleep 0.3 # the fixture answers in milliseconds; the screen may still show the idle from before
check "/retry leaves the state idle" wait_for 'idle$'
check "/retry replaced the answer: still one" test "$(screen | grep -c '▌ gemma')" = 1
type_line "/stats"
check "/retry reused the cached prompt (KV prefix)" wait_for '\(([1-9][0-9]*) reused from the cache\)'
type_line "/quit"
wait_exit
check "after /edit and /retry the session holds one question and one answer" python3 - "$SESSIONS/thought.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
assert [x["role"] for x in m] == ["user", "assistant"], m
assert m[0]["content"] == "why is grass green?", m[0]
assert "Rayleigh" not in (m[1].get("content") or ""), m[1]
PY

# 9. input: Alt-Enter and a trailing backslash make multi-line input, a paste keeps its
# newlines, Tab completes commands; /model switches in the background; Ctrl-C twice quits
start -m "$MODEL" --temp 0 -n 4 --ctx 32768
wait_for 'idle$' >/dev/null
keys -l "line one"; keys M-Enter; keys -l 'line two\'; keys Enter; keys -l "line three"
check "Alt-Enter and a trailing backslash continue the input" wait_for '^  line three'
check "the input's first line is still there" has '^› line one'
keys C-u
"${T[@]}" set-buffer "$(printf 'pasted 1\npasted 2\npasted 3')"
"${T[@]}" paste-buffer -p -t ui
check "a bracketed paste keeps its newlines in the input" wait_for '^  pasted 3'
keys Enter
check "the pasted text is sent as one message" wait_for '^  pasted 3'
check "the multi-line message was answered" wait_for 'tokens · .* idle|idle$'
keys -l "/sess"; keys Tab
check "Tab completes a command" wait_for '› /sessions'
keys Enter
check "/sessions lists the saved sessions" wait_for 'first .* msgs'
type_line "/model $G4_SHARED/fixtures/models/keqv/model.gguf"
check "/model loads in the background and reports it" wait_for 'keqv/model.gguf loaded'
"${T[@]}" resize-window -t ui -x 30 -y 3
check "a 30x3 window still shows the status bar and the input" wait_for 'idle$'
"${T[@]}" resize-window -t ui -x 100 -y 30
check "back at 100x30 the transcript is there again" wait_for 'keqv/model.gguf loaded'
keys C-c
check "one Ctrl-C asks for another" wait_for 'press Ctrl-C again to quit'
keys C-c
check "Ctrl-C twice exits" wait_exit
check "Ctrl-C twice: exit status 0" test "$(cat "$TMP/exit" 2>/dev/null)" = 0

# 10. SIGTERM while an answer streams: the UI exits cleanly and saves the answer, cancelled
start -m "$MODEL" --temp 1 -n 1000000 --ctx 32768
wait_for 'idle$' >/dev/null
type_line "/save terminated"
type_line "a long story please"
wait_for 'generating|answering|thinking' 20 >/dev/null
pkill -TERM -P "$("${T[@]}" list-panes -t ui -F '#{pane_pid}')" -x gemma4
check "SIGTERM: the UI exits" wait_exit
check "SIGTERM: exit status 0" test "$(cat "$TMP/exit" 2>/dev/null)" = 0
check "SIGTERM: the streamed answer is saved, cancelled" python3 - "$SESSIONS/terminated.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
assert [x["role"] for x in m] == ["user", "assistant"], m
assert m[1]["stats"]["finish_reason"] == "cancelled", m[1]
assert m[1]["stats"]["completion_tokens"] > 0, m[1]
PY

# 11. a corrupt session named in --resume: a clear error, exit 1, the file untouched
printf '{"format": "gemma4-session", "version": 1, "messages": [' > "$SESSIONS/broken.json"
cp "$SESSIONS/broken.json" "$TMP/broken.orig"
start -m "$MODEL" --resume broken
check "corrupt session: the UI exits" wait_exit
check "corrupt session: exit status 1" test "$(cat "$TMP/exit" 2>/dev/null)" = 1
check "corrupt session: the message names the file" grep -q 'broken.json' "$TMP/stderr"
check "corrupt session: the file is unchanged" cmp -s "$SESSIONS/broken.json" "$TMP/broken.orig"

finish
