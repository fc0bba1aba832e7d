#!/usr/bin/env bash
# server_tools.sh: `gemma4 --serve --server-tools` end to end on the fixture model dense-tiny
# (random weights; tool_choice names a tool with an enum argument, so the forced call is valid):
# a served tool runs and its result comes back in message.server_tool_calls (the final message
# has no tool_calls, usage sums the steps), the same streamed as delta.server_tool_call chunks
# ending with [DONE]; a client tool of the same name wins (returned, not run); a tool that asks
# is refused without --allow and runs with it; the step limit adds server_tool_note; n > 1 is a
# 400; clients that leave while a tool runs do not hurt the server; without --server-tools the
# server runs nothing; flag errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server/lib.sh"
need_shared
command -v curl >/dev/null || { echo "skip: curl is missing"; exit 77; }

DENSE=$G4_SHARED/fixtures/models/dense-tiny/model.gguf
export HOME=$TMP/home XDG_CONFIG_HOME=$TMP/config G4_TOOLS_DIR=$TMP/tools
mkdir -p "$HOME" "$TMP/tools"
trap 'stop_server; rm -rf "$TMP"' EXIT

tool() { # NAME BODY-OF-RUN [writes]
    cat >"$TMP/tools/$1.lua" <<LUA
return {
  name = "$1", description = "Test tool $1.", ${3:+writes = true,}
  parameters = { type = "object", properties = { text = { type = "string", enum = { "hi" } } } },
  run = function(args, ctx) $2 end,
}
LUA
}
tool echo 'return "MARK-echo " .. tostring(args.text)'
tool note 'return "MARK-note " .. tostring(args.text)' writes
# slow: busy until the --tool-timeout or a cancel (each iteration a host call, so the
# instruction limit is far off)
tool slow 'local t = {} for i = 1, 50 do t[i] = i end while true do ctx.json.encode(t) end'

chat() { status POST /v1/chat/completions -H "Content-Type: application/json" --data-binary "$1"; }
forced() { # TOOL [extra JSON fields]: a request whose first step must call TOOL
    echo "{\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"$1\"}},\"temperature\":0,\"max_tokens\":48${2:+,$2}}"
}
CLIENT_ECHO='"tools":[{"type":"function","function":{"name":"echo","parameters":{"type":"object","properties":{"text":{"type":"string","enum":["hi"]}}}}}]'
# py CHECK-NAME PYTHON: runs PYTHON with r = the JSON body of the last request
py() { local name=$1; shift; check "$name" python3 -c "import json; r = json.load(open('$TMP/body')); $1"; }

# ---- flag errors ----
"$G4_BIN" -m "$DENSE" --serve --port 0 --yes >/dev/null 2>"$TMP/err"; rc=$?
check "--yes without --server-tools: usage error (2)" eval '[ $rc = 2 ] && grep -q "need --server-tools" "$TMP/err"'
"$G4_BIN" -m "$DENSE" --serve --port 0 --server-tools nosuch >/dev/null 2>"$TMP/err"; rc=$?
check "--server-tools naming an unknown tool: exit 1 naming it" eval '[ $rc = 1 ] && grep -q "nosuch" "$TMP/err"'

# ---- 1. one step at most: the note, usage of one step ----
start_server "$TMP/log1" -m "$DENSE" -t 1 --server-tools echo,note --allow note --max-steps 1 || { bad "server start"; finish; exit 1; }
check "startup lists the served tools" grep -q "server tools (at most 1 steps per request): echo note$" "$TMP/log1"
chat "$(forced note)" >/dev/null
py "--allow note: the tool that asks runs" '
m = r["choices"][0]["message"]; s = m["server_tool_calls"]
assert len(s) == 1 and s[0]["name"] == "note" and s[0]["content"] == "MARK-note hi" and not s[0]["is_error"], s'
chat "$(forced echo)" >/dev/null
py "--max-steps 1: one step, stopped with server_tool_note and finish stop" '
c = r["choices"][0]; m = c["message"]
assert m["server_tool_calls"][0]["content"] == "MARK-echo hi" and "tool_calls" not in m, m
assert "stopped after 1 step" in m["server_tool_note"] and c["finish_reason"] == "stop", c'
ONE_STEP_PROMPT=$(python3 -c "import json; print(json.load(open('$TMP/body'))['usage']['prompt_tokens'])")
stop_server

# ---- 2. the loop: up to 3 steps ----
start_server "$TMP/log2" -m "$DENSE" -t 1 --server-tools all --max-steps 3 --tool-timeout 60 --shutdown-timeout 2 ||
    { bad "server start"; finish; exit 1; }
