/* grammar_match.c: the matcher of the public API: one generation's state in a
 * grammar, advanced by tokens or text, and the mask of allowed next tokens. The mask
 * walks the token trie once from the current state, carrying one grammar state per
 * trie depth and skipping the subtree under any byte the grammar refuses; masks are
 * cached by state, since states repeat (inside a string, between array items). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "run/grammar.h"
#include "run/tokentrie.h"

#define CACHE_SLOTS 64

typedef struct {
    uint32_t *key;      /* the state's words */
    size_t key_len;
    uint64_t hash;
    uint8_t *bits;      /* allowed tokens, one bit each */
    int n_allowed;
} mask_entry;

struct g4_grammar_matcher {
    const g4_grammar *g;
    const g4_grammar_vocab *gv;
    int32_t *tok_ids;        /* [g->n_tokens] the terminals' token ids */
    g4_gbuf state, work, walk, walk2;
    size_t *walk_off;        /* [max_depth + 2] where the walk's state at each depth ends */
    uint64_t *walk_loop;     /* [max_depth + 2] */
    int ended;               /* an end-of-generation token was accepted */
    mask_entry cache[CACHE_SLOTS];
    int cache_next;
};

static uint64_t hash_words(const uint32_t *w, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h;
}

g4_grammar_matcher *g4_grammar_matcher_new(const g4_grammar *g, const g4_grammar_vocab *gv) {
    if (!g || !gv) { g4_error("grammar matcher: no grammar or vocabulary"); return NULL; }
    g4_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) { g4_error("grammar matcher: out of memory"); return NULL; }
    m->g = g, m->gv = gv;
    m->tok_ids = malloc(((size_t)g->n_tokens + 1) * sizeof *m->tok_ids);
    m->walk_off = malloc(((size_t)gv->max_depth + 2) * sizeof *m->walk_off);
    m->walk_loop = malloc(((size_t)gv->max_depth + 2) * sizeof *m->walk_loop);
    if (!m->tok_ids || !m->walk_off || !m->walk_loop) { g4_error("grammar matcher: out of memory"); goto fail; }
    for (int i = 0; i < g->n_tokens; i++) {
        int32_t id = g->tokens[i].id;
        if (g->tokens[i].piece) {
            id = g4_vocab_find(gv->vocab, g->tokens[i].piece);
            if (id < 0) { g4_error("grammar: token <[\"%s\"]> is not a token of the vocabulary", g->tokens[i].piece); goto fail; }
        } else if (id >= gv->n_vocab) {
            g4_error("grammar: token id %d is outside the vocabulary (%d tokens)", id, gv->n_vocab);
            goto fail;
        }
        m->tok_ids[i] = id;
    }
    if (g4_gstate_start(g, &m->state)) goto fail;
    return m;
fail:
    g4_grammar_matcher_free(m);
    return NULL;
}

void g4_grammar_matcher_free(g4_grammar_matcher *m) {
    if (!m) return;
    for (int i = 0; i < CACHE_SLOTS; i++) free(m->cache[i].key), free(m->cache[i].bits);
    free(m->walk2.w), free(m->walk.w), free(m->work.w), free(m->state.w), free(m->walk_loop), free(m->walk_off), free(m->tok_ids);
    free(m);
}

void g4_grammar_matcher_reset(g4_grammar_matcher *m) {
    if (!m) return;
    m->state.len = 0;
    m->ended = 0;
    if (g4_gstate_start(m->g, &m->state)) m->state.len = 0;
}

int g4_grammar_matcher_complete(const g4_grammar_matcher *m) {
    return m && m->state.len && g4_gstate_complete(m->state.w);
}

int g4_grammar_matcher_done(g4_grammar_matcher *m) {
    return m && (m->ended || (g4_grammar_matcher_complete(m) && m->state.w[0] == 1));
}

/* Advances the state by len bytes into m->work; 0 if all were allowed. */
static int run_bytes(g4_grammar_matcher *m, const char *text, size_t len) {
    if (g4_gbuf_reserve(&m->work, m->state.len)) return -1;
    memcpy(m->work.w, m->state.w, m->state.len * sizeof *m->state.w);
    m->work.len = m->state.len;
    size_t at = 0;   /* the current state's offset in work */
    for (size_t i = 0; i < len; i++) {
        size_t before = m->work.len;
        if (g4_gstate_byte(m->g, m->work.w + at, (uint8_t)text[i], &m->work)) return -1;
        if (m->work.w[before] == 0) return 1;
        /* move the new state to the front, so work does not grow with the text */
        size_t n = m->work.len - before;
        memmove(m->work.w, m->work.w + before, n * sizeof *m->work.w);
        m->work.len = n, at = 0;
    }
    return 0;
}

