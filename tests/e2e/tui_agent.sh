#!/usr/bin/env bash
# tui_agent.sh: the agent in the chat UI end to end: the real gemma4 binary on the fixture model
# dense-tiny (random weights; --tool-choice forces each message's first reply to call the tool)
# inside a detached tmux session, with a tool that writes (so it asks): the call block shows the
# approval line, n denies (the model sees the denial), y runs it and shows the result, a allows
# it and the next message's call runs without asking; /tools lists the permissions; Esc answers
# no; the session file holds every call and its tool message; --resume shows the results again.
. "$(dirname "$0")/lib.sh"
need_shared
TUI_ROWS=40
. "$(dirname "$0")/tui/lib.sh"
export G4_TOOLS_DIR=$TMP/tools
mkdir -p "$G4_TOOLS_DIR"

MODEL=$G4_SHARED/fixtures/models/dense-tiny/model.gguf
cat >"$G4_TOOLS_DIR/note.lua" <<'LUA'
return {
  name = "note", description = "Save a note.", writes = true,
  parameters = { type = "object", properties = { text = { type = "string", enum = { "hi" } } }, required = { "text" } },
  run = function(args, ctx) return "noted 4417 " .. args.text end,
}
LUA
idle() { wait_for 'ctx [0-9]+/4096.* idle' "$@"; }

start -m "$MODEL" --temp 0 -n 48 --ctx 4096 --tools all --tool-choice note --max-steps 2 --no-think
check "the UI starts with tools" idle
type_line "/tools"
check "/tools lists note at ask" wait_for '^note +ask +Save a note\.'

# 1. n: denied; the model sees the denial
type_line "first"
check "the call asks: Run note? [y]es / [n]o / [a]lways" wait_for 'Run note\? \[y\]es / \[n\]o / \[a\]lways'
check "the call block shows the tool and its arguments" wait_for '⚙ note'
keys n
check "n: the result says the user denied it" wait_for 'the user denied this call'
check "n: the turn ends (idle)" idle

# 2. y: runs, the result is shown
type_line "/new"
type_line "second"
wait_for 'Run note\?' >/dev/null
keys y
check "y: the tool ran and its result is shown" wait_for 'noted 4417'
check "y: idle after the loop" idle

# 3. a: runs and allows; the next message's call runs without asking
type_line "/new"
type_line "third"
wait_for 'Run note\?' >/dev/null
keys a
check "a: the tool ran" wait_for 'noted 4417'
idle >/dev/null
type_line "/tools"
check "a: /tools shows note at allow" wait_for '^note +allow +Save a note\.'
type_line "fourth"
check "after a: the next call runs without asking" wait_for 'fourth' && idle && \
    check "after a: no approval line" [ "$(count 'Run note\?')" = 0 ]
two_results() { for _ in $(seq 50); do [ "$(count 'noted 4417')" -ge 2 ] && return 0; sleep 0.1; done; return 1; }
check "after a: two results on screen" two_results

# 4. /save, /quit; the session holds the calls and their tool messages in order
type_line "/save agent"
wait_for 'saved as agent' >/dev/null
type_line "/quit"
check "/quit exits 0" wait_exit
check "exit status 0" test "$(cat "$TMP/exit" 2>/dev/null)" = 0
check "the session holds each call and its tool message" python3 - "$SESSIONS/agent.json" <<'PY'
import json, sys
msgs = json.load(open(sys.argv[1]))["messages"]
roles = [m["role"] for m in msgs]
assert roles[:3] == ["user", "assistant", "tool"], roles
for i, m in enumerate(msgs):
    if m["role"] == "tool":
        prev = [p for p in msgs[:i] if p["role"] == "assistant"][-1]
        ids = [c["id"] for c in prev.get("tool_calls", [])]
        assert m["tool_call_id"] in ids, (m, ids)
        assert m["name"] == "note", m
results = [m["content"] for m in msgs if m["role"] == "tool"]
assert results.count("noted 4417 hi") == 2, results   # third and fourth
assert sum(1 for m in msgs if m["role"] == "user") == 2, roles
PY

# 5. --resume shows the results under their calls; Esc answers no
start -m "$MODEL" --temp 0 -n 48 --ctx 4096 --tools all --tool-choice note --max-steps 2 --no-think --resume agent
check "--resume shows the saved results" wait_for 'noted 4417'
type_line "fifth"
wait_for 'Run note\?' >/dev/null
keys Escape
check "Esc answers no" wait_for 'the user denied this call'
check "Esc: idle" idle
type_line "/quit"
wait_exit

# 6. permissions without asking: the config's tool.note = deny, then --allow note over it
mkdir -p "$XDG_CONFIG_HOME/gemma4"
printf 'tool.note = deny\n' >"$XDG_CONFIG_HOME/gemma4/config"
start -m "$MODEL" --temp 0 -n 48 --ctx 4096 --tools all --tool-choice note --max-steps 2 --no-think
idle >/dev/null
type_line "/tools"
check "config tool.note = deny: /tools shows deny" wait_for '^note +deny +Save a note\.'
type_line "sixth"
check "deny: the call is refused without asking" eval 'wait_for "the user denied this call|does not allow|denied" && [ "$(count "Run note\?")" = 0 ]'
type_line "/quit"
wait_exit
start -m "$MODEL" --temp 0 -n 48 --ctx 4096 --tools all --tool-choice note --max-steps 2 --no-think --allow note
idle >/dev/null
type_line "seventh"
check "--allow note over the config: runs without asking" eval 'wait_for "noted 4417 hi" && [ "$(count "Run note\?")" = 0 ]'
type_line "/quit"
wait_exit
finish
