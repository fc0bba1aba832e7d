# server_api.sh: `gemma4 --serve` end to end on a generated model with the real
# Gemma 4 tokenizer: health and models, the API key (every route but /health),
# CORS only for the configured origin, bad input of every kind answered with the
# right status and OpenAI error JSON while the server keeps serving, tool_choice
# none/required/named on the wire, tokenize/detokenize, metrics, a client that
# disconnects mid-stream freeing its slot, a slow body cut off, the refusal to bind
# a non-loopback address without a key, graceful SIGTERM; then the real `openai`
# npm client (tests/e2e/server/openai_client.mjs; skipped when npm cannot install it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server/lib.sh"
need_shared
command -v curl >/dev/null || { echo "skip: curl is missing"; exit 77; }
M=$TMP/m.gguf
"$G4_GEN" --shape tiny-ple --format gguf --out "$M" 2>/dev/null || { bad "g4gen"; finish; exit 1; }
KEY=test-key-123
echo "$KEY" >"$TMP/key"
# A template that opens the thought channel when thinking is on (the random model
# then reasons until it samples <channel|>), else renders plain turns.
printf '%s' '{{ bos_token }}{% for m in messages %}<|turn>{{ m.role }}
{{ m.content }}<turn|>
{% endfor %}<|turn>model
{% if enable_thinking %}<|channel>thought
{% endif %}' >"$TMP/think.jinja"
trap 'stop_server; [ "${KEEP_LOG:-}" ] && cp "$TMP"/log* /tmp/srvt/ 2>/dev/null; rm -rf "$TMP"' EXIT

# ---- refusals at start ----
"$G4_BIN" -m "$M" --serve --host 0.0.0.0 --port 0 >/dev/null 2>"$TMP/err"; rc=$?
check "a non-loopback --host without a key is refused" eval '[ $rc = 1 ] && grep -q "api-key" "$TMP/err"'
"$G4_BIN" -m "$M" --serve --bogus >/dev/null 2>"$TMP/err"; rc=$?
check "an unknown flag exits 2 with one line" [ $rc = 2 -a "$(wc -l <"$TMP/err")" = 1 ]

start_server "$TMP/log" -m "$M" -t 1 --api-key-file "$TMP/key" --cors-origin http://a.example --max-body 65536 \
    --timeout 3 --parallel 2 --shutdown-timeout 1 || { bad "server start"; finish; exit 1; }
A=(-H "Authorization: Bearer $KEY")
J=(-H "Content-Type: application/json")
chat() { status POST /v1/chat/completions "${A[@]}" "${J[@]}" --data-binary "$1"; }
errtype() { python3 -c "import json,sys;e=json.load(open(sys.argv[1]))['error'];print(e['type'],e['code'])" "$TMP/body" 2>/dev/null; }

check "/health is 200 without a key" [ "$(status GET /health)" = 200 ]
check "/v1/models without a key is 401" [ "$(status GET /v1/models)" = 401 ]
check "the 401 is OpenAI error JSON" [ "$(errtype)" = "authentication_error 401" ]
check "a wrong key is 401" [ "$(status GET /v1/models -H 'Authorization: Bearer nope')" = 401 ]
models_ok() { [ "$(status GET /v1/models "${A[@]}")" = 200 ] && grep -q '"id":"m"' "$TMP/body"; }
check "/v1/models with the key is 200" models_ok
check "x-api-key works too" [ "$(status GET /v1/models -H "x-api-key: $KEY")" = 200 ]
curl -s -D "$TMP/hdr" -o /dev/null -H "Origin: http://a.example" "${A[@]}" "http://127.0.0.1:$PORT/v1/models"
check "CORS header for the configured origin" grep -qi "^Access-Control-Allow-Origin: http://a.example" "$TMP/hdr"
curl -s -D "$TMP/hdr" -o /dev/null -H "Origin: http://b.example" "${A[@]}" "http://127.0.0.1:$PORT/v1/models"
no_cors() { ! grep -qi "^Access-Control-Allow-Origin" "$TMP/hdr"; }
check "no CORS header for another origin" no_cors

