/* fuzz_schema.c: libFuzzer target for the JSON Schema and tool-call compilers
 * (engine/run/schema*.c). The input is a schema (and, as JSON tools, a tool list).
 * A refusal must be a one-line "schema:"/"tools:" reason; a grammar produced must
 * parse (the compilers never emit invalid GBNF). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemma4.h"

static void check(char *gbnf, const char *prefix) {
    if (!gbnf) {
        const char *e = g4_last_error();
        if (strncmp(e, prefix, strlen(prefix)) != 0 || strchr(e, '\n')) __builtin_trap();
        return;
    }
    g4_grammar *g = g4_grammar_parse(gbnf, NULL);
    /* refusals possible only for limits the compiler passes on (sizes, left recursion through $ref) */
    if (!g && !strstr(g4_last_error(), "above 10000") && !strstr(g4_last_error(), "left-recursive") &&
        !strstr(g4_last_error(), "never finish") && !strstr(g4_last_error(), "too large"))
        __builtin_trap();
    g4_grammar_free(g);
    free(gbnf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 14) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    check(g4_grammar_from_json_schema(text), "schema:");
    check(g4_grammar_from_tools(text), "tools:");
    free(text);
    return 0;
}