static void adopt_work(g4_grammar_matcher *m) {
    g4_gbuf t = m->state;
    m->state = m->work, m->work = t;
}

int g4_grammar_matcher_accept_text(g4_grammar_matcher *m, const char *text, size_t len) {
    if (!m || (!text && len) || !m->state.len || m->ended) return g4_error("grammar: the matcher cannot take more text");
    int rc = run_bytes(m, text, len);
    if (rc < 0) return -1;
    if (rc > 0) return g4_error("grammar: the text is not allowed here");
    adopt_work(m);
    return 0;
}

int g4_grammar_matcher_accept(g4_grammar_matcher *m, int32_t token) {
    if (!m || !m->state.len || m->ended) return g4_error("grammar: the matcher cannot take more tokens");
    const g4_grammar_vocab *gv = m->gv;
    if (token < 0 || token >= gv->n_vocab) return g4_error("grammar: token %d is outside the vocabulary", token);
    /* a token terminal first (it may also be an end-of-generation token) */
    m->work.len = 0;
    if (g4_gstate_token(m->g, m->state.w, m->tok_ids, token, &m->work)) return -1;
    if (m->work.w[0] > 0) { adopt_work(m); return 0; }
    for (int i = 0; i < gv->n_eog; i++)
        if (gv->eog[i] == token) {
            if (!g4_grammar_matcher_complete(m)) return g4_error("grammar: end of generation before the grammar is complete");
            m->ended = 1;
            return 0;
        }
    if (gv->kind[token] != TT_TEXT) return g4_error("grammar: token %d is not allowed here", token);
    int rc = run_bytes(m, gv->text + gv->text_off[token], gv->text_len[token]);
    if (rc < 0) return -1;
    if (rc > 0) return g4_error("grammar: token %d is not allowed here", token);
    adopt_work(m);
    return 0;
}

/* The byte classes under which the state at s (len words) stays exactly itself:
 * below a trie node whose lower bytes all lie in them, every token is allowed. */
static uint64_t self_loop_classes(g4_grammar_matcher *m, const uint32_t *s, size_t len) {
    uint64_t bad = 1;   /* non-ASCII bytes go through partial states: never a loop */
    g4_gbuf *t = &m->work;
    for (int c = 0; c < 128; c++) {
        int cls = g4_byte_class((uint8_t)c);
        if (bad >> cls & 1) continue;
        t->len = 0;
        if (g4_gstate_byte(m->g, s, (uint8_t)c, t) || t->len != len || memcmp(t->w, s, len * sizeof *s) != 0)
            bad |= 1ull << cls;
    }
    /* non-ASCII: every stack's set holds all code points above 0x7F or none (so all
     * of them lead to the same state), and one such character leads back to this
     * state; tokens below the first byte are whole UTF-8 characters */
    int all = s[0] > 0 && s[2] == 0;
    size_t i = 3;
    for (uint32_t k = 0; k < s[0] && all; k++) {
        uint32_t n = s[i];
        if (n > 0 && m->g->elems[s[i + n]].type != GE_TOKEN) {
            const g4_gelem *e = m->g->elems;
            uint32_t top = s[i + n];
            all = (g4_gset_covers(e, top, 0x80, 0xD7FF) && g4_gset_covers(e, top, 0xE000, 0x10FFFF)) ||
                  (!g4_gset_hits(e, top, 0x80, 0xD7FF) && !g4_gset_hits(e, top, 0xE000, 0x10FFFF));
        }
        i += 1 + n;
    }
    if (all) {
        g4_gbuf *u = &m->walk2;
        t->len = 0, u->len = 0;
        all = !g4_gstate_byte(m->g, s, 0xC3, t) && t->len && !g4_gstate_byte(m->g, t->w, 0xA9, u) && u->len == len &&
              memcmp(u->w, s, len * sizeof *s) == 0;
        if (all) bad &= ~1ull;
    }
    return ~bad;
}

