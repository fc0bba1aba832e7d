/* grammar_state.c: the pushdown states of a compiled grammar and how they advance
 * by one byte of UTF-8 text or by one token terminal (layout in grammar.h). A state
 * holds every stack the text so far can be in, deduplicated; a stack's top is always
 * a terminal (rule references are expanded on the way in), which is why rules may
 * not be left-recursive (grammar_parse.c rejects them). */
#include "run/grammar.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define MAX_DEPTH 4096   /* positions in one stack: deeper nesting is refused */

int g4_gbuf_reserve(g4_gbuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint32_t *w = realloc(b->w, cap * sizeof *w);
    if (!w) return g4_error("grammar: out of memory for matcher states");
    b->w = w, b->cap = cap;
    return 0;
}

uint32_t g4_gset_end(const g4_gelem *elems, uint32_t pos) {
    pos++;
    while (elems[pos].type == GE_CHAR_RNG_UPPER || elems[pos].type == GE_CHAR_ALT) pos++;
    return pos;
}

/* The range at elems[*p] (a code point, or a range with its GE_CHAR_RNG_UPPER),
 * advancing *p past its upper bound. */
static void set_range(const g4_gelem *elems, uint32_t *p, uint32_t end, uint32_t *a, uint32_t *z) {
    *a = *z = elems[*p].value;
    if (*p + 1 < end && elems[*p + 1].type == GE_CHAR_RNG_UPPER) *z = elems[++*p].value;
}

/* Whether some range of the set's elements [pos, end) meets [lo, hi]. */
static int ranges_meet(const g4_gelem *elems, uint32_t pos, uint32_t end, uint32_t lo, uint32_t hi) {
    for (uint32_t p = pos, a, z; p < end; p++) {
        set_range(elems, &p, end, &a, &z);
        if (a <= hi && z >= lo) return 1;
    }
    return 0;
}

/* Whether the ranges of [pos, end) together cover [lo, hi] without a gap. */
static int ranges_cover(const g4_gelem *elems, uint32_t pos, uint32_t end, uint32_t lo, uint32_t hi) {
    uint32_t x = lo;
    for (;;) {
        int moved = 0;
        for (uint32_t p = pos, a, z; p < end; p++) {
            set_range(elems, &p, end, &a, &z);
            if (a <= x && x <= z) {
                if (z >= hi) return 1;
                x = z + 1, moved = 1;
            }
        }
        if (!moved) return 0;
    }
}

int g4_gset_hits(const g4_gelem *elems, uint32_t pos, uint32_t lo, uint32_t hi) {
    uint32_t type = elems[pos].type;
    if (type == GE_CHAR_ANY) return 1;
    if (type != GE_CHAR && type != GE_CHAR_NOT) return 0;
    uint32_t end = g4_gset_end(elems, pos);
    return type == GE_CHAR ? ranges_meet(elems, pos, end, lo, hi) : !ranges_cover(elems, pos, end, lo, hi);
}

int g4_gset_covers(const g4_gelem *elems, uint32_t pos, uint32_t lo, uint32_t hi) {
    uint32_t type = elems[pos].type;
    if (type == GE_CHAR_ANY) return 1;
    if (type != GE_CHAR && type != GE_CHAR_NOT) return 0;
    uint32_t end = g4_gset_end(elems, pos);
    return type == GE_CHAR ? ranges_cover(elems, pos, end, lo, hi) : !ranges_meet(elems, pos, end, lo, hi);
}

size_t g4_gstate_size(const uint32_t *s) {
    size_t i = 3;
    for (uint32_t k = 0; k < s[0]; k++) i += 1 + s[i];
    return i;
}

int g4_gstate_complete(const uint32_t *s) {
    if (s[2] != 0) return 0;
    size_t i = 3;
    for (uint32_t k = 0; k < s[0]; k++) {
        if (s[i] == 0) return 1;
        i += 1 + s[i];
    }
    return 0;
}