# ---- a normal request ----
OK='{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0}'
check "a chat request is 200" [ "$(chat "$OK")" = 200 ]
cp "$TMP/body" "$TMP/first"
python3 - "$TMP/first" <<'PY' && ok "chat.completion shape" || bad "chat.completion shape"
import json, sys
r = json.load(open(sys.argv[1]))
c = r["choices"][0]
assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-") and r["model"] == "m"
assert c["message"]["role"] == "assistant" and c["finish_reason"] in ("length", "stop")
u = r["usage"]; assert u["completion_tokens"] == 8 and u["total_tokens"] == u["prompt_tokens"] + 8
PY

# ---- bad input: each gets its status, and the server keeps serving ----
bad_req() { # NAME EXPECTED-STATUS EXPECTED-TYPE BODY
    local s; s=$(chat "$4")
    if [ "$s" = "$2" ] && errtype | grep -q "^$3 $2$"; then ok "$1 -> $2"; else bad "$1 -> $s $(cat "$TMP/body")"; fi
}
bad_req "malformed JSON" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}'
bad_req "not an object" 400 invalid_request_error '[1,2]'
bad_req "messages of the wrong type" 400 invalid_request_error '{"messages":"Hi"}'
bad_req "a message without a role" 400 invalid_request_error '{"messages":[{"content":"Hi"}]}'
bad_req "temperature as a string" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"temperature":"hot"}'
bad_req "negative max_tokens" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":-5}'
bad_req "huge max_tokens" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":99999999999}'
bad_req "n out of range" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"n":1000}'
bad_req "unknown model" 404 not_found_error '{"model":"gpt-9","messages":[{"role":"user","content":"Hi"}]}'
bad_req "an image part" 400 invalid_request_error '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}'
bad_req "audio part" 400 invalid_request_error '{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":""}}]}]}'
bad_req "logit_bias outside the vocabulary" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"logit_bias":{"999999":5}}'
bad_req "tool_choice naming a missing tool" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"tools":[],"tool_choice":{"type":"function","function":{"name":"f"}}}'
bad_req "a json_schema response_format without json_schema.schema" 400 invalid_request_error '{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema"}}'
printf '{"messages":[{"role":"user","content":"\xff\xfe"}]}' >"$TMP/utf8"
s=$(status POST /v1/chat/completions "${A[@]}" "${J[@]}" --data-binary @"$TMP/utf8")
check "invalid UTF-8 -> 400" [ "$s" = 400 ]
head -c 100000 /dev/zero | tr '\0' 'a' >"$TMP/huge"
s=$(status POST /v1/chat/completions "${A[@]}" "${J[@]}" --data-binary @"$TMP/huge")
check "a body over --max-body -> 413" [ "$s" = 413 ]
s=$(status POST /v1/nothing "${A[@]}" -d '{}')
check "an unknown route -> 404" [ "$s" = 404 ]
s=$(status GET /v1/chat/completions "${A[@]}")
check "GET on a POST route -> 405" [ "$s" = 405 ]
s=$(status POST /v1/completions "${A[@]}" "${J[@]}" -d '{"prompt":[1,2,999999]}')
check "a completion prompt id outside the vocabulary -> 400" [ "$s" = 400 ]
# a slow body: headers, then a byte a second; cut off after --timeout 3 with 408 (or closed)
python3 - "$PORT" "$KEY" >"$TMP/slow" 2>&1 <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" % sys.argv[2]).encode())
s.settimeout(1.5)
got = b""
for i in range(12):
    try:
        s.sendall(b" ")
        got += s.recv(4096)
        if got: break
    except socket.timeout: pass
    except OSError: break
print(got.split(b"\r\n")[0].decode() if got else "closed")
PY
check "a slow body is cut off (408 or closed): $(cat "$TMP/slow")" grep -q "408\|closed" "$TMP/slow"
# a client that disconnects mid-stream frees its slot
curl -s -N --max-time 1 "${A[@]}" "${J[@]}" "http://127.0.0.1:$PORT/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"Hi"}],"stream":true,"max_tokens":8000,"temperature":0}' >"$TMP/cut"
busy=1
for _ in $(seq 1 50); do
    busy=$(curl -s "${A[@]}" "http://127.0.0.1:$PORT/metrics" | sed -n 's/^gemma4_slots_busy //p')
    [ "$busy" = 0 ] && break; sleep 0.1
