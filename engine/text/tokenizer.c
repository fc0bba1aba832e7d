/* tokenizer.c: text -> token ids (g4_tokenize), as llama.cpp's gemma4 tokenizer
 * and HF do it: special tokens cut out first by longest match (only with
 * G4_TOKENIZE_SPECIAL), spaces -> U+2581, newline runs apart from other runs (a
 * newline run that is a piece is taken whole), then merge-rank BPE over code
 * points, and one <0xXX> token per byte for whatever is not a piece. Merging keeps
 * the symbols in a linked list and the candidate pairs in a heap (lowest rank,
 * then leftmost), so long runs cost O(n log n). Gemma 2/3 SentencePiece vocabs
 * (G4_ALGO_SPM) share the machinery, ranking pairs by the merged piece's score. */
#include "tokenizer.h"
#include "../base/error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;          /* piece id; -1: not a piece (byte fallback); -2: merged away */
    int32_t prev, next;  /* neighbours in the run, -1 at the ends */
    uint32_t off, len;   /* bytes of the run it covers */
} symbol;

typedef struct {
    int32_t rank;        /* merge rank (BPE) or score order (SPM): lower merges first */
    int32_t left;        /* the left symbol; ties go to the leftmost */
    int32_t lid, rid;    /* the pair's ids when queued: stale if either changed */
} candidate;

typedef struct {
    const g4_vocab *v;
    int32_t *out;
    int cap, n;          /* ids are counted past cap but not stored */
    char *buf;           /* the escaped text of one fragment */
    size_t buf_cap;
    symbol *sym;
    size_t sym_cap;
    candidate *heap;
    size_t heap_n, heap_cap;
} work;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return g4_error("out of memory tokenizing (%zu items)", need);
    *p = q;
    *cap = n;
    return 0;
}

static void emit(work *w, int32_t id) {
    if (w->n < w->cap) w->out[w->n] = id;
    w->n++;
}

/* ---- the candidate heap ------------------------------------------------------- */

static int cand_less(const candidate *a, const candidate *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(work *w, candidate c) {
    if (grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap)) return -1;
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
    return 0;
}