/* Adds stack st[0..n) to the state whose header is at b->w[hdr], unless present. */
static int add_stack(g4_gbuf *b, size_t hdr, const uint32_t *st, uint32_t n) {
    size_t i = hdr + 3;
    for (uint32_t k = 0; k < b->w[hdr]; k++) {
        if (b->w[i] == n && memcmp(b->w + i + 1, st, n * sizeof *st) == 0) return 0;
        i += 1 + b->w[i];
    }
    if (g4_gbuf_reserve(b, (size_t)n + 1)) return -1;
    b->w[b->len++] = n;
    memcpy(b->w + b->len, st, n * sizeof *st);
    b->len += n;
    b->w[hdr]++;
    return 0;
}

/* Expands rule references at the top of st[0..n) (scratch of MAX_DEPTH + 1 words)
 * until every resulting stack has a terminal on top or is empty, and adds them. Each
 * call writes st[n-1] and st[n] only, and puts st[n-1] back before it returns. */
static int expand(const g4_grammar *g, g4_gbuf *b, size_t hdr, uint32_t *st, uint32_t n) {
    if (n == 0 || g->elems[st[n - 1]].type != GE_RULE) return add_stack(b, hdr, st, n);
    if (n > MAX_DEPTH) return g4_error("grammar: nesting deeper than %d levels", MAX_DEPTH);
    uint32_t top = st[n - 1];
    uint32_t next = top + 1;
    int has_next = g->elems[next].type != GE_END && g->elems[next].type != GE_ALT;
    uint32_t m = has_next ? n : n - 1;
    uint32_t r = g->elems[top].value;
    uint32_t pos = g->rule_start[r];
    int rc = 0;
    for (;;) {
        if (has_next) st[n - 1] = next;
        uint32_t t = g->elems[pos].type;
        if (t == GE_END || t == GE_ALT) rc = expand(g, b, hdr, st, m);
        else st[m] = pos, rc = expand(g, b, hdr, st, m + 1);
        if (rc) break;
        while (g->elems[pos].type != GE_ALT && g->elems[pos].type != GE_END) pos++;
        if (g->elems[pos].type == GE_END) break;
        pos++;
    }
    st[n - 1] = top;
    return rc;
}

static size_t begin_state(g4_gbuf *b, uint32_t cp, uint32_t need) {
    if (g4_gbuf_reserve(b, 3)) return (size_t)-1;
    size_t hdr = b->len;
    b->w[b->len++] = 0, b->w[b->len++] = cp, b->w[b->len++] = need;
    return hdr;
}

static uint32_t *scratch_stack(void) {
    static _Thread_local uint32_t st[MAX_DEPTH + 2];
    return st;
}

int g4_gstate_start(const g4_grammar *g, g4_gbuf *b) {
    size_t hdr = begin_state(b, 0, 0);
    if (hdr == (size_t)-1) return -1;
    uint32_t *st = scratch_stack();
    uint32_t pos = g->rule_start[g->root];
    for (;;) {
        uint32_t t = g->elems[pos].type;
        int rc = t == GE_END || t == GE_ALT ? expand(g, b, hdr, st, 0) : (st[0] = pos, expand(g, b, hdr, st, 1));
        if (rc) return -1;
        while (g->elems[pos].type != GE_ALT && g->elems[pos].type != GE_END) pos++;
        if (g->elems[pos].type == GE_END) return 0;
        pos++;
    }
}

/* Advances every stack whose top terminal matches (code point cp, or token id). */
static int advance(const g4_grammar *g, const uint32_t *from, int is_token, uint32_t cp, const int32_t *tok_ids,
                   g4_gbuf *b) {
    /* from may point into b, which moves when it grows: keep an offset */
    size_t from_off = (size_t)-1;
    if (b->w && from >= b->w && from < b->w + b->len) from_off = (size_t)(from - b->w);
    uint32_t n_stacks = from[0];
    size_t hdr = begin_state(b, 0, 0);
    int rc = hdr == (size_t)-1 ? -1 : 0;
    uint32_t *st = scratch_stack();
    size_t i = 3;
    for (uint32_t k = 0; k < n_stacks && !rc; k++) {
        if (from_off != (size_t)-1) from = b->w + from_off;
        uint32_t n = from[i];
        const uint32_t *s = from + i + 1;
        i += 1 + n;
        if (n == 0) continue;
        uint32_t top = s[n - 1];
        const g4_gelem *e = &g->elems[top];
        int hit = is_token ? e->type == GE_TOKEN && tok_ids[e->value] == (int32_t)cp
                           : e->type != GE_TOKEN && g4_gset_hits(g->elems, top, cp, cp);
        if (!hit) continue;
        uint32_t next = is_token ? top + 1 : g4_gset_end(g->elems, top);
        memcpy(st, s, n * sizeof *st);
        uint32_t m = n;
        if (g->elems[next].type == GE_END || g->elems[next].type == GE_ALT) m = n - 1;
        else st[n - 1] = next;
        rc = expand(g, b, hdr, st, m);
    }
    return rc;
}

