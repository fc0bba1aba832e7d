/* scheduler.c: continuous batching (srv_sched). One g4_context holds a sequence
 * per slot (--parallel). A loop on its own thread admits queued jobs (one per
 * choice of a request) into idle slots, preferring the slot whose cached tokens
 * share the longest prefix with the new prompt (g4_seq_truncate keeps it), then
 * repeats one step: a batch of one token per generating slot plus a bounded
 * chunk of the admitted prompts, one g4_decode, and for every row with logits
 * the slot's own sampler, output parser (or detokenizer for raw completions) and
 * stop strings, whose events go to the request's srv_stream. A job whose stream
 * was cancelled (client gone) frees its slot before the next step. A token's
 * logits do not depend on the rest of the batch (the engine guarantees it), so
 * the outputs are those of the same requests run one at a time. */
#include "server/server.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_TOOL_IDS = 64 };

typedef struct job {
    struct job *next;
    srv_stream *stream;
    int choice;
} job;

typedef enum { SLOT_IDLE, SLOT_PREFILL, SLOT_GEN } slot_state;

typedef struct {
    srv_sched *owner;
    int seq;
    slot_state state;
    srv_stream *stream;          /* a reference while busy */
    int choice;
    const srv_request *req;
    const int32_t *prompt;
    int n_prompt;
    int32_t *held;               /* [n_ctx] the ids the sequence holds */
    int n_held;
    int cached;                  /* prompt tokens reused from the previous job */
    g4_sampler *sampler;
    g4_parser *parser;           /* chat */
    g4_detokenizer *detok;       /* completion */
    srv_stops stops;
    int32_t pending;             /* sampled, to be decoded in the next step */
    int n_generated, max_tokens;
    chat_constraint *constraint; /* structured output, or NULL */
    int n_tool_calls;
    bool end_after_call;         /* a call ended and no other may follow */
    bool stop_hit;               /* a stop string ended the content */
    bool failed;
    g4_stop_reason stop;
    char tool_ids[MAX_TOOL_IDS][32];
    g4_logit_bias *bias;
    float *scratch;              /* [vocab] logits under the constraint */
} slot;