check "startup marks the tool that asks as refused" grep -q "note (refused: asks; --yes or --allow)" "$TMP/log2"
s=$(chat "$(forced echo)")
check "tool_choice naming a server tool is 200" [ "$s" = 200 ]
py "the served tool ran: its result is in server_tool_calls, no tool_calls" '
c = r["choices"][0]; m = c["message"]
assert m["server_tool_calls"][0]["name"] == "echo" and m["server_tool_calls"][0]["content"] == "MARK-echo hi", m
assert json.loads(m["server_tool_calls"][0]["arguments"]) == {"text": "hi"}
assert not m.get("tool_calls") and c["finish_reason"] in ("stop", "length"), c
assert "server_tool_note" not in m or "stopped after 3 steps" in m["server_tool_note"]'
py "usage sums the steps (prompt tokens of two steps or more)" "
u = r['usage']; assert u['prompt_tokens'] >= 2 * $ONE_STEP_PROMPT, (u, $ONE_STEP_PROMPT)
assert u['total_tokens'] == u['prompt_tokens'] + u['completion_tokens'] and 0 < u['completion_tokens'] <= 48, u"

chat "$(forced echo '"stream":true,"stream_options":{"include_usage":true}')" >/dev/null
check "streaming: delta.server_tool_call with the result, a finish, usage and [DONE]" python3 - "$TMP/body" <<'PY'
import json, sys
lines = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
assert lines[-1] == "[DONE]", lines[-1:]
chunks = [json.loads(l) for l in lines[:-1]]
calls = [c["choices"][0]["delta"]["server_tool_call"] for c in chunks if c["choices"] and "server_tool_call" in c["choices"][0]["delta"]]
assert calls and calls[0]["name"] == "echo" and calls[0]["content"] == "MARK-echo hi", calls
assert not any(c["choices"] and "tool_calls" in c["choices"][0]["delta"] for c in chunks)
finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
assert len(finishes) == 1 and finishes[0] in ("stop", "length"), finishes
assert chunks[-1]["usage"]["completion_tokens"] > 0
PY

chat "$(forced echo "$CLIENT_ECHO")" >/dev/null
py "a client tool of the same name wins: returned as tool_calls, not run" '
c = r["choices"][0]; m = c["message"]
assert [t["function"]["name"] for t in m["tool_calls"]] == ["echo"] and m["server_tool_calls"] == [], m
assert c["finish_reason"] == "tool_calls" and "MARK" not in json.dumps(r)'

chat "$(forced note)" >/dev/null
py "a tool that asks is refused without --allow (the model sees why)" '
s = r["choices"][0]["message"]["server_tool_calls"][0]
assert s["name"] == "note" and s["is_error"] and "the server does not allow note" in s["content"], s
assert "MARK-note" not in json.dumps(r)'

s=$(chat "$(forced echo '"n":2')")
check "n 2 with server tools is a 400 naming it" eval '[ "$s" = 400 ] && grep -q "server-side tools" "$TMP/body"'

# clients that leave while a tool runs (slow spins until the 60 s --tool-timeout or a cancel):
# the request is counted (499) only once its tool call has ended, so a prompt count shows the cancel
curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/v1/chat/completions" --data-binary "$(forced slow)"
sleep 2
check "a client that leaves cancels the running tool (499 counted within 2 s)" eval 'curl -s "http://127.0.0.1:$PORT/metrics" | grep -q "route=\"/v1/chat/completions\",status=\"499\"} [1-9]"'
curl -s -o /dev/null --max-time 1 -N "http://127.0.0.1:$PORT/v1/chat/completions" --data-binary "$(forced slow '"stream":true')"
s=$(chat "$(forced echo)")
check "after clients left mid-loop the server answers the next request" eval '[ "$s" = 200 ] && grep -q "MARK-echo hi" "$TMP/body" && kill -0 $SERVER_PID'
s=$(status POST /v1/completions --data-binary '{"prompt":"Hi","max_tokens":4}')
check "/v1/completions is unchanged" eval '[ "$s" = 200 ] && grep -q text_completion "$TMP/body" && ! grep -q server_tool "$TMP/body"'
# SIGTERM while a tool runs: the request gets --shutdown-timeout (2 s), then its tool is
# cancelled, it ends with "abort", and the server exits 0
curl -s -o "$TMP/slow" --max-time 20 "http://127.0.0.1:$PORT/v1/chat/completions" --data-binary "$(forced slow)" &
CURL=$!
sleep 1
t0=$(date +%s)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"; rc=$?
t1=$(date +%s)
SERVER_PID=""
wait $CURL
check "SIGTERM with a tool running: exit 0 after the shutdown timeout, not the tool's" eval '[ $rc = 0 ] && [ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -le 8 ]'
check "SIGTERM: the client gets the reply, finish abort, the tool cancelled" python3 -c "
import json; r = json.load(open('$TMP/slow')); c = r['choices'][0]
assert c['finish_reason'] == 'abort', c
assert 'cancelled' in c['message']['server_tool_calls'][0]['content'], c"

# ---- 3. without --server-tools nothing runs ----
start_server "$TMP/log3" -m "$DENSE" -t 1 || { bad "server start"; finish; exit 1; }
chat "$(forced echo "$CLIENT_ECHO")" >/dev/null
py "without --server-tools the call comes back to the client" '
c = r["choices"][0]; m = c["message"]
assert [t["function"]["name"] for t in m["tool_calls"]] == ["echo"] and "server_tool_calls" not in m, m
assert c["finish_reason"] == "tool_calls" and "MARK" not in json.dumps(r)'
s=$(chat "$(forced echo)")
check "without --server-tools a server tool's name is unknown (400)" [ "$s" = 400 ]
stop_server
finish
