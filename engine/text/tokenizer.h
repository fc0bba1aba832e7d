/* tokenizer.h: the vocabulary behind g4_vocab (pieces, token types, merge ranks,
 * special tokens) shared by its loaders (vocab_load.c: GGUF and tokenizer.json)
 * and the encoder/decoder (tokenizer.c, detokenize.c). Internal to the engine;
 * the app sees only the g4_vocab_* / g4_tokenize / g4_detokenize API of gemma4.h. */
#ifndef G4_TOKENIZER_H
#define G4_TOKENIZER_H

#include "gemma4.h"
#include "../model/gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token types, numbered as in GGUF tokenizer.ggml.token_type. */
enum g4_token_type {
    G4_TOK_NORMAL = 1,
    G4_TOK_UNKNOWN = 2,
    G4_TOK_CONTROL = 3,
    G4_TOK_USER_DEFINED = 4,
    G4_TOK_UNUSED = 5,
    G4_TOK_BYTE = 6,
};

/* How pieces are merged. */
enum g4_vocab_algo {
    G4_ALGO_BPE,   /* merge ranks (tokenizer.ggml.model "gemma4", tokenizer.json BPE) */
    G4_ALGO_SPM,   /* SentencePiece scores (tokenizer.ggml.model "llama": Gemma 2/3 GGUFs) */
};

/* One merge-table slot: key = (left id << 32) | right id, or UINT64_MAX if empty. */
typedef struct {
    uint64_t key;
    int32_t rank;
    int32_t result;
} g4_merge_slot;

#define G4_VOCAB_MAX_EOG 8
#define G4_VOCAB_MAX_JOINERS 16

struct g4_vocab {
    int n;                      /* number of tokens */
    enum g4_vocab_algo algo;
    bool split_newlines;        /* gemma4 pre-tokenizer: newline runs apart from the rest */
    bool add_space_prefix;      /* SPM only: a "▁" before text that starts a fragment */
    /* No piece holds "X▁" for a character X other than "▁" and these joiners, so no
     * merge crosses such a boundary and runs are cut there into words (exactly). */
    bool split_words;
    int n_joiners;
    uint32_t joiner[G4_VOCAB_MAX_JOINERS];

    char *text;                 /* every piece, each followed by a NUL */
    uint32_t *off, *len;        /* [n] where each piece lies in text, and its length */
    uint8_t *type;              /* [n] enum g4_token_type */
    uint8_t *byte_val;          /* [n] the byte of a G4_TOK_BYTE token */
    int32_t *spm_rank;          /* [n] SPM only: order of the score (0 = highest) */

    int32_t *piece_slot;        /* open-addressing table of ids by piece, -1 = empty */
    uint32_t piece_mask;
    g4_merge_slot *merge;       /* open-addressing table of merge ranks by id pair */
    uint32_t merge_mask;
    int n_merges;

    int32_t byte_id[256];       /* the <0xXX> token of each byte, or -1 */
    int32_t *special;           /* ids matched by G4_TOKENIZE_SPECIAL, by first byte then longest first */
    int n_special;
    int32_t special_start[257]; /* special[special_start[b] .. special_start[b+1]) start with byte b */

    int32_t bos, eos, unk, pad; /* -1 when absent */
    int32_t eog[G4_VOCAB_MAX_EOG];
    int n_eog;
};

/* Builds a vocabulary from the tokenizer.ggml.* keys of a parsed GGUF. Everything
 * kept is copied, so the GGUF may be closed afterwards. NULL + g4_error on failure. */
g4_vocab *g4_vocab_from_gguf(const g4_gguf *g);

/* Builds a vocabulary from DIR/tokenizer.json (and DIR/tokenizer_config.json for
 * the bos/eos names when present). NULL + g4_error on failure. */
g4_vocab *g4_vocab_from_hf_dir(const char *dir);

/* Id of the piece of exactly len bytes at s, or -1. */
int32_t g4_vocab_lookup(const g4_vocab *v, const char *s, size_t len);

/* Length of the valid UTF-8 sequence at p[0..n) (1..4), or 0 if none starts there
 * (overlong forms, surrogates, values above U+10FFFF and truncations are invalid). */
static inline size_t g4_utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/* The code point of a sequence of g4_utf8_len() = len bytes; a byte that starts
 * no valid sequence (len 0 or 1 with p[0] >= 0x80) maps to 0x80000000 | byte. */
static inline uint32_t g4_utf8_code(const unsigned char *p, size_t len) {
    switch (len) {
    case 2: return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    case 3: return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    case 4: return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    default: return p[0] < 0x80 ? p[0] : 0x80000000u | p[0];
    }
}

#define G4_SPACE_CODE 0x2581u   /* "▁", the escaped space */

/* Rank of merging left+right (lower merges first) and the merged id, or -1. */
static inline int32_t g4_vocab_merge_rank(const g4_vocab *v, int32_t left, int32_t right, int32_t *result) {
    if (!v->merge) return -1;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & v->merge_mask;
    for (;;) {
        const g4_merge_slot *s = &v->merge[i];
        if (s->key == key) {
            *result = s->result;
            return s->rank;
        }
        if (s->key == UINT64_MAX) return -1;
        i = (i + 1) & v->merge_mask;
    }
}

#endif