static void mark_range(const g4_grammar_vocab *gv, uint32_t from, uint32_t to, uint8_t *bits) {
    for (uint32_t k = from; k < to; k++) {
        int32_t id = gv->sorted[k];
        bits[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
}

/* Walks the trie from the current state, setting bits of allowed text tokens; a
 * subtree whose bytes all keep the state as it is gets allowed without a walk. */
static int walk_trie(g4_grammar_matcher *m, uint8_t *bits) {
    const g4_grammar_vocab *gv = m->gv;
    g4_gbuf *b = &m->walk;
    b->len = 0;
    if (g4_gbuf_reserve(b, m->state.len)) return -1;
    memcpy(b->w, m->state.w, m->state.len * sizeof *b->w);
    b->len = m->state.len;
    size_t *end_of = m->walk_off;   /* end_of[d]: where the state of depth d ends (depth 0 at 0) */
    uint64_t *loop = m->walk_loop;  /* loop[d]: self_loop_classes of the state of depth d */
    end_of[0] = b->len;
    loop[0] = self_loop_classes(m, b->w, b->len);
    for (uint32_t i = 1; i < gv->n_nodes;) {
        uint32_t d = gv->depth[i];
        size_t from = d == 1 ? 0 : end_of[d - 2];
        b->len = end_of[d - 1];
        size_t at = b->len;
        if (g4_gstate_byte(m->g, b->w + from, gv->byte[i], b)) return -1;
        if (b->w[at] == 0) { i = gv->end[i]; continue; }
        end_of[d] = b->len;
        size_t len = b->len - at;
        loop[d] = len == at - from && memcmp(b->w + at, b->w + from, len * sizeof *b->w) == 0 ? loop[d - 1] : 0;
        if (loop[d] && (gv->below[i] & ~loop[d]) == 0) {
            mark_range(gv, gv->tok_first[i], gv->tok_first[gv->end[i]], bits);
            i = gv->end[i];
            continue;
        }
        mark_range(gv, gv->tok_first[i], gv->tok_first[i] + gv->tok_count[i], bits);
        i++;
    }
    return 0;
}

/* The cache entry for the current state, computed if missing. */
static mask_entry *current_mask(g4_grammar_matcher *m) {
    const uint32_t *key = m->state.w;
    size_t key_len = g4_gstate_size(key);
    uint64_t h = hash_words(key, key_len);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        mask_entry *e = &m->cache[i];
        if (e->key && e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len * sizeof *key) == 0) return e;
    }
    mask_entry *e = &m->cache[m->cache_next];
    m->cache_next = (m->cache_next + 1) % CACHE_SLOTS;
    size_t nbytes = ((size_t)m->gv->n_vocab + 7) / 8;
    uint32_t *nk = realloc(e->key, key_len * sizeof *nk);
    if (nk) e->key = nk;
    if (!e->bits) e->bits = malloc(nbytes);
    if (!nk || !e->bits) { free(e->key), e->key = NULL; g4_error("grammar: out of memory for masks"); return NULL; }
    memcpy(e->key, key, key_len * sizeof *key);
    e->key_len = key_len, e->hash = h;
    memset(e->bits, 0, nbytes);
    if (walk_trie(m, e->bits)) { free(e->key), e->key = NULL; return NULL; }
    /* token terminals on top of a stack, and end of generation when complete */
    const uint32_t *s = m->state.w;
    if (s[2] == 0) {
        size_t i = 3;
        for (uint32_t k = 0; k < s[0]; k++) {
            uint32_t n = s[i];
            if (n > 0 && m->g->elems[s[i + n]].type == GE_TOKEN) {
                int32_t id = m->tok_ids[m->g->elems[s[i + n]].value];
                e->bits[id >> 3] |= (uint8_t)(1u << (id & 7));
            }
            i += 1 + n;
        }
    }
    if (g4_gstate_complete(s))
        for (int i = 0; i < m->gv->n_eog; i++) e->bits[m->gv->eog[i] >> 3] |= (uint8_t)(1u << (m->gv->eog[i] & 7));
    int count = 0;
    for (size_t i = 0; i < nbytes; i++) count += __builtin_popcount(e->bits[i]);
    e->n_allowed = count;
    return e;
}

int g4_grammar_matcher_mask(g4_grammar_matcher *m, uint8_t *allowed) {
    if (!m || !allowed || !m->state.len || m->ended) return g4_error("grammar: the matcher has ended");
    mask_entry *e = current_mask(m);
    if (!e) return -1;
    for (int i = 0; i < m->gv->n_vocab; i++) allowed[i] = e->bits[i >> 3] >> (i & 7) & 1;
    if (e->n_allowed == 0) return g4_error("grammar: no token can continue the grammar here");
    return e->n_allowed;
}

int g4_grammar_matcher_apply(g4_grammar_matcher *m, float *logits) {
    if (!m || !logits || !m->state.len || m->ended) return g4_error("grammar: the matcher has ended");
    mask_entry *e = current_mask(m);
    if (!e) return -1;
    if (e->n_allowed == 0) return g4_error("grammar: no token can continue the grammar here");
    int n = m->gv->n_vocab;
    for (int i = 0; i < n; i += 8) {
        uint8_t byte = e->bits[i >> 3];
        if (byte == 0xFF) continue;
        for (int k = 0; k < 8 && i + k < n; k++)
            if (!(byte >> k & 1)) logits[i + k] = -INFINITY;
    }
    return e->n_allowed;
}
