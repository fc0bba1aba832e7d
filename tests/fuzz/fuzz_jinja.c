/* fuzz_jinja.c: libFuzzer target for the Jinja template engine. The input is a
 * template, then a NUL byte, then the JSON object of its variables (optional).
 * It is parsed once and rendered twice under small limits (the second render
 * checks that a parsed template is not changed by rendering); every outcome
 * must be a result or a clean error: no crash, no hang, no leak. */
#include "gemma4.h"
#include "text/jinja.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    json_t *vars = NULL;
    if (nul) {
        json_error_t err;
        vars = json_loadb((const char *)nul + 1, size - tlen - 1, JSON_ALLOW_NUL, &err);
        if (vars && !json_is_object(vars)) {
            json_decref(vars);
            vars = NULL;
        }
    }
    g4_jinja_limits lim = {
        .max_output = 1 << 16,
        .max_memory = 64 << 20,
        .max_steps = 100000,
        .max_call_depth = 40,
    };
    g4_jinja_template *t = g4_jinja_parse((const char *)data, tlen);
    if (t) {
        size_t n1 = 0, n2 = 0;
        char *a = g4_jinja_render_parsed(t, vars, &lim, &n1);
        char *b = g4_jinja_render_parsed(t, vars, &lim, &n2);
        /* strftime_now makes output time-dependent; everything else must repeat */
        if (a && b && n1 != n2 && !memmem(data, tlen, "strftime", 8)) __builtin_trap();
        if (!a != !b) __builtin_trap();
        if (!a && !g4_last_error()[0]) __builtin_trap();
        free(a);
        free(b);
        g4_jinja_free(t);
    } else if (!g4_last_error()[0]) {
        __builtin_trap();
    }
    json_decref(vars);
    return 0;
}
