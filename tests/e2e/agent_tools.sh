#!/usr/bin/env bash
# agent_tools.sh: each tool shipped in tools/lua, run by `gemma4 tools run NAME ARGS`
# in a fresh sandbox against a temporary workspace and a loopback HTTP server
# (tests/e2e/agent/httpfixture.py): results, errors the model sees (exit 1 with
# {"error": ...}), and the limits (no escape from the workspace, no shell unless
# --allow-shell).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skip: python3 is missing"; exit 77; }
W=$TMP/ws
mkdir -p "$W/sub" "$W/.hidden" "$TMP/outside"
printf 'alpha\nBeta line\ngamma\n' >"$W/a.txt"
printf 'int main(void) { return 42; }\n' >"$W/sub/main.c"
printf 'alpha hidden\n' >"$W/.hidden/h.txt"
printf 'secret\n' >"$TMP/outside/s.txt"
ln -s "$TMP/outside/s.txt" "$W/link.txt"
python3 "$(dirname "$0")/agent/httpfixture.py" >"$TMP/port" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
U=http://127.0.0.1:$PORT

# run NAME JSON [flags]: stdout in $out, exit status in $rc
run() { local name=$1 args=$2; shift 2; out=$("$G4_BIN" tools run "$name" "$args" --workspace "$W" "$@" 2>"$TMP/err"); rc=$?; }
has() { case "$out" in *"$1"*) return 0 ;; *) return 1 ;; esac; }
is_err() { [ "$rc" = 1 ] && python3 -c "import json,sys; e=json.loads(sys.argv[1]); assert sys.argv[2] in e['error'], e" "$out" "$1"; }

"$G4_BIN" tools list --workspace "$W" >"$TMP/list" 2>&1
for t in read_file list_dir write_file grep web_fetch http_json run_shell calculator current_time; do
    check "tools list shows $t" grep -q "^$t " "$TMP/list"
done
check "write_file and run_shell ask by default" eval 'grep "^write_file " "$TMP/list" | grep -q ask && grep "^run_shell " "$TMP/list" | grep -q ask && grep "^read_file " "$TMP/list" | grep -q allow'

# ---- read_file ----
run read_file '{"path":"a.txt"}'
check "read_file: the whole file" eval '[ "$rc" = 0 ] && [ "$out" = "$(printf "alpha\nBeta line\ngamma\n")" ]'
run read_file '{"path":"a.txt","first_line":2,"last_line":3}'
check "read_file: lines 2..3" [ "$out" = "$(printf 'Beta line\ngamma')" ]
run read_file '{"path":"nope.txt"}'
check "read_file: a missing file is an error the model sees" is_err "nope.txt"
run read_file '{"path":"../outside/s.txt"}'
check "read_file: .. cannot leave the workspace" eval '[ "$rc" = 1 ] && ! has secret'
run read_file "{\"path\":\"$TMP/outside/s.txt\"}"
check "read_file: an absolute path outside is refused" eval '[ "$rc" = 1 ] && ! has secret'
run read_file '{"path":"link.txt"}'
check "read_file: a symlink pointing out is refused" eval '[ "$rc" = 1 ] && ! has secret'
run read_file '{"path":7}'
check "read_file: arguments of the wrong type are an error" eval '[ "$rc" = 1 ]'

# ---- list_dir ----
run list_dir '{}'
check "list_dir: directories first, files with sizes" eval 'echo "$out" | head -2 | grep -q "^sub/" && has "a.txt  22"'
run list_dir '{"path":"sub"}'
check "list_dir: a subdirectory" [ "$out" = "main.c  30" ]

# ---- write_file ----
run write_file '{"path":"new.txt","content":"one\n"}'
check "write_file: creates the file" eval '[ "$rc" = 0 ] && [ "$(cat "$W/new.txt")" = one ]'
run write_file '{"path":"new.txt","content":"two\n","append":true}'
check "write_file: appends" [ "$(cat "$W/new.txt" | tr '\n' ,)" = "one,two," ]
run write_file '{"path":"../outside/x.txt","content":"x"}'
check "write_file: cannot write outside the workspace" eval '[ "$rc" = 1 ] && [ ! -e "$TMP/outside/x.txt" ]'
run write_file '{"path":"link.txt","content":"x"}'
check "write_file: not through a symlink pointing out" eval '[ "$rc" = 1 ] && [ "$(cat "$TMP/outside/s.txt")" = secret ]'

# ---- grep ----
run grep '{"pattern":"alpha"}'
check "grep: path:line: text, hidden directories skipped" eval '[ "$out" = "a.txt:1: alpha" ]'
run grep '{"pattern":"beta","ignore_case":true}'
check "grep: ignore_case" [ "$out" = "a.txt:2: Beta line" ]
run grep '{"pattern":"return %d+","lua_pattern":true,"suffix":".c"}'
check "grep: a Lua pattern and a suffix" [ "$out" = "sub/main.c:1: int main(void) { return 42; }" ]
run grep '{"pattern":"zzz"}'
check "grep: no matches" [ "$out" = "no matches" ]
run grep '{"pattern":"[","lua_pattern":true}'
check "grep: a bad Lua pattern is an error" is_err "bad Lua pattern"

