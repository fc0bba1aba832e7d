/* grammar_mask.c: the text tokens a grammar state allows, by one preorder walk of
 * the token trie that carries the grammar state of each depth and skips the subtree
 * under any byte the grammar refuses. Three things keep the walk cheap:
 *  - states are interned and their steps by a byte memoized in a row of 256 ids
 *    per state (a lazily built automaton), so equal states met under different
 *    prefixes ("ab", "cd" inside a bounded repetition) take each byte once;
 *  - a byte whose class keeps the state as it is (free string contents) costs no
 *    step at all, and under a loop that takes every character, neither do the bytes
 *    of a multi-byte character (they only need to be valid UTF-8);
 *  - a subtree whose bytes all keep the state is allowed whole, by its token range. */
#include "run/grammar_mask.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Beyond these, the automaton starts over: 1 MiB of words, 2 MiB of steps. */
#define WORDS_LIMIT (1u << 18)
#define STATES_LIMIT 2048

enum { STEP_ERROR = -3, STEP_UNKNOWN = -2, STEP_DEAD = -1 };

typedef struct {
    size_t off;          /* words in w->words */
    uint32_t len;
    int loop_known;
    uint64_t hash;
    uint64_t loop;       /* byte classes that keep the state (self_loop_classes), once known */
} istate;

/* The walk's state at one trie depth. */
typedef struct {
    int32_t id;          /* interned state */
    uint64_t loop;       /* byte classes that keep it (0: none known) */
    uint8_t need, lead;  /* need > 0: the state plus a partial character, under a loop that takes
                            every character: bytes still to come, and the character's lead byte */
} walk_level;

struct g4_mask_walker {
    const g4_grammar *g;
    const g4_grammar_vocab *gv;
    g4_gbuf words, spare;   /* interned states' words; spare: the next buffer when starting over */
    istate *st;
    uint32_t n_st, cap_st;
    int32_t *index;         /* open addressing by hash: state ids, -1 empty */
    uint32_t index_mask;
    int32_t *next;          /* [cap_st][256] the state a byte leads to: an id, STEP_DEAD or STEP_UNKNOWN */
    walk_level *level;      /* [max_depth + 1] */
};

static uint64_t hash_words(const uint32_t *w, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h;
}

static uint32_t mix(uint64_t k) { return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32); }

/* Forgets every state and step. */
static void clear_automaton(g4_mask_walker *w) {
    w->words.len = 0, w->n_st = 0;
    memset(w->index, 0xFF, ((size_t)w->index_mask + 1) * sizeof *w->index);
}

g4_mask_walker *g4_mask_walker_new(const g4_grammar *g, const g4_grammar_vocab *gv) {
    g4_mask_walker *w = calloc(1, sizeof *w);
    if (!w) { g4_error("grammar: out of memory for token masks"); return NULL; }
    w->g = g, w->gv = gv;
    w->level = malloc(((size_t)gv->max_depth + 1) * sizeof *w->level);
    if (!w->level) { g4_error("grammar: out of memory for token masks"); goto fail; }
    w->index = malloc(1024 * sizeof *w->index);
    if (!w->index) { g4_error("grammar: out of memory for token masks"); goto fail; }
    w->index_mask = 1023;
    memset(w->index, 0xFF, 1024 * sizeof *w->index);
    return w;
fail:
    g4_mask_walker_free(w);
    return NULL;
}

void g4_mask_walker_free(g4_mask_walker *w) {
    if (!w) return;
    free(w->level), free(w->next), free(w->index), free(w->st), free(w->spare.w), free(w->words.w);
    free(w);
}

static int grow_index(g4_mask_walker *w) {
    uint32_t size = (w->index_mask + 1) * 2;
    int32_t *index = malloc((size_t)size * sizeof *index);
    if (!index) return g4_error("grammar: out of memory for token masks");
    memset(index, 0xFF, (size_t)size * sizeof *index);
    for (uint32_t id = 0; id < w->n_st; id++) {
        uint32_t slot = mix(w->st[id].hash) & (size - 1);
        while (index[slot] >= 0) slot = (slot + 1) & (size - 1);
        index[slot] = (int32_t)id;
    }
    free(w->index);
    w->index = index, w->index_mask = size - 1;
    return 0;
}

/* The id of the state just appended at words[at..], dropping the copy when it is
 * known already; STEP_ERROR on memory. */