struct srv_sched {
    g4_model *model;
    const g4_vocab *vocab;
    g4_context *ctx;
    srv_sched_params p;
    int vocab_size;
    g4_sampler_params defaults;
    int32_t tok_call;
    chat_grammar_cache *grammars; /* compiled constraints, shared by the requests that use the same */
    slot *slots;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;          /* guards the queue, stop and the stats below */
    pthread_cond_t cond;
    job *head, *tail;
    int queued;
    bool stop;
    int busy;
    srv_sched_stats stats;
    uint64_t rand_state;
    int32_t *b_token, *b_seq;    /* the step's batch */
    int8_t *b_logits;
    int *b_slot;                 /* the slot of each row */
    int b_cap;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_random(srv_sched *s) {
    uint64_t z = (s->rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- events ---- */

static void push(slot *sl, srv_event *ev) {
    ev->choice = sl->choice;
    if (srv_stream_push(sl->stream, ev)) sl->failed = true; /* out of memory: the job ends with what it sent */
}

static void push_text(slot *sl, srv_event_type type, const char *text, size_t len) {
    if (!len) return;
    srv_event ev = {.type = type, .text = (char *)text, .len = len};
    push(sl, &ev);
}

/* Content passes the stop strings first. */
static void push_content(slot *sl, const char *text, size_t len) {
    if (sl->stop_hit) return;
    const char *out;
    size_t n;
    int rc = srv_stops_feed(&sl->stops, text, len, &out, &n);
    if (rc < 0) {
        sl->failed = true;
        return;
    }
    push_text(sl, SRV_EV_CONTENT, out, n);
    if (rc == 1) sl->stop_hit = true;
}

static const char *tool_id(srv_sched *s, slot *sl, int i) {
    if (i < 0 || i >= MAX_TOOL_IDS) i = MAX_TOOL_IDS - 1;
    if (!sl->tool_ids[i][0])
        snprintf(sl->tool_ids[i], sizeof sl->tool_ids[i], "call_%016llx", (unsigned long long)next_random(s));
    return sl->tool_ids[i];
}

/* The output parser's events (chat jobs) as stream events. */
static void on_parser_event(const g4_event *g, void *user) {
    slot *sl = user;
    srv_event ev = {.tool_index = g->tool_index};
    switch (g->type) {
    case G4_EVENT_THOUGHT: push_text(sl, SRV_EV_REASONING, g->text, g->len); return;
    case G4_EVENT_ANSWER: push_content(sl, g->text, g->len); return;
    case G4_EVENT_TOOL_CALL_START: ev.type = SRV_EV_TOOL_BEGIN; break;
    case G4_EVENT_TOOL_CALL_ARGS: ev.type = SRV_EV_TOOL_ARGS; break;
    case G4_EVENT_TOOL_CALL_END:
        ev.type = SRV_EV_TOOL_END;
        sl->n_tool_calls++;
        if (sl->req->tool_choice == CHAT_TOOLS_NAMED || !sl->req->parallel_tool_calls) sl->end_after_call = true;
        break;
    case G4_EVENT_STOP: sl->stop = g->stop; return;
    default: return;
    }
    if (sl->stop_hit) return;
    snprintf(ev.tool_id, sizeof ev.tool_id, "%s", tool_id(sl->owner, sl, g->tool_index));
    if (g->name) snprintf(ev.tool_name, sizeof ev.tool_name, "%s", g->name);
    ev.text = (char *)g->text;
    ev.len = g->text ? g->len : 0;
    if (ev.type == SRV_EV_TOOL_ARGS && !ev.len) return;
    push(sl, &ev);
}

/* ---- logprobs ---- */

/* A token's text for logprobs: the piece with "▁" as a space; byte tokens give
 * their byte (as text only when it is ASCII). */
static json_t *token_entry(const g4_vocab *v, int32_t id, double logprob) {
    const char *piece = g4_vocab_piece(v, id);
    char text[256];
    size_t n = 0;
    unsigned byte;
    json_t *bytes = json_array();
    if (piece && strlen(piece) == 6 && sscanf(piece, "<0x%2X>", &byte) == 1) {
        if (byte < 0x80) text[n++] = (char)byte;
        json_array_append_new(bytes, json_integer(byte));
    } else if (piece) {
        for (const char *c = piece; *c && n + 4 < sizeof text;) {
            if (!strncmp(c, "\xe2\x96\x81", 3)) text[n++] = ' ', c += 3;
            else text[n++] = *c++;
        }
        for (size_t i = 0; i < n; i++) json_array_append_new(bytes, json_integer((unsigned char)text[i]));
    }
    json_t *t = json_stringn(text, n);
    return json_pack("{s:o, s:f, s:o}", "token", t ? t : json_string("\xef\xbf\xbd"), "logprob", logprob, "bytes", bytes);
}

/* Sends the LOGPROB event of the sampled token (log-softmax of the raw logits). */
static void push_logprob(srv_sched *s, slot *sl, const float *logits, int32_t id) {
    int V = s->vocab_size;
    float mx = logits[g4_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    json_t *e = token_entry(s->vocab, id, (double)logits[id] - lse);
    json_t *top = json_array();
    int k = sl->req->top_logprobs;
    int picked[SRV_MAX_TOP_LOGPROBS];
    for (int j = 0; j < k && j < V; j++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            bool used = false;
            for (int q = 0; q < j; q++) used |= picked[q] == i;
            if (!used && (best < 0 || logits[i] > logits[best])) best = i;
        }
        picked[j] = best;
        json_array_append_new(top, token_entry(s->vocab, best, (double)logits[best] - lse));
    }
    json_object_set_new(e, "top_logprobs", top);
    char *txt = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (!txt) {
        sl->failed = true;
        return;
    }
    push_text(sl, SRV_EV_LOGPROB, txt, strlen(txt));
    free(txt);
}

/* ---- a slot's lifecycle ---- */

static void slot_release(slot *sl) {
    g4_sampler_free(sl->sampler);
    g4_parser_free(sl->parser);
    g4_detokenizer_free(sl->detok);
    chat_constraint_free(sl->constraint);
    sl->constraint = NULL;
    srv_stops_free(&sl->stops);
    free(sl->bias);
    srv_stream_unref(sl->stream);
    sl->sampler = NULL;
    sl->parser = NULL;
    sl->detok = NULL;
    sl->bias = NULL;
    sl->stream = NULL;
    sl->req = NULL;
    sl->state = SLOT_IDLE;
}

/* Ends the job in a slot with DONE (or ERROR when something failed). */
static void slot_finish(srv_sched *s, slot *sl, srv_finish finish) {
    if (sl->parser && finish != SRV_FINISH_STOP && finish != SRV_FINISH_TOOL_CALLS) g4_parser_finish(sl->parser);
    if (sl->detok && !sl->stop_hit) {
        char buf[64];
        int n;
        while ((n = g4_detokenize_flush(sl->detok, buf, sizeof buf)) > 0) push_content(sl, buf, (size_t)n);
    }
    const char *rest;
    size_t n_rest;
    srv_stops_flush(&sl->stops, &rest, &n_rest);
    push_text(sl, SRV_EV_CONTENT, rest, n_rest);
    srv_event ev = {.type = SRV_EV_DONE,
                    .finish = finish,
                    .prompt_tokens = sl->n_prompt,
                    .completion_tokens = sl->n_generated,
                    .cached_tokens = sl->cached};
    if (sl->failed) {
        static const char oom[] = "out of memory while streaming the reply";
        ev = (srv_event){.type = SRV_EV_ERROR, .text = (char *)oom, .len = sizeof oom - 1};
    }
    /* the slot counts as free before the client hears DONE, so that a follow-up
     * sent at once is queued rather than refused (the loop admits it after this) */
    pthread_mutex_lock(&s->mu);
    s->busy--;
    s->stats.requests_done++;
    s->stats.generated_tokens += (uint64_t)sl->n_generated;
    pthread_mutex_unlock(&s->mu);
    push(sl, &ev);
    slot_release(sl);
}

static void slot_error(srv_sched *s, slot *sl, const char *msg) {
    srv_event ev = {.type = SRV_EV_ERROR, .text = (char *)msg, .len = strlen(msg)};
    pthread_mutex_lock(&s->mu);
    s->busy--;
    pthread_mutex_unlock(&s->mu);
    push(sl, &ev);
    slot_release(sl);
}

/* The sampler for a job: the model's defaults overlaid with the request. */
static g4_sampler *make_sampler(srv_sched *s, slot *sl) {
    const srv_request *r = sl->req;
    g4_sampler_params p = s->defaults;
    if (!isnan(r->temperature)) p.temperature = r->temperature;
    if (!isnan(r->top_p)) p.top_p = r->top_p;
    if (!isnan(r->min_p)) p.min_p = r->min_p;
    if (r->top_k >= 0) p.top_k = r->top_k;
    p.presence_penalty = r->presence_penalty;
    p.frequency_penalty = r->frequency_penalty;
    p.penalty_last_n = -1;
    p.seed = r->seed >= 0 ? (uint64_t)r->seed + (uint64_t)sl->choice : next_random(s);
    bool ban_call = r->tool_choice == CHAT_TOOLS_NONE && s->tok_call >= 0;
    int nb = r->n_bias + (ban_call ? 1 : 0);
    if (nb) {
        if (!(sl->bias = calloc((size_t)nb, sizeof *sl->bias))) return NULL;
        if (r->n_bias) memcpy(sl->bias, r->bias, (size_t)r->n_bias * sizeof *r->bias);
        if (ban_call) sl->bias[r->n_bias] = (g4_logit_bias){s->tok_call, -INFINITY};
    }
    p.bias = sl->bias;
    p.n_bias = nb;
    return g4_sampler_new(&p, s->vocab_size);
}

/* Longest common prefix of a slot's held ids and a prompt. */
static int common_prefix(const slot *sl, const int32_t *ids, int n) {
    int i = 0;
    while (i < n && i < sl->n_held && sl->held[i] == ids[i]) i++;
    return i;
}

/* The slot's structured-output constraint from the request's plan, its grammars
 * taken from the cache; -1 after failing the job. */
static int start_constraint(srv_sched *s, slot *sl) {
    const chat_constraint_plan *p = &sl->req->plan;
    if (!p->answer_gbnf && !p->call_gbnf) return 0;
    char err[256];
    chat_grammar *answer = NULL, *call = NULL;
    if (!(p->answer_gbnf && !(answer = chat_grammar_get(s->grammars, p->answer_gbnf, p->answer_root, err, sizeof err))) &&
        !(p->call_gbnf && !(call = chat_grammar_get(s->grammars, p->call_gbnf, p->call_root, err, sizeof err))))
        sl->constraint = chat_constraint_new(answer, call, s->vocab, sl->prompt, sl->n_prompt,
                                             sl->req->kind == SRV_CHAT && sl->req->enable_thinking, err, sizeof err);
    chat_grammar_release(answer);
    chat_grammar_release(call);
    if (sl->constraint) return 0;
    slot_error(s, sl, err);
    return -1;
}

/* Puts a job into an idle slot: keeps the reusable prefix, sets up sampling. */
static void slot_start(srv_sched *s, slot *sl, job *j) {
    sl->stream = j->stream;
    sl->choice = j->choice;
    sl->req = srv_stream_request(j->stream);
    sl->prompt = srv_stream_ids(j->stream, &sl->n_prompt);
    sl->n_generated = 0;
    sl->n_tool_calls = 0;
    sl->end_after_call = sl->stop_hit = sl->failed = false;
    sl->stop = G4_STOP_NONE;
    memset(sl->tool_ids, 0, sizeof sl->tool_ids);
    srv_stops_init(&sl->stops, sl->req->stop, sl->req->n_stop);
    int limit = s->p.n_ctx - sl->n_prompt;
    sl->max_tokens = sl->req->max_tokens > 0 && sl->req->max_tokens < limit ? sl->req->max_tokens : limit;
    sl->state = SLOT_PREFILL;
    pthread_mutex_lock(&s->mu);
    s->busy++;
    pthread_mutex_unlock(&s->mu);

    int keep = common_prefix(sl, sl->prompt, sl->n_prompt);
    if (keep >= sl->n_prompt) keep = sl->n_prompt - 1; /* the last prompt token is evaluated for its logits */
    if (keep < sl->n_held) {
        if (g4_seq_truncate(s->ctx, sl->seq, keep)) {
            sl->n_held = g4_seq_length(s->ctx, sl->seq);
            slot_error(s, sl, g4_last_error());
            return;
        }
        sl->n_held = keep;
    }
    sl->cached = keep;
    if (!(sl->sampler = make_sampler(s, sl))) {
        slot_error(s, sl, "the sampling settings were refused or memory ran out");
        return;
    }
    if (sl->req->kind == SRV_CHAT) {
        if (!(sl->parser = g4_parser_new(s->vocab, sl->prompt, sl->n_prompt, on_parser_event, sl))) {
            slot_error(s, sl, g4_last_error());
            return;
        }
    } else if (!(sl->detok = g4_detokenizer_new(s->vocab, G4_DETOK_SKIP_SPECIAL))) {
        slot_error(s, sl, g4_last_error());
        return;
    }
    if (start_constraint(s, sl)) return;
    pthread_mutex_lock(&s->mu);
    s->stats.prompt_tokens += (uint64_t)sl->n_prompt;
    s->stats.cached_tokens += (uint64_t)keep;
    pthread_mutex_unlock(&s->mu);
}

/* One sampled token of batch row r (under the constraint, if any): events, then
 * end or continue. The row is read whole only when the constraint, log
 * probabilities or the sampler need it. */
static void slot_next(srv_sched *s, slot *sl, int r) {
    bool masks = sl->constraint && chat_constraint_masks(sl->constraint);
    const float *logits = NULL;
    if ((masks || sl->req->logprobs || !g4_sampler_top_k_only(sl->sampler)) && !(logits = g4_get_logits(s->ctx, r))) {
        slot_error(s, sl, g4_last_error());
        return;
    }
    const float *choose = logits;
    if (masks) {
        memcpy(sl->scratch, logits, (size_t)s->vocab_size * sizeof *logits);
        if (chat_constraint_apply(sl->constraint, sl->scratch)) {
            slot_error(s, sl, g4_last_error());
            return;
        }
        choose = sl->scratch;
    }
    int32_t id = choose ? g4_sampler_sample(sl->sampler, choose) : g4_sampler_sample_row(sl->sampler, s->ctx, r);
    if (id < 0 || (sl->constraint && chat_constraint_accept(sl->constraint, id))) {
        slot_error(s, sl, g4_last_error());
        return;
    }
    if (sl->req->logprobs) push_logprob(s, sl, logits, id);
    g4_sampler_accept(sl->sampler, id);
    sl->n_generated++;
    bool stop;
    if (sl->parser) {
        stop = g4_parser_push(sl->parser, id) != 0;
    } else {
        stop = g4_vocab_is_eog(s->vocab, id) != 0;
        char buf[256];
        int n = stop ? 0 : g4_detokenize(sl->detok, id, buf, sizeof buf);
        if (n > 0) push_content(sl, buf, (size_t)n);
    }
    if (sl->failed) {
        slot_finish(s, sl, SRV_FINISH_STOP);
        return;
    }
    if (sl->stop_hit) {
        slot_finish(s, sl, SRV_FINISH_STOP);
        return;
    }
    if (stop || sl->end_after_call) {
        if (sl->end_after_call && !stop) g4_parser_finish(sl->parser);
        slot_finish(s, sl, sl->n_tool_calls > 0 ? SRV_FINISH_TOOL_CALLS : SRV_FINISH_STOP);
        return;
    }
    if (sl->n_generated >= sl->max_tokens || sl->n_held + 1 >= s->p.n_ctx) {
        slot_finish(s, sl, SRV_FINISH_LENGTH);
        return;
    }
    sl->pending = id;
    sl->state = SLOT_GEN;
}

/* ---- the loop ---- */

/* Admits queued jobs into idle slots (under mu). */
static void admit_locked(srv_sched *s, job **admitted, slot **into, int *n) {
    *n = 0;
    while (s->head) {
        job *j = s->head;
        int n_ids;
        const int32_t *ids = srv_stream_ids(j->stream, &n_ids);
        slot *best = NULL;
        int best_lcp = -1;
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            bool taken = sl->state != SLOT_IDLE;
            for (int k = 0; k < *n; k++) taken |= into[k] == sl;
            if (taken) continue;
            int lcp = common_prefix(sl, ids, n_ids);
            /* the longest shared prefix; among none, the slot holding least */
            if (lcp > best_lcp || (lcp == best_lcp && best && sl->n_held < best->n_held)) best = sl, best_lcp = lcp;
        }
        if (!best) break;
        s->head = j->next;
        if (!s->head) s->tail = NULL;
        s->queued--;
        admitted[*n] = j;
        into[(*n)++] = best;
    }
}

/* Builds and decodes one step; returns the rows, or -1 after failing every slot in it. */
static int step(srv_sched *s) {
    int rows = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_GEN) continue;
        s->b_token[rows] = sl->pending;
        s->b_seq[rows] = sl->seq;
        s->b_logits[rows] = 1;
        s->b_slot[rows++] = i;
    }
    int budget = s->p.prompt_chunk;
    for (int i = 0; i < s->p.n_slots && budget > 0; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL) continue;
        int left = sl->n_prompt - sl->n_held, take = left < budget ? left : budget;
        for (int k = 0; k < take; k++) {
            s->b_token[rows] = sl->prompt[sl->n_held + k];
            s->b_seq[rows] = sl->seq;
            s->b_logits[rows] = k == left - 1;
            s->b_slot[rows++] = i;
        }
        budget -= take;
    }
    if (!rows) return 0;
    g4_batch b = {.n_tokens = rows, .token = s->b_token, .seq = s->b_seq, .logits = s->b_logits};
    if (g4_decode(s->ctx, &b)) {
        char msg[320];
        snprintf(msg, sizeof msg, "decoding failed: %s", g4_last_error());
        for (int r = 0; r < rows; r++) {
            slot *sl = &s->slots[s->b_slot[r]];
            if (sl->state != SLOT_IDLE) {
                sl->n_held = g4_seq_length(s->ctx, sl->seq);
                slot_error(s, sl, msg);
            }
        }
        return -1;
    }
    for (int r = 0; r < rows; r++) {
        slot *sl = &s->slots[s->b_slot[r]];
        sl->held[sl->n_held++] = s->b_token[r];
    }
    for (int r = 0; r < rows; r++) {
        if (!s->b_logits[r]) continue;
        slot *sl = &s->slots[s->b_slot[r]];
        if (sl->state != SLOT_IDLE) slot_next(s, sl, r);
    }
    return rows;
}