# ---- calculator ----
calc() { run calculator "{\"expression\":\"$1\"}"; [ "$rc" = 0 ] && [ "$out" = "$2" ]; }
check "calculator: (2 + 3) * sqrt(16) / 4 = 5" calc "(2 + 3) * sqrt(16) / 4" 5
check "calculator: 2^10 = 1024" calc "2^10" 1024
check "calculator: -2^2 = -4" calc "-2^2" -4
check "calculator: 0.1 + 0.2 = 0.3" calc "0.1 + 0.2" 0.3
check "calculator: 10 % 3 = 1" calc "10 % 3" 1
check "calculator: log(8, 2) = 3" calc "log(8, 2)" 3
check "calculator: max(1, pi, 2) = pi" calc "max(1, pi, 2)" 3.14159265358979
run calculator '{"expression":"1/0"}'
check "calculator: division by zero" is_err "division by zero"
run calculator '{"expression":"os.exit()"}'
check "calculator: no names but its own" is_err "unknown name 'os'"
run calculator '{"expression":"2 +"}'
check "calculator: an incomplete expression" is_err "ends too early"

# ---- current_time ----
run current_time '{}'
check "current_time: RFC 3339 UTC and the weekday" eval 'echo "$out" | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z \((Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, UTC\)$"'
run current_time '{"zone":"local"}'
check "current_time: local time with its offset" eval 'echo "$out" | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4} "'

# ---- run_shell ----
run run_shell '{"command":"echo hi"}'
check "run_shell: off without --allow-shell" is_err "not allowed"
run run_shell '{"command":"echo hi; echo err >&2; pwd; exit 3"}' --allow-shell
check "run_shell: status, stdout, stderr, in the workspace" eval '[ "$rc" = 0 ] && has "exit status 3" && has "hi" && has "err" && has "$(cd "$W" && pwd -P)"'
run run_shell '{"command":"sleep 30","timeout":1}' --allow-shell
check "run_shell: a timeout kills the command" eval 'has "timed out"'

# ---- web_fetch ----
run web_fetch "{\"url\":\"$U/page.html\"}"
check "web_fetch: title and text, no script or style" eval '[ "$rc" = 0 ] && has "Title: Gemma tools & tests" && has "First paragraph with bold text." && ! has "do not show" && ! has "color: red"'
run web_fetch "{\"url\":\"$U/data.json\"}"
check "web_fetch: JSON as text" eval 'has "\"city\": \"Paris\""'
run web_fetch "{\"url\":\"$U/missing\"}"
check "web_fetch: a 404 is an error" is_err "HTTP status 404"
run web_fetch "{\"url\":\"$U/bin\"}"
check "web_fetch: binary content is refused" is_err "is not text"
run web_fetch '{"url":"file:///etc/passwd"}'
check "web_fetch: file:// is refused" eval '[ "$rc" = 1 ] && ! has "root:"'

# ---- http_json ----
run http_json "{\"url\":\"$U/data.json\"}"
check "http_json: GET decodes the body" eval 'python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r[\"status\"]==200 and r[\"body\"][\"city\"]==\"Paris\" and r[\"body\"][\"tags\"]==[\"a\",\"b\"]" "$out"'
run http_json "{\"url\":\"$U/echo\",\"method\":\"POST\",\"body\":{\"x\":[1,2,{\"y\":null}]}}"
check "http_json: POST sends JSON" eval 'python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r[\"body\"]=={\"got\":{\"x\":[1,2,{\"y\":None}]}}, r" "$out"'

# ---- ctx.env.get: only the names --tool-env allows ----
mkdir -p "$TMP/extra"
printf '%s\n' 'return { name = "envget", description = "e", parameters = { type = "object", properties = { name = { type = "string" } } },' \
    '  run = function(args, ctx) return tostring(ctx.env.get(args.name)) end }' >"$TMP/extra/envget.lua"
export G4_TEST_SECRET=s3cret
run envget '{"name":"G4_TEST_SECRET"}' --tools-dir "$TMP/extra"
check "env: nothing is readable by default" [ "$out" = nil ]
run envget '{"name":"G4_TEST_SECRET"}' --tools-dir "$TMP/extra" --tool-env HOME,G4_TEST_SECRET
check "env: --tool-env allows a name" [ "$out" = s3cret ]
run envget '{"name":"PATH"}' --tools-dir "$TMP/extra" --tool-env HOME,G4_TEST_SECRET
check "env: other names stay unreadable" [ "$out" = nil ]
run envget '{}' --tools-dir "$TMP/extra" --tool-env 'A B'
check "env: a bad --tool-env list is refused" eval '[ "$rc" = 1 ] && grep -q "tool-env" "$TMP/err"'

finish
