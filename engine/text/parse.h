/* parse.h: internals of the output parser (parse.c) shared with toolargs.c: the
 * incremental converter from the Gemma 4 tool-call argument syntax
 * (shared/docs/gemma4-chat-protocol.md §3.3) to JSON. */
#ifndef G4_PARSE_H
#define G4_PARSE_H

#include <stddef.h>

#define G4_TOOLARGS_MAX_JSON  (1u << 20)  /* default cap on one call's JSON, bytes */
#define G4_TOOLARGS_MAX_TOKEN (64u << 10) /* cap on one bare key or bare value, bytes */
#define G4_TOOLARGS_MAX_DEPTH 128         /* nesting of objects and arrays */

/* Converts ARGS as it arrives. Text pieces go through g4_toolargs_feed, each
 * <|"|> token through g4_toolargs_quote. json[0..len) only ever grows: what it
 * holds is final (a bare value that may still be incomplete, e.g. "tru" or
 * "108.", is held back), so a caller can stream json[sent..len) as it appears.
 * g4_toolargs_finish closes whatever is open, after which json is a complete
 * JSON object in Python json.dumps(ensure_ascii=False) form: ", " and ": "
 * separators, strings escaped, numbers copied as written.
 *
 * Limits: when the JSON would exceed `limit` bytes, a bare token exceeds
 * G4_TOOLARGS_MAX_TOKEN, nesting exceeds G4_TOOLARGS_MAX_DEPTH or memory runs
 * out, the rest of the input is ignored (truncated = 1) and finish still yields
 * valid JSON no larger than limit. */
typedef struct {
    char *json;                 /* NUL-terminated; never NULL after init */
    size_t len, cap, limit;
    char *tok;                  /* the bare key or bare value being read */
    size_t tok_len, tok_cap;
    unsigned char stack[G4_TOOLARGS_MAX_DEPTH];  /* '{' or '[' per open level */
    unsigned char items[G4_TOOLARGS_MAX_DEPTH];  /* level already holds an item */
    int depth;
    int state;
    int truncated;
    int finished;
} g4_toolargs;

/* limit: cap on the JSON in bytes (0: G4_TOOLARGS_MAX_JSON; at least 64). */
void g4_toolargs_init(g4_toolargs *ta, size_t limit);
void g4_toolargs_free(g4_toolargs *ta);
/* Starts a new call, keeping the buffers. */
void g4_toolargs_reset(g4_toolargs *ta);
/* text must hold whole UTF-8 characters (as the detokenizer delivers them); an
 * invalid sequence inside a string becomes U+FFFD. Input before the opening '{'
 * is skipped; the parser feeds "{" itself. */
void g4_toolargs_feed(g4_toolargs *ta, const char *text, size_t len);
void g4_toolargs_quote(g4_toolargs *ta);
void g4_toolargs_finish(g4_toolargs *ta);

/* One-shot conversion of ARGS text ("{city:<|\"|>Paris<|\"|>}") in which the
 * literal 5 bytes <|"|> stand for the delimiter token. Returns malloc'd JSON
 * (length in *out_len if not NULL), or NULL when out of memory. */
char *g4_toolargs_to_json(const char *args, size_t len, size_t *out_len);

#endif
