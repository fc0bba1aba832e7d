# server/lib.sh: helpers the server_*.sh tests share (sourced after lib.sh, not a test):
# start `gemma4 --serve` on a free loopback port and talk to it with curl.
SERVER_PID="" PORT=""
# start_server LOG ARGS...: starts the server (port 0: any free one) and waits until it serves
start_server() {
    local log=$1; shift
    "$G4_BIN" --serve --port 0 "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/.*serving .* on http:\/\/[^:]*:\([0-9]*\) .*/\1/p' "$log" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:"; cat "$log"; return 1
}
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }
# status METHOD PATH [curl args...]: prints the HTTP status; the body goes to $TMP/body
status() {
    local m=$1 p=$2; shift 2
    curl -s -o "$TMP/body" -w '%{http_code}' -X "$m" "http://127.0.0.1:$PORT$p" "$@"
}