static int32_t intern_tail(g4_mask_walker *w, size_t at) {
    const uint32_t *s = w->words.w + at;
    uint32_t len = (uint32_t)(w->words.len - at);
    uint64_t h = hash_words(s, len);
    uint32_t slot = mix(h) & w->index_mask;
    for (; w->index[slot] >= 0; slot = (slot + 1) & w->index_mask) {
        const istate *e = &w->st[w->index[slot]];
        if (e->hash == h && e->len == len && memcmp(w->words.w + e->off, s, len * sizeof *s) == 0) {
            w->words.len = at;
            return w->index[slot];
        }
    }
    if (w->n_st == w->cap_st) {
        uint32_t cap = w->cap_st ? w->cap_st * 2 : 256;
        istate *st = realloc(w->st, cap * sizeof *st);
        if (st) w->st = st;
        int32_t *next = st ? realloc(w->next, (size_t)cap * 256 * sizeof *next) : NULL;
        if (!next) return g4_error("grammar: out of memory for token masks"), STEP_ERROR;
        w->next = next, w->cap_st = cap;
    }
    int32_t id = (int32_t)w->n_st++;
    w->st[id] = (istate){.off = at, .len = len, .hash = h};
    for (int b = 0; b < 256; b++) w->next[(size_t)id * 256 + b] = STEP_UNKNOWN;
    w->index[slot] = id;
    if (2 * w->n_st > w->index_mask + 1 && grow_index(w)) return STEP_ERROR;
    return id;
}

/* The state reached from state id by one byte: its id, STEP_DEAD or STEP_ERROR. */
static int32_t step(g4_mask_walker *w, int32_t id, uint8_t byte) {
    int32_t next = w->next[(size_t)id * 256 + byte];
    if (next != STEP_UNKNOWN) return next;
    size_t at = w->words.len;
    if (g4_gstate_byte(w->g, w->words.w + w->st[id].off, byte, &w->words)) return STEP_ERROR;
    if (w->words.w[at] == 0) w->words.len = at, next = STEP_DEAD;
    else next = intern_tail(w, at);
    if (next == STEP_ERROR) return STEP_ERROR;
    w->next[(size_t)id * 256 + byte] = next;
    return next;
}

/* Interns a copy of s (len words). */
static int32_t intern_copy(g4_mask_walker *w, const uint32_t *s, size_t len) {
    if (g4_gbuf_reserve(&w->words, len)) return STEP_ERROR;
    size_t at = w->words.len;
    memcpy(w->words.w + at, s, len * sizeof *s);
    w->words.len += len;
    return intern_tail(w, at);
}

/* Starts the automaton over mid-walk, keeping the states of depths [0, depth). */
static int restart_automaton(g4_mask_walker *w, int depth) {
    g4_gbuf old = w->words;
    w->words = w->spare;
    w->spare = old;
    istate *old_st = malloc(((size_t)w->n_st + 1) * sizeof *old_st);
    if (!old_st) return g4_error("grammar: out of memory for token masks");
    memcpy(old_st, w->st, w->n_st * sizeof *old_st);
    clear_automaton(w);
    int rc = 0;
    for (int d = 0; d < depth && !rc; d++) {
        const istate *e = &old_st[w->level[d].id];
        int32_t id = intern_copy(w, w->spare.w + e->off, e->len);
        if (id < 0) { rc = -1; break; }
        w->st[id].loop = e->loop, w->st[id].loop_known = e->loop_known;
        w->level[d].id = id;
    }
    free(old_st);
    free(w->spare.w);
    w->spare = (g4_gbuf){0};
    return rc;
}

/* The byte classes under which state id stays exactly itself: below a trie node
 * whose lower bytes all lie in them, every token is allowed. Returns 0 with *loop
 * set, or -1. */
static int self_loop_classes(g4_mask_walker *w, int32_t id, uint64_t *loop) {
    uint64_t bad = 1;   /* non-ASCII bytes go through partial states: decided below */
    for (int c = 0; c < 128; c++) {
        int cls = g4_byte_class((uint8_t)c);
        if (bad >> cls & 1) continue;
        int32_t next = step(w, id, (uint8_t)c);
        if (next == STEP_ERROR) return -1;
        if (next != id) bad |= 1ull << cls;
    }
    /* non-ASCII: every stack's set holds all code points above 0x7F or none (so all
     * of them lead to the same state), and one such character leads back to this
     * state; a token's bytes below a node at a character boundary are whole
     * characters (the trie marks subtrees where they are not) */
    const uint32_t *s = w->words.w + w->st[id].off;
    int all = s[0] > 0 && s[2] == 0;
    size_t i = 3;
    for (uint32_t k = 0; k < s[0] && all; k++) {
        uint32_t n = s[i];
        if (n > 0 && w->g->elems[s[i + n]].type != GE_TOKEN) {
            const g4_gelem *e = w->g->elems;
            uint32_t top = s[i + n];
            all = (g4_gset_covers(e, top, 0x80, 0xD7FF) && g4_gset_covers(e, top, 0xE000, 0x10FFFF)) ||
                  (!g4_gset_hits(e, top, 0x80, 0xD7FF) && !g4_gset_hits(e, top, 0xE000, 0x10FFFF));
        }
        i += 1 + n;
    }
    if (all) {
        int32_t mid = step(w, id, 0xC3);
        int32_t back = mid >= 0 ? step(w, mid, 0xA9) : mid;
        if (mid == STEP_ERROR || back == STEP_ERROR) return -1;
        if (back == id) bad &= ~1ull;
    }
    *loop = ~bad & ((1ull << G4_BYTE_CLASSES) - 1);
    return 0;
}

