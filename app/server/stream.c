/* stream.c: the events of one HTTP request (srv_stream): the scheduler's jobs
 * (one per choice) push copies under a mutex, the HTTP thread pops them with a
 * timeout. Reference-counted because either side may finish first (a client
 * that disconnects, a job that ends while the client is still reading). Owns
 * the parsed request and its prompt ids, which the jobs read. */
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct srv_stream {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int refs;
    srv_request req;
    int32_t *ids;
    int n_ids;
    int n_choices, n_ended;       /* choices that sent DONE or ERROR */
    srv_event *head, *tail;
    atomic_int cancelled;
};

srv_stream *srv_stream_new(srv_request *req, int32_t *ids, int n_ids, int n_choices) {
    srv_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&s->mu, NULL)) {
        free(s);
        return NULL;
    }
    if (pthread_cond_init(&s->cond, &ca)) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    s->refs = 1;
    s->req = *req;
    memset(req, 0, sizeof *req);
    s->ids = ids;
    s->n_ids = n_ids;
    s->n_choices = n_choices;
    atomic_init(&s->cancelled, 0);
    return s;
}

void srv_stream_ref(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void srv_event_free(srv_event *ev) {
    if (!ev) return;
    free(ev->text);
    free(ev);
}

void srv_stream_unref(srv_stream *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left) return;
    for (srv_event *e = s->head, *next; e; e = next) {
        next = e->next;
        srv_event_free(e);
    }
    srv_request_free(&s->req);
    free(s->ids);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const srv_request *srv_stream_request(const srv_stream *s) { return &s->req; }

const int32_t *srv_stream_ids(const srv_stream *s, int *n) {
    *n = s->n_ids;
    return s->ids;
}

int srv_stream_push(srv_stream *s, const srv_event *ev) {
    srv_event *c = malloc(sizeof *c);
    if (!c) return -1;
    *c = *ev;
    c->next = NULL;
    c->text = NULL;
    if (ev->text) {
        if (!(c->text = malloc(ev->len + 1))) {
            free(c);
            return -1;
        }
        memcpy(c->text, ev->text, ev->len);
        c->text[ev->len] = '\0';
    }
    pthread_mutex_lock(&s->mu);
    if (s->tail) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    if (ev->type == SRV_EV_DONE || ev->type == SRV_EV_ERROR) s->n_ended++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

struct timespec srv_deadline(int timeout_ms) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    return until;
}

srv_event *srv_stream_pop(srv_stream *s, int timeout_ms) {
    struct timespec until = srv_deadline(timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->head && s->n_ended < s->n_choices) {
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT) break;
    }
    srv_event *e = s->head;
    if (e) {
        s->head = e->next;
        if (!s->head) s->tail = NULL;
        e->next = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

bool srv_stream_finished(srv_stream *s) {
    pthread_mutex_lock(&s->mu);
    bool done = !s->head && s->n_ended >= s->n_choices;
    pthread_mutex_unlock(&s->mu);
    return done;
}

void srv_stream_cancel(srv_stream *s) { atomic_store(&s->cancelled, 1); }
bool srv_stream_cancelled(const srv_stream *s) { return atomic_load(&((srv_stream *)s)->cancelled) != 0; }

const char *srv_finish_name(srv_finish f) {
    switch (f) {
    case SRV_FINISH_STOP: return "stop";
    case SRV_FINISH_LENGTH: return "length";
    case SRV_FINISH_TOOL_CALLS: return "tool_calls";
    case SRV_FINISH_CANCELLED: return "abort"; /* vLLM's name for a request ended by the server */
    }
    return "stop";
}