int g4_gstate_token(const g4_grammar *g, const uint32_t *from, const int32_t *tok_ids, int32_t id, g4_gbuf *b) {
    if (from[2] != 0) return begin_state(b, 0, 0) == (size_t)-1 ? -1 : 0;   /* inside a character */
    return advance(g, from, 1, (uint32_t)id, tok_ids, b);
}

int g4_gstate_byte(const g4_grammar *g, const uint32_t *from, uint8_t byte, g4_gbuf *b) {
    uint32_t cp = from[1], need = from[2] & 0xFF, lead = from[2] >> 8;
    if (need > 0) {
        /* the second byte of a sequence is narrower after some leads (no overlong forms,
         * surrogates or values above U+10FFFF), as in g4_utf8_len */
        uint32_t total = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        uint32_t lo_b = 0x80, hi_b = 0xBF;
        if (need == total - 1) {
            if (lead == 0xE0) lo_b = 0xA0;
            else if (lead == 0xED) hi_b = 0x9F;
            else if (lead == 0xF0) lo_b = 0x90;
            else if (lead == 0xF4) hi_b = 0x8F;
        }
        if (byte < lo_b || byte > hi_b) return begin_state(b, 0, 0) == (size_t)-1 ? -1 : 0;
        cp = cp << 6 | (byte & 0x3F);
        need--;
        if (need == 0) return advance(g, from, 0, cp, NULL, b);
    } else if (byte < 0x80) {
        return advance(g, from, 0, byte, NULL, b);
    } else if (byte >= 0xC2 && byte <= 0xDF) cp = byte & 0x1F, need = 1, lead = byte;
    else if (byte >= 0xE0 && byte <= 0xEF) cp = byte & 0x0F, need = 2, lead = byte;
    else if (byte >= 0xF0 && byte <= 0xF4) cp = byte & 0x07, need = 3, lead = byte;
    else return begin_state(b, 0, 0) == (size_t)-1 ? -1 : 0;
    /* inside a character: keep the stacks that some completion of it can match */
    uint32_t lo = cp << (6 * need), hi = lo | ((1u << (6 * need)) - 1);
    if (need == 2 && lead == 0xE0) lo = 0x800;       /* what the second byte may still reach */
    if (need == 2 && lead == 0xED) hi = 0xD7FF;
    if (need == 3 && lead == 0xF0) lo = 0x10000;
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    if (lo > hi) return begin_state(b, 0, 0) == (size_t)-1 ? -1 : 0;
    size_t from_len = g4_gstate_size(from);
    size_t from_off = (size_t)-1;
    if (b->w && from >= b->w && from < b->w + b->len) from_off = (size_t)(from - b->w);
    if (g4_gbuf_reserve(b, from_len + 3)) return -1;
    if (from_off != (size_t)-1) from = b->w + from_off;
    size_t hdr = begin_state(b, cp, need | lead << 8);
    size_t i = 3;
    for (uint32_t k = 0; k < from[0]; k++) {
        uint32_t n = from[i];
        const uint32_t *s = from + i + 1;
        i += 1 + n;
        if (n == 0 || g->elems[s[n - 1]].type == GE_TOKEN || !g4_gset_hits(g->elems, s[n - 1], lo, hi)) continue;
        b->w[b->len++] = n;   /* stacks of a valid state are distinct already */
        memcpy(b->w + b->len, s, n * sizeof *s);
        b->len += n;
        b->w[hdr]++;
    }
    return 0;
}
