/* grammar_match.c: the matcher of the public API: one generation's state in a
 * grammar, advanced by tokens or text, and the mask of allowed next tokens: the text
 * tokens from one walk of the token trie (grammar_mask.c), plus token terminals and
 * end of generation. Masks are cached by state, since states repeat (inside a
 * string, between array items), in a refcounted cache that forks of a matcher share
 * (requests with the same grammar). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "run/grammar.h"
#include "run/grammar_mask.h"
#include "run/tokentrie.h"

#define CACHE_SLOTS 256   /* masks kept per grammar; each is n_vocab bits (32 KiB for 262144 tokens) */

typedef struct {
    uint32_t *key;      /* the state's words; NULL: the slot is free */
    size_t key_len;
    uint64_t hash;
    uint8_t *bits;      /* allowed tokens, one bit each */
    int n_allowed;
    int used;           /* clock bit: used since the hand last passed */
} mask_entry;

/* The masks of one grammar over one vocabulary, shared by a matcher and its forks. */
typedef struct {
    int refs;
    int hand;           /* clock eviction: the next slot to consider */
    mask_entry slot[CACHE_SLOTS];
} mask_cache;

struct g4_grammar_matcher {
    const g4_grammar *g;
    const g4_grammar_vocab *gv;
    int32_t *tok_ids;        /* [g->n_tokens] the terminals' token ids */
    g4_gbuf state, work;
    g4_mask_walker *walker;  /* the text tokens a state allows */
    int ended;               /* an end-of-generation token was accepted */
    mask_cache *cache;
};

static uint64_t hash_words(const uint32_t *w, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h;
}

static mask_cache *cache_new(void) {
    mask_cache *c = calloc(1, sizeof *c);
    if (c) c->refs = 1;
    return c;
}

static void cache_release(mask_cache *c) {
    if (!c || --c->refs > 0) return;
    for (int i = 0; i < CACHE_SLOTS; i++) free(c->slot[i].key), free(c->slot[i].bits);
    free(c);
}

/* A matcher at the start of g with no cache yet; token terminals resolved against gv. */
static g4_grammar_matcher *matcher_new(const g4_grammar *g, const g4_grammar_vocab *gv) {
    g4_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) { g4_error("grammar matcher: out of memory"); return NULL; }
    m->g = g, m->gv = gv;
    m->tok_ids = malloc(((size_t)g->n_tokens + 1) * sizeof *m->tok_ids);
    if (!m->tok_ids) { g4_error("grammar matcher: out of memory"); goto fail; }
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
    m->walker = g4_mask_walker_new(g, gv);
    if (!m->walker || g4_gstate_start(g, &m->state)) goto fail;
    return m;
fail:
    g4_grammar_matcher_free(m);
    return NULL;
}

g4_grammar_matcher *g4_grammar_matcher_new(const g4_grammar *g, const g4_grammar_vocab *gv) {
    if (!g || !gv) { g4_error("grammar matcher: no grammar or vocabulary"); return NULL; }
    g4_grammar_matcher *m = matcher_new(g, gv);
    if (!m) return NULL;
    m->cache = cache_new();
    if (!m->cache) {
        g4_error("grammar matcher: out of memory");
        g4_grammar_matcher_free(m);
        return NULL;
    }
    return m;
}

g4_grammar_matcher *g4_grammar_matcher_fork(g4_grammar_matcher *m) {
    if (!m) { g4_error("grammar matcher: no matcher to fork"); return NULL; }
    g4_grammar_matcher *f = matcher_new(m->g, m->gv);
    if (!f) return NULL;
    f->cache = m->cache;
    f->cache->refs++;
    return f;
}

void g4_grammar_matcher_free(g4_grammar_matcher *m) {
    if (!m) return;
    cache_release(m->cache);
    g4_mask_walker_free(m->walker);
    free(m->work.w), free(m->state.w), free(m->tok_ids);
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

static void entry_clear(mask_entry *e) {
    free(e->key);
    e->key = NULL;
}

/* A slot for a new mask: a free one, else the first the clock hand finds unused
 * since it last passed. */
static mask_entry *cache_victim(mask_cache *c) {
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (!c->slot[i].key) return &c->slot[i];
    for (;;) {
        mask_entry *e = &c->slot[c->hand];
        c->hand = (c->hand + 1) % CACHE_SLOTS;
        if (!e->used) return e;
        e->used = 0;
    }
}

/* The cache entry for the current state, computed if missing. */
static mask_entry *current_mask(g4_grammar_matcher *m) {
    const uint32_t *key = m->state.w;
    size_t key_len = g4_gstate_size(key);
    uint64_t h = hash_words(key, key_len);
    mask_cache *cache = m->cache;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        mask_entry *e = &cache->slot[i];
        if (e->key && e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len * sizeof *key) == 0) {
            e->used = 1;
            return e;
        }
    }
    mask_entry *e = cache_victim(cache);
    entry_clear(e);
    size_t nbytes = ((size_t)m->gv->n_vocab + 7) / 8;
    size_t nwords = (nbytes + 7) / 8;
    e->key = malloc(key_len * sizeof *e->key);
    if (!e->bits) e->bits = malloc(nwords * sizeof(uint64_t));
    if (!e->key || !e->bits) { entry_clear(e); g4_error("grammar: out of memory for masks"); return NULL; }
    memset(e->bits, 0, nwords * sizeof(uint64_t));
    if (g4_mask_walk(m->walker, m->state.w, e->bits)) { entry_clear(e); return NULL; }
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
    for (size_t i = 0; i < nwords; i++) {
        uint64_t w;
        memcpy(&w, e->bits + 8 * i, sizeof w);
        count += __builtin_popcountll(w);
    }
    memcpy(e->key, key, key_len * sizeof *key);
    e->key_len = key_len, e->hash = h, e->n_allowed = count, e->used = 1;
    return e;
}

int g4_grammar_matcher_mask(g4_grammar_matcher *m, uint8_t *allowed) {
    if (!m || !allowed || !m->state.len || m->ended) return g4_error("grammar: the matcher has ended");
    mask_entry *e = current_mask(m);
    if (!e) return -1;
    int n = m->gv->n_vocab;
    for (int i = 0; i < n; i += 8) {
        uint8_t byte = e->bits[i >> 3];
        int k_end = n - i < 8 ? n - i : 8;
        if (byte == 0 || byte == 0xFF) memset(allowed + i, byte & 1, (size_t)k_end);
        else
            for (int k = 0; k < k_end; k++) allowed[i + k] = byte >> k & 1;
    }
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