static void *loop(void *arg) {
    srv_sched *s = arg;
    job **admitted = calloc((size_t)s->p.n_slots, sizeof *admitted);
    slot **into = calloc((size_t)s->p.n_slots, sizeof *into);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->head && !s->busy) pthread_cond_wait(&s->cond, &s->mu);
        bool stopping = s->stop;
        int n = 0;
        if (!stopping && admitted && into) admit_locked(s, admitted, into, &n);
        pthread_mutex_unlock(&s->mu);
        if (stopping) break;
        for (int i = 0; i < n; i++) {
            slot_start(s, into[i], admitted[i]);
            free(admitted[i]);
        }
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state != SLOT_IDLE && srv_stream_cancelled(sl->stream)) slot_finish(s, sl, SRV_FINISH_CANCELLED);
        }
        double t0 = now();
        int rows = step(s);
        pthread_mutex_lock(&s->mu);
        if (rows > 0) {
            s->stats.steps++;
            s->stats.busy_seconds += now() - t0;
        }
        pthread_mutex_unlock(&s->mu);
    }
    /* shutting down: end what runs and what waits */
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE) slot_finish(s, &s->slots[i], SRV_FINISH_CANCELLED);
    pthread_mutex_lock(&s->mu);
    job *j = s->head;
    s->head = s->tail = NULL;
    s->queued = 0;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        job *next = j->next;
        srv_event ev = {.type = SRV_EV_DONE, .choice = j->choice, .finish = SRV_FINISH_CANCELLED};
        srv_stream_push(j->stream, &ev);
        srv_stream_unref(j->stream);
        free(j);
        j = next;
    }
    free(admitted);
    free(into);
    return NULL;
}

