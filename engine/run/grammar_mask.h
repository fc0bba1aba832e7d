/* grammar_mask.h: the text tokens a grammar state allows, by one walk of the token
 * trie (grammar_mask.c); the matcher (grammar_match.c) adds token terminals and
 * end of generation, and caches the result. */
#ifndef G4_GRAMMAR_MASK_H
#define G4_GRAMMAR_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "run/grammar.h"
#include "run/tokentrie.h"

/* The walker keeps the states it has met and their transitions by byte (a lazily
 * built automaton of the grammar) from one walk to the next; one thread at a time. */
typedef struct g4_mask_walker g4_mask_walker;

g4_mask_walker *g4_mask_walker_new(const g4_grammar *g, const g4_grammar_vocab *gv);
void g4_mask_walker_free(g4_mask_walker *w);
/* Sets in bits (one per token id, zeroed by the caller) the text tokens whose bytes
 * the state s (g4_gstate_size(s) words) accepts. Returns 0 or -1 (memory). */
int g4_mask_walk(g4_mask_walker *w, const uint32_t *s, uint8_t *bits);

#endif
