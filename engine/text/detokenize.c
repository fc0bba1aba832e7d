/* detokenize.c: the streaming detokenizer (ids -> UTF-8 text). A piece's bytes
 * are "▁" -> space for ordinary tokens, the raw byte for <0xXX> tokens, the piece
 * itself for special ones (or nothing with G4_DETOK_SKIP_SPECIAL). Bytes pass a
 * UTF-8 validator: an incomplete character is held until it is whole, and an
 * invalid sequence becomes U+FFFD (one per maximal invalid subpart, as Python and
 * HF decode). Complete text waits in a queue until the caller's buffer takes it,
 * and is handed out only in whole characters. */
#include "tokenizer.h"
#include "../base/error.h"

#include <stdlib.h>
#include <string.h>

struct g4_detokenizer {
    const g4_vocab *v;
    unsigned flags;
    unsigned char part[4];  /* an incomplete UTF-8 sequence */
    int n_part, need;
    char *q;                /* complete text not yet handed out: q[head..tail) */
    size_t head, tail, cap;
};

g4_detokenizer *g4_detokenizer_new(const g4_vocab *v, unsigned flags) {
    if (!v) {
        g4_error("g4_detokenizer_new: no vocabulary");
        return NULL;
    }
    g4_detokenizer *d = calloc(1, sizeof *d);
    if (!d) {
        g4_error("out of memory");
        return NULL;
    }
    d->v = v;
    d->flags = flags;
    return d;
}

void g4_detokenizer_free(g4_detokenizer *d) {
    if (!d) return;
    free(d->q);
    free(d);
}

static int queue(g4_detokenizer *d, const void *p, size_t n) {
    if (d->tail + n > d->cap) {
        if (d->head) {   /* slide the unread text to the front first */
            memmove(d->q, d->q + d->head, d->tail - d->head);
            d->tail -= d->head;
            d->head = 0;
        }
        if (d->tail + n > d->cap) {
            size_t cap = d->cap ? d->cap : 64;
            while (cap < d->tail + n) cap *= 2;
            char *q = realloc(d->q, cap);
            if (!q) return g4_error("out of memory");
            d->q = q;
            d->cap = cap;
        }
    }
    memcpy(d->q + d->tail, p, n);
    d->tail += n;
    return 0;
}

static int replacement(g4_detokenizer *d) { return queue(d, "\xEF\xBF\xBD", 3); }

/* Feeds one byte through the UTF-8 validator. */
static int put_byte(g4_detokenizer *d, unsigned char c) {
    if (d->n_part) {
        unsigned lo = 0x80, hi = 0xBF, lead = d->part[0];
        if (d->n_part == 1) {
            if (lead == 0xE0) lo = 0xA0;
            else if (lead == 0xED) hi = 0x9F;
            else if (lead == 0xF0) lo = 0x90;
            else if (lead == 0xF4) hi = 0x8F;
        }
        if (c >= lo && c <= hi) {
            d->part[d->n_part++] = c;
            if (d->n_part < d->need) return 0;
            d->n_part = 0;
            return queue(d, d->part, (size_t)d->need);
        }
        d->n_part = 0;   /* the sequence so far is invalid; c starts afresh */
        if (replacement(d)) return -1;
    }
    if (c < 0x80) return queue(d, &c, 1);
    d->need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!d->need) return replacement(d);
    d->part[d->n_part++] = c;
    return 0;
}

static int put_bytes(g4_detokenizer *d, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (put_byte(d, (unsigned char)s[i])) return -1;
    return 0;
}

/* Hands out as much queued text as fits in cap, never splitting a character. */
static int drain(g4_detokenizer *d, char *out, size_t cap) {
    size_t n = d->tail - d->head;
    if (n > cap) {
        n = cap;
        /* the queue holds valid UTF-8: back up to the start of the cut character */
        while (n > 0 && ((unsigned char)d->q[d->head + n] & 0xC0) == 0x80) n--;
    }
    if (n > (size_t)0x7fffffff) n = 0x7fffffff;
    if (n) memcpy(out, d->q + d->head, n);
    d->head += n;
    if (d->head == d->tail) d->head = d->tail = 0;
    return (int)n;
}

int g4_detokenize(g4_detokenizer *d, int32_t id, char *out, size_t cap) {
    if (!d) return g4_error("g4_detokenize: no detokenizer");
    if (!out && cap) return g4_error("g4_detokenize: no output buffer");
    const g4_vocab *v = d->v;
    if (id < 0 || id >= v->n) return g4_error("g4_detokenize: token id %d is out of range (vocabulary of %d)", id, v->n);
    const char *p = v->text + v->off[id];
    size_t n = v->len[id];
    int rc = 0;
    switch (v->type[id]) {
    case G4_TOK_BYTE:
        rc = put_byte(d, v->byte_val[id]);
        break;
    case G4_TOK_CONTROL:
    case G4_TOK_USER_DEFINED:
        if (!(d->flags & G4_DETOK_SKIP_SPECIAL)) rc = put_bytes(d, p, n);
        break;
    default:   /* "▁" is a space */
        for (size_t i = 0; i < n && rc == 0;) {
            if (i + 3 <= n && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
                rc = put_byte(d, ' ');
                i += 3;
            } else {
                rc = put_byte(d, (unsigned char)p[i++]);
            }
        }
    }
    if (rc) return -1;
    return drain(d, out, cap);
}

int g4_detokenize_flush(g4_detokenizer *d, char *out, size_t cap) {
    if (!d) return g4_error("g4_detokenize_flush: no detokenizer");
    if (!out && cap) return g4_error("g4_detokenize_flush: no output buffer");
    if (d->n_part) {
        d->n_part = 0;
        if (replacement(d)) return -1;
    }
    return drain(d, out, cap);
}
