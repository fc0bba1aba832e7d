#!/usr/bin/env bash
# run_fuzz.sh TARGET CORPUS_DIR SECONDS: runs a libFuzzer target for SECONDS on
# CORPUS_DIR, seeding the corpus first if it is empty: with the shared fixture
# models (from $G4_SHARED, when present) and a tiny valid file written here.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 TARGET CORPUS_DIR SECONDS" >&2
    exit 2
fi
target=$1 corpus=$2 seconds=$3
fixtures=${G4_SHARED:-}/fixtures/models

# Little-endian integers as printf escapes.
u32() { printf '\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
u64() { u32 $(($1 & 0xffffffff)); u32 $(($1 >> 32)); }
str() { u64 ${#1}; printf '%s' "$1"; }

# GGUF v3: 3 kv (string, u32 alignment, string array), an F32 {4,2} and a Q8_0 {32} tensor.
tiny_gguf() {
    local head
    head="GGUF$(u32 3)$(u64 2)$(u64 3)"
    head+="$(str general.architecture)$(u32 8)$(str gemma4)"
    head+="$(str general.alignment)$(u32 4)$(u32 32)"
    head+="$(str tokenizer.ggml.tokens)$(u32 9)$(u32 8)$(u64 2)$(str '<pad>')$(str '<eos>')"
    head+="$(str a.weight)$(u32 2)$(u64 4)$(u64 2)$(u32 0)$(u64 0)"
    head+="$(str b.weight)$(u32 1)$(u64 32)$(u32 8)$(u64 32)"
    printf "$head"
    local len
    len=$(printf "$head" | wc -c)
    head -c $(((32 - len % 32) % 32 + 32 + 34)) /dev/zero
}

tiny_safetensors() {
    local json='{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"b":{"dtype":"BF16","shape":[],"data_offsets":[32,34]},"c":{"dtype":"I64","shape":[1],"data_offsets":[34,42]}}'
    printf "$(u64 ${#json})%s" "$json"
    head -c 42 /dev/zero
}

mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
    case $(basename "$target") in
    fuzz_gguf)
        tiny_gguf > "$corpus/seed-tiny.gguf"
        for f in "$fixtures"/*/model.gguf; do
            if [ -f "$f" ]; then cp "$f" "$corpus/seed-$(basename "$(dirname "$f")").gguf"; fi
        done ;;
    fuzz_tokenizer)
        # one seed per golden text (and a small vocab file for the GGUF mode)
        tiny_gguf > "$corpus/seed-tiny.gguf"
        golden=${G4_SHARED:-}/fixtures/tokenizer/golden.jsonl
        if [ -f "$golden" ]; then
            python3 -c 'import json, sys
for i, line in enumerate(open(sys.argv[1])):
    open("%s/seed-golden-%03d" % (sys.argv[2], i), "wb").write(json.loads(line)["text"].encode())' "$golden" "$corpus"
        fi ;;
    fuzz_safetensors)
        tiny_safetensors > "$corpus/seed-tiny.safetensors"
        for f in "$fixtures"/*/model.safetensors; do
            if [ -f "$f" ]; then cp "$f" "$corpus/seed-$(basename "$(dirname "$f")").safetensors"; fi
        done ;;
    fuzz_session)
        # the example sessions
        for f in "$(dirname "$0")"/../../sessions/examples/*.json; do cp "$f" "$corpus/seed-$(basename "$f")"; done ;;
    fuzz_config)
        # the built-in themes, and a config file with every key
        for f in "$(dirname "$0")"/../../themes/*.theme; do cp "$f" "$corpus/seed-$(basename "$f")"; done
        printf '%s\n' '# c' 'model = m.gguf' 'theme = dark' 'temperature = 0.7  # x' 'top_p = 0.95' 'top_k = 64' \
            'min_p = 0' 'max_tokens = 512' 'seed = random' 'system = "a \"b\"\n\t\\"' 'think = on' 'threads = 4' \
            'ctx = 4096' > "$corpus/seed-config" ;;
    fuzz_parse)
        # tool-call arguments (the converter reads the raw bytes) and byte strings
        # that fuzz_parse maps to token streams
        printf '%s' '@{city:<|"|>Paris<|"|>,days:1,flag:true,opts:{a:null,b:[1,<|"|>x<|"|>]}}' > "$corpus/seed-args"
        printf '%s' '@{<|"|>k-1<|"|>:[[1,2.5e3],{}],s:<|"|>a"b\{}<|"|>,n:none,t:tru' > "$corpus/seed-args-odd"
        printf '%s' '@{a:{b:[{c:<|"|>deep' > "$corpus/seed-args-open"
        head -c 600 /dev/urandom > "$corpus/seed-random"
        for i in 0 1 2 3; do
            { printf "\\x0$i"; head -c 200 /dev/urandom | tr -d '\360-\377'; } > "$corpus/seed-tokens-$i"
        done ;;
    fuzz_jinja)
        # each fixture chat template, then NUL, then a conversation with tools
        ctx='{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"image"},{"type":"text","text":"Hi"}]},{"role":"assistant","content":null,"reasoning":"r","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"q":"x","n":[1,2.5,null,true],"o":{"k":"v"}}}}]},{"role":"tool","tool_call_id":"c1","content":"ok"},{"role":"assistant","content":"<|channel>t<channel|>Done"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"q":{"type":"string","enum":["x","y"]},"n":{"type":"array","items":{"type":"number"}},"o":{"type":"object","properties":{"k":{"type":"string"}}}},"required":["q"]}}}],"bos_token":"<bos>","add_generation_prompt":true,"enable_thinking":true}'
        for f in "${G4_SHARED:-}"/fixtures/chat/templates/*.jinja; do
            if [ -f "$f" ]; then { cat "$f"; printf '\0%s' "$ctx"; } > "$corpus/seed-$(basename "$f" .jinja)"; fi
        done
        printf '{%% for x in xs if x %%}{{ loop.index }}{{ x | upper }}{%% else %%}-{%% endfor %%}\0{"xs":["a","",1]}' > "$corpus/seed-loop"
        printf '{%% macro m(a, b=2) %%}{{ a ~ b }}{{ caller() if caller is defined }}{%% endmacro %%}{%% call m(1) %%}c{%% endcall %%}{{ m(*[1], **{"b": 3}) }}' > "$corpus/seed-macro" ;;
    esac
    chmod u+w "$corpus"/* 2>/dev/null || true
fi
# A dictionary of the format's words helps the fuzzer past the JSON parser, which
# is not instrumented.
dict_args=()
if [ "$(basename "$target")" = fuzz_jinja ]; then
    dict=${corpus%/}.dict
    printf '"%s"\n' '{%' '%}' '{{' '}}' '{#' '#}' '{%-' '-%}' '{{-' '-}}' ' for ' ' in ' ' if ' ' else ' 'endfor' \
        'endif' 'elif' ' set ' 'endset' 'macro' 'endmacro' 'call' 'endcall' 'filter' 'endfilter' 'raw' 'endraw' \
        'break' 'continue' 'namespace(' 'loop.index' 'loop.last' ' is ' ' not ' ' and ' ' or ' ' ~ ' '|' \
        'tojson' 'dictsort' 'selectattr' 'map(' 'join(' 'default(' 'trim' 'length' 'items()' '.split(' \
        'range(' 'caller()' '\\x' '\\u' '[::-1]' '**' '//' 'defined' 'mapping' 'string' 'none' > "$dict"
    dict_args=(-dict="$dict")
elif [ "$(basename "$target")" = fuzz_safetensors ]; then
    dict=${corpus%/}.dict
    printf '"%s"\n' '\"dtype\"' '\"shape\"' '\"data_offsets\"' '\"__metadata__\"' \
        '\"F32\"' '\"BF16\"' '\"F16\"' '\"I64\"' '\"F8_E4M3\"' '[' ']' '{' '}' ':' ',' \
        '-1' '9223372036854775807' '18446744073709551616' '1e3' > "$dict"
    dict_args=(-dict="$dict")
elif [ "$(basename "$target")" = fuzz_parse ]; then
    dict=${corpus%/}.dict
    printf '"%s"\n' '<|\"|>' '{' '}' '[' ']' ',' ':' 'true' 'false' 'null' 'none' '1.5' '-0' '1e3' \
        '\x0a' '\\' '\"' > "$dict"
    dict_args=(-dict="$dict")
fi
exec "$target" "${dict_args[@]}" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 "$corpus"
