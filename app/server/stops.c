/* stops.c: OpenAI "stop" strings over streamed text (srv_stops): text is sent as
 * it comes except for a tail that could still grow into a stop string, which is
 * held back; when a stop string completes, the text before it is sent and the
 * stop string itself never is. */
#include "server/server.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void srv_stops_init(srv_stops *st, char *const *stops, int n_stops) {
    memset(st, 0, sizeof *st);
    st->stops = stops;
    st->n_stops = n_stops;
}

void srv_stops_free(srv_stops *st) {
    free(st->held);
    free(st->sent);
    memset(st, 0, sizeof *st);
}

/* The length of the longest suffix of text that is a proper prefix of a stop string. */
static size_t partial_suffix(const srv_stops *st, const char *text, size_t len) {
    size_t best = 0;
    for (int i = 0; i < st->n_stops; i++) {
        size_t sl = strlen(st->stops[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
            if (!memcmp(text + len - k, st->stops[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

/* Grows *buf to hold n bytes plus a NUL; -1 when out of memory. */
static int reserve(char **buf, size_t *cap, size_t n) {
    if (n + 1 <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < n + 1) c *= 2;
    char *r = realloc(*buf, c);
    if (!r) return -1;
    *buf = r;
    *cap = c;
    return 0;
}

int srv_stops_feed(srv_stops *st, const char *text, size_t len, const char **out, size_t *n_out) {
    *out = "";
    *n_out = 0;
    if (st->hit) return 1;
    if (reserve(&st->held, &st->cap_held, st->n_held + len)) return -1;
    memcpy(st->held + st->n_held, text, len);
    st->n_held += len;
    /* the earliest complete stop string ends the text */
    size_t cut = st->n_held;
    for (int i = 0; i < st->n_stops; i++) {
        const char *p = memmem(st->held, st->n_held, st->stops[i], strlen(st->stops[i]));
        if (p && (size_t)(p - st->held) < cut) cut = (size_t)(p - st->held);
    }
    bool hit = cut < st->n_held;
    size_t send = hit ? cut : st->n_held - partial_suffix(st, st->held, st->n_held);
    if (reserve(&st->sent, &st->cap_sent, send)) return -1;
    memcpy(st->sent, st->held, send);
    st->sent[send] = '\0';
    memmove(st->held, st->held + send, st->n_held - send);
    st->n_held -= send;
    *out = st->sent;
    *n_out = send;
    if (hit) {
        st->hit = true;
        st->n_held = 0;
    }
    return hit;
}

void srv_stops_flush(srv_stops *st, const char **out, size_t *n_out) {
    *out = st->held ? st->held : "";
    *n_out = st->hit ? 0 : st->n_held;
    st->n_held = 0;
}
