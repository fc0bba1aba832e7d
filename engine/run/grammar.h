/* grammar.h: the compiled form of a GBNF grammar and the matcher's state, shared by
 * the parser (grammar_parse.c), the matcher (grammar_match.c), the token masks
 * (grammar_mask.c) and the generators of grammars (schema.c, schema_toolcall.c).
 *
 * A grammar is a flat array of elements. Rule r starts at rule_start[r]; its body is
 * alternatives separated by GE_ALT and ended by GE_END. A character set is one
 * GE_CHAR / GE_CHAR_NOT element (its first code point) followed by GE_CHAR_RNG_UPPER
 * (upper bound of the range just before) and GE_CHAR_ALT (another code point). */
#ifndef G4_GRAMMAR_H
#define G4_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "gemma4.h"

enum {
    GE_END,            /* end of a rule */
    GE_ALT,            /* start of the next alternative */
    GE_RULE,           /* value: rule id */
    GE_CHAR,           /* value: code point; starts a set */
    GE_CHAR_NOT,       /* value: code point; starts a negated set */
    GE_CHAR_RNG_UPPER, /* value: upper bound of the range started by the element before */
    GE_CHAR_ALT,       /* value: another code point of the set */
    GE_CHAR_ANY,       /* '.': any code point */
    GE_TOKEN,          /* value: index into the grammar's token table: one vocabulary token */
};

typedef struct {
    uint32_t type;
    uint32_t value;
} g4_gelem;

typedef struct {
    int32_t id;        /* >= 0: a token id given as <[N]> */
    char *piece;       /* or the piece given as <["..."]>, resolved against a vocabulary */
} g4_gtoken;

struct g4_grammar {
    g4_gelem *elems;
    uint32_t n_elems;
    uint32_t *rule_start;  /* [n_rules] */
    char **rule_name;      /* [n_rules] */
    int n_rules;
    int root;
    g4_gtoken *tokens;
    int n_tokens;
};

/* Whether the set starting at elems[pos] holds some code point in [lo, hi]. */
int g4_gset_hits(const g4_gelem *elems, uint32_t pos, uint32_t lo, uint32_t hi);
/* Whether the set starting at elems[pos] holds every code point in [lo, hi]. */
int g4_gset_covers(const g4_gelem *elems, uint32_t pos, uint32_t lo, uint32_t hi);
/* Position just past the set starting at pos. */
uint32_t g4_gset_end(const g4_gelem *elems, uint32_t pos);

/* ---- states: sets of stacks, serialized as uint32 words --------------------------
 * [0] number of stacks, [1] partial code point, [2] bytes it still needs (low 8 bits)
 * and the lead byte of that character (bits 8-15), then per
 * stack its depth and its positions (bottom first; the top is the terminal to match
 * next; an empty stack means the grammar is complete). */
typedef struct {
    uint32_t *w;
    size_t len, cap;
} g4_gbuf;

int g4_gbuf_reserve(g4_gbuf *b, size_t extra);

/* Appends to b the state of the grammar's start. Returns 0 or -1. */
int g4_gstate_start(const g4_grammar *g, g4_gbuf *b);
/* Appends to b the state reached from `from` (words from[0..]) by one byte; the
 * new state has 0 stacks when the byte is not allowed. Returns 0 or -1 (memory). */
int g4_gstate_byte(const g4_grammar *g, const uint32_t *from, uint8_t byte, g4_gbuf *b);
/* Appends the state reached by the token terminal with table index `tok`. */
int g4_gstate_token(const g4_grammar *g, const uint32_t *from, const int32_t *tok_ids, int32_t id, g4_gbuf *b);
/* Number of words of the state at s. */
size_t g4_gstate_size(const uint32_t *s);
int g4_gstate_complete(const uint32_t *s);

#endif