/* ---- public ---- */

srv_sched *srv_sched_new(g4_model *model, const srv_sched_params *params, char *err, size_t err_size) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, err_size, "out of memory"), NULL;
    s->p = *params;
    if (s->p.n_slots < 1 || s->p.n_ctx < 2 || s->p.prompt_chunk < 1) {
        snprintf(err, err_size, "the scheduler needs at least one slot, a context of 2 and a prompt chunk of 1");
        free(s);
        return NULL;
    }
    s->model = model;
    s->vocab = g4_model_vocab(model);
    g4_model_info info;
    g4_model_get_info(model, &info);
    s->vocab_size = info.vocab_size;
    s->defaults = g4_model_sampler_params(model);
    s->tok_call = s->vocab ? g4_vocab_find(s->vocab, "<|tool_call>") : -1;
    s->grammars = s->vocab ? chat_grammar_cache_new(s->vocab, 16) : NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->rand_state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)s;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->b_cap = s->p.n_slots + s->p.prompt_chunk;
    s->slots = calloc((size_t)s->p.n_slots, sizeof *s->slots);
    s->b_token = malloc((size_t)s->b_cap * sizeof *s->b_token);
    s->b_seq = malloc((size_t)s->b_cap * sizeof *s->b_seq);
    s->b_logits = malloc((size_t)s->b_cap * sizeof *s->b_logits);
    s->b_slot = malloc((size_t)s->b_cap * sizeof *s->b_slot);
    if (!s->vocab) {
        snprintf(err, err_size, "the model has no tokenizer: use a GGUF with tokenizer.* or a directory with tokenizer.json");
        goto fail;
    }
    if (!s->slots || !s->b_token || !s->b_seq || !s->b_logits || !s->b_slot || !s->grammars) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->p.n_slots; i++) {
        s->slots[i].owner = s;
        s->slots[i].seq = i;
        if (!(s->slots[i].held = malloc((size_t)s->p.n_ctx * sizeof(int32_t))) ||
            !(s->slots[i].scratch = malloc((size_t)s->vocab_size * sizeof(float)))) {
            snprintf(err, err_size, "out of memory for %d slots of %d tokens", s->p.n_slots, s->p.n_ctx);
            goto fail;
        }
    }
    g4_context_params cp = g4_context_default_params();
    cp.n_ctx = s->p.n_ctx;
    cp.n_seq = s->p.n_slots;
    cp.n_threads = s->p.threads;
    cp.n_gpu_layers = s->p.gpu_layers;
    cp.gpu_device = s->p.gpu_device;
    if (!(s->ctx = g4_context_new(model, &cp))) {
        snprintf(err, err_size, "%s", g4_last_error());
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, loop, s)) {
        snprintf(err, err_size, "cannot start the scheduler thread");
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    srv_sched_free(s);
    return NULL;
}