done
check "a disconnected stream had started" grep -q '^data: ' "$TMP/cut"
check "a disconnected stream frees its slot" [ "$busy" = 0 ]
check "after all that, the same request gives the same answer" [ "$(chat "$OK")" = 200 ] && \
    [ "$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['choices'][0]['message'])" "$TMP/body")" = \
      "$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['choices'][0]['message'])" "$TMP/first")" ]

# ---- tools on the wire ----
TOOLS='"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]'
CLOSE=$(curl -s "${A[@]}" "http://127.0.0.1:$PORT/tokenize" -d '{"content":"<tool_call|>","add_special":false,"parse_special":true}' \
        | python3 -c "import json,sys;print(json.load(sys.stdin)['tokens'][0])")
CALLTOK=$(curl -s "${A[@]}" "http://127.0.0.1:$PORT/tokenize" -d '{"content":"<|tool_call>","add_special":false,"parse_special":true}' \
        | python3 -c "import json,sys;print(json.load(sys.stdin)['tokens'][0])")
chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},\"temperature\":0,\"max_tokens\":64,\"logit_bias\":{\"$CLOSE\":100}}" >/dev/null
check "named tool_choice: a get_weather call, finish tool_calls" python3 -c "
import json,sys; c=json.load(open(sys.argv[1]))['choices'][0]
t=c['message']['tool_calls']; assert len(t)==1 and t[0]['function']['name']=='get_weather' and c['finish_reason']=='tool_calls'
json.loads(t[0]['function']['arguments'])" "$TMP/body"
# "none": the tool-call token is banned even when the bias pushes it
chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],$TOOLS,\"tool_choice\":\"none\",\"temperature\":0,\"max_tokens\":8,\"logit_bias\":{\"$CALLTOK\":100}}" >/dev/null
check "tool_choice none: no call even with a bias toward one" python3 -c "
import json,sys; c=json.load(open(sys.argv[1]))['choices'][0]; assert 'tool_calls' not in c['message']" "$TMP/body"
# "required": the turn cannot end before a call (a bias toward <turn|> is overridden)
EOT=$(curl -s "${A[@]}" "http://127.0.0.1:$PORT/tokenize" -d '{"content":"<turn|>","add_special":false,"parse_special":true}' \
        | python3 -c "import json,sys;print(json.load(sys.stdin)['tokens'][0])")
chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],$TOOLS,\"tool_choice\":\"required\",\"temperature\":0,\"max_tokens\":6,\"logit_bias\":{\"$EOT\":100}}" >/dev/null
check "tool_choice required: <turn|> is banned until a call" python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); assert r['choices'][0]['finish_reason']=='length' and r['usage']['completion_tokens']==6" "$TMP/body"
chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"temperature\":0,\"max_tokens\":6,\"logit_bias\":{\"$EOT\":100}}" >/dev/null
check "without required, the same bias ends the turn at once" python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); assert r['choices'][0]['finish_reason']=='stop' and r['usage']['completion_tokens']==1" "$TMP/body"
s=$(chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],$TOOLS,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},\"temperature\":0,\"max_tokens\":64,\"stream\":true,\"logit_bias\":{\"$CLOSE\":100}}")
check "named tool_choice streams tool_calls deltas and [DONE]" python3 -c "
import json,sys
lines=[l[6:] for l in open(sys.argv[1]).read().split('\n') if l.startswith('data: ')]
assert lines[-1]=='[DONE]'
ch=[json.loads(l) for l in lines[:-1]]
d=[c['choices'][0]['delta'] for c in ch if c['choices']]
first=[x['tool_calls'][0] for x in d if 'tool_calls' in x][0]
assert first['id'].startswith('call_') and first['function']['name']=='get_weather' and first['type']=='function'
assert ch[-1]['choices'][0]['finish_reason']=='tool_calls'" "$TMP/body"

