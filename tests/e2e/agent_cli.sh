#!/usr/bin/env bash
# agent_cli.sh: the one-shot agent (gemma4 -m M --tools ... -p ...) end to end on the fixture
# model dense-tiny (random weights; --tool-choice forces a valid call): the tool script runs and
# its call and result print to stderr one line each, a tool that asks is denied headless with a
# message naming --yes / --allow and runs with either, --deny and --max-steps, tool directories in
# order (G4_TOOLS_DIR, ~/.config/gemma4/tools, --tools-dir; later replaces earlier), and the exit
# codes of usage errors (2), no tools / unknown names (1), the step limit (1).
. "$(dirname "$0")/lib.sh"
need_shared

DENSE=$G4_SHARED/fixtures/models/dense-tiny/model.gguf
export HOME=$TMP/home XDG_CONFIG_HOME=$TMP/config
mkdir -p "$HOME" "$TMP/tools" "$TMP/user" "$TMP/extra" "$XDG_CONFIG_HOME/gemma4/tools"
export G4_TOOLS_DIR=$TMP/tools

tool() { # DIR NAME RESULT [writes]
    cat >"$1/$2.lua" <<LUA
return {
  name = "$2", description = "Test tool $2.", ${4:+writes = true,}
  parameters = { type = "object", properties = { text = { type = "string", enum = { "hi" } } } },
  run = function(args, ctx) return "$3 " .. tostring(args.text) end,
}
LUA
}
tool "$TMP/tools" echo "echoed"
tool "$TMP/tools" note "noted" writes
tool "$TMP/tools" shadow "from-tools"
tool "$XDG_CONFIG_HOME/gemma4/tools" shadow "from-config"
tool "$TMP/extra" extra "from-extra"
echo 'return {name = 1}' >"$TMP/tools/broken.lua"

G() { "$G4_BIN" -m "$DENSE" --temp 0 -n 32 --no-parallel-tool-calls "$@"; }

# 1. a forced call runs: "→ echo {...}" then "← echo: echoed hi" on stderr; the loop ends
G --tools all --tool-choice echo --max-steps 2 -p "Say hi" >"$TMP/out" 2>"$TMP/err"; rc=$?
check "forced call: the call line" grep -q '^→ echo {"text": *"hi"}$' "$TMP/err"
check "forced call: the result line" grep -q '^← echo: echoed hi$' "$TMP/err"
check "forced call: the loop ends (answer, cut, or the step limit)" eval '[ $rc = 0 ] || [ $rc = 3 ] || { [ $rc = 1 ] && grep -q "stopped after 2 steps" "$TMP/err"; }'
check "a broken script is skipped with a warning naming it" grep -q 'broken.lua' "$TMP/err"

# 2. a tool that writes asks: headless it is denied, with --yes or --allow it runs
G --tools note --tool-choice note --max-steps 2 -p "Note it" >/dev/null 2>"$TMP/err"
check "ask headless: denied with the message" grep -q '^gemma4: denied note (needs approval: --yes or --allow note)$' "$TMP/err"
check "ask headless: the model sees the denial" grep -q '^← note (error): .*the user denied this call' "$TMP/err"
G --tools note --tool-choice note --max-steps 2 --yes -p "Note it" >/dev/null 2>"$TMP/err"
check "--yes: runs without asking" eval 'grep -q "^← note: noted hi$" "$TMP/err" && ! grep -q "denied" "$TMP/err"'
G --tools note --tool-choice note --max-steps 2 --allow note -p "Note it" >/dev/null 2>"$TMP/err"
check "--allow note: runs" grep -q '^← note: noted hi$' "$TMP/err"
G --tools echo --tool-choice echo --max-steps 2 --deny echo -p "x" >/dev/null 2>"$TMP/err"
check "--deny echo: not run, the model sees the denial" eval 'grep -q "^← echo (error): .*the user denied this call" "$TMP/err" && ! grep -q "echoed" "$TMP/err"'

# a call the reply is cut inside of (-n) is not a call: nothing runs, exit 3
"$G4_BIN" -m "$DENSE" --temp 0 -n 12 --tools all --tool-choice echo --max-steps 2 -p "x" >/dev/null 2>"$TMP/err"; rc=$?
check "a call cut off by -n does not run (exit 3)" eval '[ $rc = 3 ] && grep -q "call to echo was cut off" "$TMP/err" && ! grep -q "^→\|^←" "$TMP/err"'

# 3. the step limit: one generation, the call is not run, exit 1 with the reason
G --tools all --tool-choice echo --max-steps 1 -p "x" >/dev/null 2>"$TMP/err"; rc=$?
check "--max-steps 1: exit 1, 'stopped after 1 step'" eval '[ $rc = 1 ] && grep -q "stopped after 1 step" "$TMP/err"'
check "--max-steps 1: the call is not run" eval '! grep -q "echoed" "$TMP/err" && grep -q "step limit" "$TMP/err"'

# 4. directories: ~/.config/gemma4/tools replaces the first, --tools-dir adds
G --tools shadow --tool-choice shadow --max-steps 2 -p "x" >/dev/null 2>"$TMP/err"
check "the config directory's tool replaces the first directory's" grep -q '^← shadow: from-config hi$' "$TMP/err"
G --tools extra --tools-dir "$TMP/extra" --tool-choice extra --max-steps 2 -p "x" >/dev/null 2>"$TMP/err"
check "--tools-dir adds its tools" grep -q '^← extra: from-extra hi$' "$TMP/err"

# 5. errors and exit codes
G --tools nosuch -p x >/dev/null 2>"$TMP/err"; rc=$?
check "an unknown tool name: exit 1 naming it" eval '[ $rc = 1 ] && grep -q "nosuch" "$TMP/err"'
G4_TOOLS_DIR=$TMP/empty HOME=$TMP/nohome XDG_CONFIG_HOME=$TMP/nohome G --tools all -p x >/dev/null 2>"$TMP/err"; rc=$?
check "no tools found: exit 1 with the directories" eval '[ $rc = 1 ] && grep -q "no tools found" "$TMP/err"'
G --tools all --tools-json /dev/null -p x >/dev/null 2>"$TMP/err"; rc=$?
check "--tools with --tools-json: usage error (2)" eval '[ $rc = 2 ] && grep -q "not both" "$TMP/err"'
G --yes -p x >/dev/null 2>"$TMP/err"; rc=$?
check "--yes without --tools: usage error (2)" eval '[ $rc = 2 ] && grep -q "need --tools" "$TMP/err"'
G --tools all --max-steps 0 -p x >/dev/null 2>"$TMP/err"; rc=$?
check "--max-steps 0: usage error (2)" [ $rc = 2 ]
G --tools all --allow ",," -p x >/dev/null 2>"$TMP/err"; rc=$?
check "--allow with an empty name: usage error (2)" [ $rc = 2 ]
G --tools all --allow nosuch -p x >/dev/null 2>"$TMP/err"; rc=$?
check "--allow of an unknown tool: exit 1 naming it" eval '[ $rc = 1 ] && grep -q "nosuch" "$TMP/err"'
finish