void srv_sched_shutdown(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_shutdown(s);
    for (int i = 0; s->slots && i < s->p.n_slots; i++) {
        free(s->slots[i].held);
        free(s->slots[i].scratch);
    }
    g4_context_free(s->ctx);
    chat_grammar_cache_free(s->grammars);
    free(s->slots);
    free(s->b_token);
    free(s->b_seq);
    free(s->b_logits);
    free(s->b_slot);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int srv_sched_submit(srv_sched *s, srv_stream *stream, srv_error *err) {
    const srv_request *r = srv_stream_request(stream);
    int n_ids;
    srv_stream_ids(stream, &n_ids);
    if (n_ids < 1) return srv_fail(err, 400, "messages", "the prompt is empty");
    if (n_ids >= s->p.n_ctx)
        return srv_fail(err, 400, r->kind == SRV_CHAT ? "messages" : "prompt",
                        "the prompt is %d tokens; this server's context holds %d per request (with room for 1 more)",
                        n_ids, s->p.n_ctx);
    job *jobs[SRV_MAX_N] = {0};
    for (int i = 0; i < r->n; i++)
        if (!(jobs[i] = calloc(1, sizeof *jobs[i]))) {
            for (int k = 0; k < i; k++) free(jobs[k]);
            return srv_fail(err, 500, NULL, "out of memory");
        }
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->stop) rc = srv_fail(err, 503, NULL, "the server is shutting down");
    else if (s->queued + r->n > s->p.queue_limit + (s->p.n_slots - s->busy))
        rc = srv_fail(err, 429, NULL, "the server is busy: %d requests are waiting (the limit is %d); retry later",
                      s->queued, s->p.queue_limit);
    for (int i = 0; !rc && i < r->n; i++) {
        jobs[i]->stream = stream;
        jobs[i]->choice = i;
        srv_stream_ref(stream);
        if (s->tail) s->tail->next = jobs[i];
        else s->head = jobs[i];
        s->tail = jobs[i];
        s->queued++;
        jobs[i] = NULL;
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < r->n; i++) free(jobs[i]);
    return rc;
}

int srv_sched_load(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->busy + s->queued;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void srv_sched_get_stats(srv_sched *s, srv_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->slots = s->p.n_slots;
    out->slots_busy = s->busy;
    out->queued = s->queued;
    pthread_mutex_unlock(&s->mu);
}
