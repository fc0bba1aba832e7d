# tui/lib.sh: the tmux harness of the chat UI tests (sourced after ../lib.sh): the real
# gemma4 binary in a detached tmux session of fixed size (TUI_COLS x TUI_ROWS, default
# 100x30), driven with send-keys and read with capture-pane. HOME and XDG_* point into
# the test's temporary directory.
command -v tmux >/dev/null || { echo "skip: tmux is not installed"; exit 77; }
export HOME=$TMP/home XDG_CONFIG_HOME=$TMP/config XDG_DATA_HOME=$TMP/data XDG_STATE_HOME=$TMP/state
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset NO_COLOR TMUX
SESSIONS=$XDG_DATA_HOME/gemma4/sessions
mkdir -p "$HOME" "$SESSIONS"
T=(tmux -u -S "$TMP/tmux.sock" -f /dev/null)
trap '"${T[@]}" kill-server 2>/dev/null; rm -rf "$TMP"' EXIT

# start ARGS...: runs gemma4 ARGS in the window; its exit status goes to $TMP/exit
runs=0
start() {
    rm -f "$TMP/exit"
    "${T[@]}" kill-server 2>/dev/null
    runs=$((runs + 1))
    T=(tmux -u -S "$TMP/tmux$runs.sock" -f /dev/null) # a fresh server: the old one may still be exiting
    "${T[@]}" new-session -d -s ui -x "${TUI_COLS:-100}" -y "${TUI_ROWS:-30}" \
        "TERM=xterm-256color '$G4_BIN' $* 2>$TMP/stderr; echo \$? > $TMP/exit; sleep 60"
}
screen() { "${T[@]}" capture-pane -p -t ui; }
keys() { "${T[@]}" send-keys -t ui "$@"; }
# type_line TEXT: literal text, then Enter
type_line() { keys -l "$1"; keys Enter; }
# wait_for PATTERN [SECONDS]: until the screen matches the extended regex
wait_for() {
    local i
    for ((i = 0; i < ${2:-20} * 10; i++)); do
        screen | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    echo "--- screen (waiting for '$1'):"; screen; return 1
}
# wait_gone PATTERN [SECONDS]: until the screen no longer matches
wait_gone() {
    local i
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        screen | grep -Eq -- "$1" || return 0
        sleep 0.1
    done
    echo "--- screen (waiting for '$1' to go):"; screen; return 1
}
wait_exit() {
    local i
    for ((i = 0; i < 100; i++)); do [ -s "$TMP/exit" ] && return 0; sleep 0.1; done
    return 1
}
has() { screen | grep -Eq -- "$1"; }
lacks() { ! screen | grep -Eq -- "$1"; }
count() { screen | grep -Ec -- "$1"; }
