/* schema_toolcall.c: OpenAI tool definitions -> a GBNF grammar of Gemma 4 tool calls
 * (shared/docs/gemma4-chat-protocol.md §3.3), g4_grammar_from_tools: one or more
 * <|tool_call>call:NAME{ARGS}<tool_call|>, where the three markers are token
 * terminals and ARGS follow the tool's parameter schema in the tool-call syntax
 * (bare keys, strings between <|"|> tokens, no whitespace), compiled by schema.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gemma4.h"
#include "run/schema.h"

#define MAX_PARALLEL_CALLS 8

char *g4_grammar_from_tools(const char *tools_json) {
    if (!tools_json) { g4_error("tools: no text"); return NULL; }
    json_error_t err;
    json_t *root = json_loads(tools_json, 0, &err);
    if (!root) { g4_schema_json_error("tools", &err); return NULL; }
    g4_schema_compiler *sc = NULL;
    g4_sb out = {0};
    char *result = NULL;
    if (!json_is_array(root) || json_array_size(root) == 0) { g4_error("tools: expected a non-empty array of tools"); goto done; }
    sc = g4_schema_compiler_new(root, 1);
    if (!sc) goto done;
    g4_sb_puts(&out, "root ::= call{1,");
    char num[16];
    snprintf(num, sizeof num, "%d}\n", MAX_PARALLEL_CALLS);
    g4_sb_puts(&out, num);
    g4_sb_puts(&out, "call ::= <[\"<|tool_call>\"]> \"call:\" ( ");
    size_t i;
    json_t *tool;
    json_array_foreach(root, i, tool) {
        json_t *fn = json_object_get(tool, "function");
        if (!fn) fn = tool;
        json_t *name = json_object_get(fn, "name"), *params = json_object_get(fn, "parameters");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            g4_error("tools: tool %zu has no function name (at /%zu/function/name)", i, i);
            goto done;
        }
        for (const char *c = json_string_value(name); *c; c++)
            if (*c == '{' || *c == '}' || *c == '<' || (unsigned char)*c < 0x20) {
                g4_error("tools: the name of tool %zu has a character the call syntax cannot hold ({ } < or a control character)", i);
                goto done;
            }
        if (i) g4_sb_puts(&out, " | ");
        g4_sb_literal(&out, json_string_value(name), json_string_length(name));
        g4_sb_puts(&out, " ( ");
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/%zu/function/parameters", i);
        if (!params) g4_sb_puts(&out, "\"{\" \"}\"");
        else if (g4_schema_expr(sc, params, ptr, &out)) goto done;
        g4_sb_puts(&out, " )");
    }
    g4_sb_puts(&out, " ) <[\"<tool_call|>\"]>\n");
    if (g4_schema_rules(sc, &out)) goto done;
    if (out.oom) { g4_error("tools: out of memory"); goto done; }
    result = out.s, out.s = NULL;
done:
    free(out.s);
    g4_schema_compiler_free(sc);
    json_decref(root);
    return result;
}