/* Whether byte may follow in a character with lead byte `lead` that still needs
 * `need` bytes (the checks of g4_gstate_byte: no overlong forms, surrogates or
 * code points above U+10FFFF). */
static int utf8_continues(uint8_t lead, int need, uint8_t byte) {
    int total = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    uint8_t lo = 0x80, hi = 0xBF;
    if (need == total - 1) {
        if (lead == 0xE0) lo = 0xA0;
        else if (lead == 0xED) hi = 0x9F;
        else if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F;
    }
    return byte >= lo && byte <= hi;
}

/* The level below p by byte when p's loop decides it without a step: 1 set, 0 not
 * decided by the loop, -1 the byte is refused. Under a loop that takes every
 * character (class 0), a whole character leads back to the same state and its bytes
 * only need to be valid UTF-8; the partial state between them is never empty. */
static int follow_loop(const walk_level *p, uint8_t byte, walk_level *c) {
    if (p->need) {
        if (!utf8_continues(p->lead, p->need, byte)) return -1;
        *c = *p;
        c->need--;
        return 1;
    }
    if (byte < 0x80) {
        if (!(p->loop >> g4_byte_class(byte) & 1)) return 0;
        *c = *p;
        return 1;
    }
    if (!(p->loop & 1)) return 0;
    int need = byte >= 0xC2 && byte <= 0xDF ? 1 : byte >= 0xE0 && byte <= 0xEF ? 2 : byte >= 0xF0 && byte <= 0xF4 ? 3 : 0;
    if (!need) return -1;
    *c = *p;
    c->need = (uint8_t)need, c->lead = byte;
    return 1;
}

static void mark_range(const g4_grammar_vocab *gv, uint32_t from, uint32_t to, uint8_t *bits) {
    for (uint32_t k = from; k < to; k++) {
        int32_t id = gv->sorted[k];
        bits[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
}

int g4_mask_walk(g4_mask_walker *w, const uint32_t *s, uint8_t *bits) {
    const g4_grammar_vocab *gv = w->gv;
    if (w->words.len > WORDS_LIMIT / 2 || w->n_st > STATES_LIMIT / 2) clear_automaton(w);
    int32_t root = intern_copy(w, s, g4_gstate_size(s));
    if (root < 0) return -1;
    if (!w->st[root].loop_known) {
        uint64_t loop;
        if (self_loop_classes(w, root, &loop)) return -1;
        w->st[root].loop = loop, w->st[root].loop_known = 1;
    }
    walk_level *level = w->level;
    level[0] = (walk_level){.id = root, .loop = w->st[root].loop};
    for (uint32_t i = 1; i < gv->n_nodes;) {
        int d = gv->depth[i];
        walk_level *c = &level[d];
        int rc = follow_loop(&level[d - 1], gv->byte[i], c);
        if (rc < 0) { i = gv->end[i]; continue; }
        if (rc == 0) {
            int32_t next = w->next[(size_t)level[d - 1].id * 256 + gv->byte[i]];
            if (next == STEP_UNKNOWN) {
                if ((w->words.len > WORDS_LIMIT || w->n_st >= STATES_LIMIT) && restart_automaton(w, d)) return -1;
                next = step(w, level[d - 1].id, gv->byte[i]);
            }
            if (next == STEP_ERROR) return -1;
            if (next == STEP_DEAD) { i = gv->end[i]; continue; }
            *c = (walk_level){.id = next, .loop = w->st[next].loop};
        }
        if (c->loop && (gv->below[i] & ~c->loop) == 0) {
            mark_range(gv, gv->tok_first[i], gv->tok_first[gv->end[i]], bits);
            i = gv->end[i];
            continue;
        }
        mark_range(gv, gv->tok_first[i], gv->tok_first[i] + gv->tok_count[i], bits);
        i++;
    }
    return 0;
}
