/* tokentrie.h: a vocabulary's tokens as a byte trie in preorder (tokentrie.c), for
 * computing grammar masks by one walk that skips whole subtrees (grammar_match.c). */
#ifndef G4_TOKENTRIE_H
#define G4_TOKENTRIE_H

#include <stdint.h>

#include "gemma4.h"

struct g4_grammar_vocab {
    const g4_vocab *vocab;
    int n_vocab;
    /* the trie, node 0 the root; a node's subtree is [i, end[i]) */
    uint32_t n_nodes;
    uint8_t *byte;        /* [n_nodes] the byte on the edge into the node */
    uint16_t *depth;      /* [n_nodes] */
    uint32_t *end;        /* [n_nodes] */
    uint32_t *tok_first;  /* [n_nodes + 1] index into sorted of the first token spelled by the node
                             (or below it): a subtree's tokens are sorted[tok_first[i] .. tok_first[end[i]]) */
    uint64_t *below;      /* [n_nodes] classes (g4_byte_class) of the bytes on edges below the node,
                             and G4_CLASS_NOT_UTF8 if a token below is not whole UTF-8 characters */
    uint16_t *tok_count;  /* [n_nodes] tokens spelled exactly by the node */
    int32_t *sorted;      /* text tokens, sorted by their bytes */
    int max_depth;
    /* each token's text (normal tokens: the piece with "▁" as space; byte tokens: the byte) */
    char *text;
    uint32_t *text_off, *text_len;   /* [n_vocab] */
    uint8_t *kind;        /* [n_vocab] TT_TEXT, TT_SPECIAL, TT_NEVER */
    int32_t *eog;         /* end-of-generation ids */
    int n_eog;
};

enum { TT_NEVER, TT_TEXT, TT_SPECIAL };

/* Byte classes for skipping subtrees: 0 non-ASCII, 1 control, 2 digits, 3 a-z,
 * 4 A-Z, 5.. each other printable ASCII byte (space and punctuation) on its own. */
#define G4_BYTE_CLASSES 38
int g4_byte_class(uint8_t b);
/* A pseudo-class in `below`: no set of byte classes holds it, so a subtree with a
 * token that is not whole UTF-8 characters is always walked, never allowed whole. */
#define G4_CLASS_NOT_UTF8 G4_BYTE_CLASSES

#endif
