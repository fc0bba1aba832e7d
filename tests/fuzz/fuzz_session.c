/* fuzz_session.c: libFuzzer target for session files (app/session): any bytes
 * given to session_load_bytes must load or be refused with a message, never
 * crash or leak; a document that loads must serialize, load again, and give the
 * same document (json_equal and identical text). A broken invariant traps. */
#include "session/session.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "";
    session *s = session_load_bytes((const char *)data, size, "fuzz.json", err, sizeof err);
    if (!s) {
        if (strncmp(err, "fuzz.json: ", 11)) __builtin_trap();  /* the message names the input */
        return 0;
    }
    json_t *first = session_to_json(s);
    char *text = first ? json_dumps(first, JSON_INDENT(2)) : NULL;
    if (!text) __builtin_trap();
    session *again = session_load_bytes(text, strlen(text), "resaved.json", err, sizeof err);
    if (!again) __builtin_trap();
    json_t *second = session_to_json(again);
    char *text2 = second ? json_dumps(second, JSON_INDENT(2)) : NULL;
    if (!text2 || !json_equal(first, second) || strcmp(text, text2)) __builtin_trap();
    free(text2);
    free(text);
    json_decref(second);
    json_decref(first);
    session_free(again);
    session_free(s);
    return 0;
}