static candidate heap_pop(work *w) {
    candidate top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_less(&w->heap[child + 1], &w->heap[child])) child++;
        if (!cand_less(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* ---- merging one run ------------------------------------------------------------ */

/* The id that merging symbols l and r (adjacent) would give, and its rank; -1 if none. */
static int32_t pair_rank(const work *w, const char *t, int32_t l, int32_t r, int32_t *result) {
    const g4_vocab *v = w->v;
    const symbol *a = &w->sym[l], *b = &w->sym[r];
    if (a->id < 0 || b->id < 0) return -1;
    if (v->algo == G4_ALGO_BPE) return g4_vocab_merge_rank(v, a->id, b->id, result);
    *result = g4_vocab_lookup(v, t + a->off, a->len + b->len);
    return *result < 0 ? -1 : v->spm_rank[*result];
}

static int queue_pair(work *w, const char *t, int32_t l, int32_t r) {
    int32_t res, rank = pair_rank(w, t, l, r, &res);
    if (rank < 0) return 0;
    return heap_push(w, (candidate){.rank = rank, .left = l, .lid = w->sym[l].id, .rid = w->sym[r].id});
}

static int emit_symbol(work *w, const char *t, const symbol *s) {
    if (s->id >= 0) {
        emit(w, s->id);
        return 0;
    }
    for (uint32_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)t[s->off + i];
        int32_t id = w->v->byte_id[c] >= 0 ? w->v->byte_id[c] : w->v->unk;
        if (id < 0) return g4_error("the vocabulary has no token for byte 0x%02X", c);
        emit(w, id);
    }
    return 0;
}

/* Merges the code points of t[0..n) and emits the resulting ids. */
static int merge_run(work *w, const char *t, size_t n) {
    if (grow((void **)&w->sym, &w->sym_cap, n, sizeof *w->sym)) return -1;
    int32_t ns = 0;
    for (size_t o = 0; o < n;) {
        size_t len = g4_utf8_len((const unsigned char *)t + o, n - o);
        if (len == 0) len = 1;   /* not UTF-8: a symbol of one byte, for byte fallback */
        w->sym[ns] = (symbol){.id = g4_vocab_lookup(w->v, t + o, len), .prev = ns - 1, .next = ns + 1,
                              .off = (uint32_t)o, .len = (uint32_t)len};
        ns++;
        o += len;
    }
    if (ns == 0) return 0;
    w->sym[ns - 1].next = -1;
    w->heap_n = 0;
    for (int32_t i = 0; i + 1 < ns; i++)
        if (queue_pair(w, t, i, i + 1)) return -1;
    while (w->heap_n) {
        candidate c = heap_pop(w);
        symbol *a = &w->sym[c.left];
        if (a->id != c.lid || a->next < 0 || w->sym[a->next].id != c.rid) continue;   /* stale */
        symbol *b = &w->sym[a->next];
        int32_t res;
        pair_rank(w, t, c.left, a->next, &res);
        a->id = res;
        a->len += b->len;
        a->next = b->next;
        b->id = -2;
        if (a->next >= 0) w->sym[a->next].prev = c.left;
        if (a->prev >= 0 && queue_pair(w, t, a->prev, c.left)) return -1;
        if (a->next >= 0 && queue_pair(w, t, c.left, a->next)) return -1;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next)
        if (emit_symbol(w, t, &w->sym[i])) return -1;
    return 0;
}

/* Cuts a run into words before each "▁" that no merge can join to the character
 * before it (see split_words), and merges each word: the same result as merging
 * the whole run, with small heaps. */
static int merge_words(work *w, const char *t, size_t n) {
    const g4_vocab *v = w->v;
    if (!v->split_words) return merge_run(w, t, n);
    size_t start = 0;
    uint32_t prev = G4_SPACE_CODE;
    for (size_t o = 0; o < n;) {
        size_t len = g4_utf8_len((const unsigned char *)t + o, n - o);
        uint32_t code = g4_utf8_code((const unsigned char *)t + o, len);
        if (code == G4_SPACE_CODE && prev != G4_SPACE_CODE) {
            bool joins = false;
            for (int k = 0; k < v->n_joiners && !joins; k++) joins = v->joiner[k] == prev;
            if (!joins) {
                if (merge_run(w, t + start, o - start)) return -1;
                start = o;
            }
        }
        prev = code;
        o += len ? len : 1;
    }
    return merge_run(w, t + start, n - start);
}

/* ---- fragments: the text between special tokens --------------------------------- */

/* Escapes spaces as U+2581 (with a leading one if asked), then merges: gemma4 runs
 * of newlines and of everything else separately, SentencePiece the whole. */
static int encode_fragment(work *w, const char *s, size_t n, bool space_prefix) {
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    size_t m = (space_prefix ? 3 : 0) + n + 2 * spaces;
    if (grow((void **)&w->buf, &w->buf_cap, m + 1, 1)) return -1;
    char *t = w->buf, *o = t;
    if (space_prefix) {
        memcpy(o, "\xE2\x96\x81", 3);
        o += 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            *o++ = s[i];
        }
    }
    if (!w->v->split_newlines) return merge_words(w, t, m);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        bool nl = t[i] == '\n';
        while (j < m && (t[j] == '\n') == nl) j++;
        int32_t id = nl ? g4_vocab_lookup(w->v, t + i, j - i) : -1;
        if (id >= 0) emit(w, id);
        else if (merge_words(w, t + i, j - i)) return -1;
        i = j;
    }
    return 0;
}

/* The longest special token starting at s[0..n), or -1. */
static int32_t match_special(const g4_vocab *v, const char *s, size_t n) {
    unsigned char c = (unsigned char)s[0];
    for (int32_t k = v->special_start[c]; k < v->special_start[c + 1]; k++) {
        int32_t id = v->special[k];
        if (v->len[id] <= n && memcmp(v->text + v->off[id], s, v->len[id]) == 0) return id;
    }
    return -1;
}

int g4_tokenize(const g4_vocab *v, const char *text, size_t len, unsigned flags, int32_t *out, int cap) {
    if (!v) return g4_error("g4_tokenize: no vocabulary");
    if (!text && len) return g4_error("g4_tokenize: no text");
    if (cap < 0 || (cap > 0 && !out)) return g4_error("g4_tokenize: invalid output buffer");
    if (len > INT_MAX / 4) return g4_error("g4_tokenize: text of %zu bytes is too long", len);
    work w = {.v = v, .out = out, .cap = cap};
    int rc = 0;
    /* SentencePiece puts a "▁" before every fragment: each one starts the text or follows a special token */
    bool prefix = v->add_space_prefix;
    if (flags & G4_TOKENIZE_ADD_BOS) {
        if (v->bos < 0) return g4_error("g4_tokenize: the vocabulary has no BOS token");
        emit(&w, v->bos);
    }
    size_t start = 0;
    if (flags & G4_TOKENIZE_SPECIAL) {
        for (size_t i = 0; i < len && rc == 0;) {
            int32_t id = match_special(v, text + i, len - i);
            if (id < 0) {
                i++;
                continue;
            }
            if (i > start) rc = encode_fragment(&w, text + start, i - start, prefix);
            emit(&w, id);
            i += v->len[id];
            start = i;
        }
    }
    if (rc == 0 && len > start) rc = encode_fragment(&w, text + start, len - start, prefix);
    free(w.buf);
    free(w.sym);
    free(w.heap);
    return rc ? -1 : w.n;
}