# ---- tokenize, detokenize, stop strings, logprobs, metrics ----
# (the test model's vocabulary is the real one cut to 512 pieces: no "▁", so a space
# comes back as the bytes of "▁", as in llama.cpp and transformers; hence no space here)
s=$(status POST /tokenize "${A[@]}" -d '{"content":"Hello,world!"}')
TOKS=$(python3 -c "import json,sys;print(json.dumps(json.load(open(sys.argv[1]))['tokens'][1:]))" "$TMP/body")
s2=$(status POST /detokenize "${A[@]}" -d "{\"tokens\":$TOKS}")
roundtrip_ok() { [ "$s" = 200 -a "$s2" = 200 ] && grep -q '"content":"Hello,world!"' "$TMP/body"; }
check "tokenize then detokenize gives the text back" roundtrip_ok
s=$(status POST /detokenize "${A[@]}" -d '{"tokens":[-1]}')
check "detokenize refuses a bad id" [ "$s" = 400 ]
s=$(status POST /v1/completions "${A[@]}" -d '{"prompt":"Once","max_tokens":16,"temperature":1.5,"top_k":0,"seed":5}')
FULL=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['choices'][0]['text'])" "$TMP/body")
STOP=${FULL:4:2}
s=$(status POST /v1/completions "${A[@]}" -d "$(python3 -c "import json,sys;print(json.dumps({'prompt':'Once','max_tokens':16,'temperature':1.5,'top_k':0,'seed':5,'stop':[sys.argv[1]]}))" "$STOP")")
CUT=$(python3 -c "import json,sys;c=json.load(open(sys.argv[1]))['choices'][0];print(c['finish_reason']+':'+c['text'])" "$TMP/body")
check "a stop string cuts the text before it (finish stop)" [ "$CUT" = "stop:${FULL%%"$STOP"*}" ]
s=$(chat '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0,"logprobs":true,"top_logprobs":2}')
check "logprobs: one entry per token with 2 alternatives" python3 -c "
import json,sys; c=json.load(open(sys.argv[1]))['choices'][0]['logprobs']['content']
assert len(c)==3 and all(len(e['top_logprobs'])==2 and e['logprob']<=0 for e in c)" "$TMP/body"
s=$(status GET /metrics "${A[@]}")
check "/metrics is Prometheus text with request counters" grep -q '^gemma4_requests_total{route="/v1/chat/completions",status="4xx"} [1-9]' "$TMP/body"

# ---- the openai npm client ----
NPM_DIR="${G4_TMP:-/tmp}/../server_npm"
if [ ! -d "$NPM_DIR/node_modules/openai" ] && command -v npm >/dev/null; then
    mkdir -p "$NPM_DIR" && (cd "$NPM_DIR" && timeout 120 npm install --no-audit --no-fund --silent openai@4 >/dev/null 2>&1)
fi
if [ -d "$NPM_DIR/node_modules/openai" ]; then
    stop_server
    start_server "$TMP/log2" -m "$M" -t 1 --api-key "$KEY" --chat-template "$TMP/think.jinja" --parallel 2 --shutdown-timeout 1 \
        || { bad "server start"; finish; exit 1; }
    cp "$(dirname "$0")/server/openai_client.mjs" "$NPM_DIR/"
    BASE="http://127.0.0.1:$PORT" KEY=$KEY MODEL=m CLOSE_CALL_ID=$CLOSE node "$NPM_DIR/openai_client.mjs" >"$TMP/node" 2>&1
    rc=$?
    sed 's/^/    /' "$TMP/node"
    check "the openai npm client's checks pass" [ $rc = 0 ]
else
    echo "skip: npm could not install the openai client (no network?); its checks did not run"
fi

# ---- graceful shutdown: a running stream ends with [DONE], exit 0 ----
curl -s -N "${A[@]}" "http://127.0.0.1:$PORT/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"Hi"}],"stream":true,"max_tokens":8000,"temperature":0}' >"$TMP/term" &
CURL=$!
for _ in $(seq 1 100); do grep -q '^data: ' "$TMP/term" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"; rc=$?
SERVER_PID=""
wait $CURL
check "SIGTERM exits 0" [ $rc = 0 ]
check "SIGTERM ends a running stream with [DONE]" [ "$(tail -n 2 "$TMP/term" | head -1)" = "data: [DONE]" ]
finish
