/* turn.c: one turn of chat_engine_generate: validate the conversation, render it
 * with the chat template, keep the longest prefix the context already holds
 * (g4_seq_truncate), evaluate the rest in chunks (progress events, cancellable),
 * then sample the reply token by token through the output parser, streaming its
 * thought / answer / tool-call events until end of turn, max_tokens, a full
 * context or a cancel, and end with a DONE event carrying the statistics (or an
 * ERROR event). */
#include "chat/run.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PROMPT_CHUNK = 512 }; /* prompt tokens per g4_decode: one progress event each */

typedef struct {
    char id[32];
} tool_id;

/* The state of one call, shared with the parser's event callback. */
typedef struct {
    chat_engine *e;
    chat_event_fn fn;
    void *user;
    const atomic_int *job_cancel;
    tool_id *ids;                /* [cap_ids] ids of the reply's tool calls by index */
    int cap_ids, n_tool_calls;
    int tokens;                  /* tokens sampled so far */
    int unclassified;            /* tokens pushed since the parser's last event */
    int thinking_tokens;
    bool thought;                /* any THOUGHT event yet */
    double t_start, t_decode, t_last_thought;
    g4_stop_reason stop;
} turn;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool cancelled(const turn *t) {
    return atomic_load(&t->e->cancel) || (t->job_cancel && atomic_load(t->job_cancel));
}

static void emit(turn *t, chat_event *ev) {
    ev->tokens = t->tokens;
    t->fn(ev, t->user);
}

/* Sends an ERROR event with the formatted reason; returns -1. */
static int fail(turn *t, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    chat_event ev = {.type = CHAT_EVENT_ERROR, .text = msg, .len = strlen(msg)};
    emit(t, &ev);
    return -1;
}

/* The id of tool call i ("call_" and 16 hex digits), made on first use. */
static const char *id_of(turn *t, int i) {
    static const char fallback[] = "call_0";
    if (i < 0) return fallback;
    if (i >= t->cap_ids) {
        int cap = t->cap_ids ? t->cap_ids : 4;
        while (cap <= i) {
            if (cap > (1 << 20)) return fallback;
            cap *= 2;
        }
        tool_id *r = realloc(t->ids, (size_t)cap * sizeof *r);
        if (!r) return fallback;
        memset(r + t->cap_ids, 0, (size_t)(cap - t->cap_ids) * sizeof *r);
        t->ids = r;
        t->cap_ids = cap;
    }
    if (!t->ids[i].id[0])
        snprintf(t->ids[i].id, sizeof t->ids[i].id, "call_%016llx", (unsigned long long)chat_engine_next_random(t->e));
    return t->ids[i].id;
}

/* The output parser's events, as chat events. */
static void on_parser_event(const g4_event *g, void *user) {
    turn *t = user;
    chat_event ev = {.text = g->text, .len = g->len, .tool_index = g->tool_index};
    switch (g->type) {
    case G4_EVENT_THOUGHT:
        t->thinking_tokens += t->unclassified;
        t->thought = true;
        t->t_last_thought = now();
        ev.type = CHAT_EVENT_THOUGHT;
        break;
    case G4_EVENT_ANSWER:
        ev.type = CHAT_EVENT_ANSWER;
        break;
    case G4_EVENT_TOOL_CALL_START:
        ev.type = CHAT_EVENT_TOOL_CALL_BEGIN;
        ev.tool_name = g->name;
        ev.tool_id = id_of(t, g->tool_index);
        break;
    case G4_EVENT_TOOL_CALL_ARGS:
        ev.type = CHAT_EVENT_TOOL_CALL_ARGS;
        ev.tool_id = id_of(t, g->tool_index);
        break;
    case G4_EVENT_TOOL_CALL_END:
        ev.type = CHAT_EVENT_TOOL_CALL_END;
        ev.tool_name = g->name;
        ev.tool_id = id_of(t, g->tool_index);
        ev.cut = g->cut;
        if (!g->cut) t->n_tool_calls++;
        break;
    case G4_EVENT_STOP:
        t->stop = g->stop;
        return;
    default:
        return;
    }
    t->unclassified = 0;
    emit(t, &ev);
}

/* Checks the shape of the conversation: an array of objects with a string
 * "role"; tools (if any) an array. Returns 0 or -1 with an ERROR event. */
static int check_request(turn *t, const char *messages_json, const char *tools_json) {
    if (!messages_json) return fail(t, "no messages given");
    json_error_t je;
    json_t *msgs = json_loads(messages_json, JSON_REJECT_DUPLICATES, &je);
    if (!msgs) return fail(t, "messages: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    int rc = 0;
    size_t i;
    json_t *m;
    if (!json_is_array(msgs)) rc = fail(t, "messages: expected a JSON array of messages");
    else json_array_foreach(msgs, i, m) {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role"))) {
            rc = fail(t, "messages[%zu]: expected an object with a string \"role\"", i);
            break;
        }
    }
    json_decref(msgs);
    if (rc || !tools_json) return rc;
    json_t *tools = json_loads(tools_json, JSON_REJECT_DUPLICATES, &je);
    if (!tools) return fail(t, "tools: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_array(tools)) rc = fail(t, "tools: expected a JSON array of tools");
    json_decref(tools);
    return rc;
}

/* The model's defaults overlaid with the settings that are set. */
static g4_sampler_params sampler_params(turn *t, const chat_settings *s) {
    g4_sampler_params p = t->e->defaults;
    if (!isnan(s->temperature)) p.temperature = s->temperature;
    if (!isnan(s->top_p)) p.top_p = s->top_p;
    if (!isnan(s->min_p)) p.min_p = s->min_p;
    if (!isnan(s->repeat_penalty)) p.repeat_penalty = s->repeat_penalty;
    if (s->top_k >= 0) p.top_k = s->top_k;
    p.seed = s->seed >= 0 ? (uint64_t)s->seed : chat_engine_next_random(t->e) ^ (uint64_t)(now() * 1e9);
    return p;
}

/* Appends a sampled id to the engine's completion list; -1 when out of memory. */
static int record_completion(chat_engine *e, int32_t id) {
    if (e->n_completion == e->cap_completion) {
        int cap = e->cap_completion ? e->cap_completion * 2 : 256;
        int32_t *r = realloc(e->completion, (size_t)cap * sizeof *r);
        if (!r) return -1;
        e->completion = r;
        e->cap_completion = cap;
    }
    e->completion[e->n_completion++] = id;
    return 0;
}

/* Evaluates n ids on sequence 0 and records them as held. */
static int decode(chat_engine *e, const int32_t *ids, int n) {
    g4_batch b = {.n_tokens = n, .token = ids};
    if (g4_decode(e->ctx, &b)) {
        e->n_held = g4_seq_length(e->ctx, 0); /* unchanged on failure */
        atomic_store(&e->used, e->n_held);
        return -1;
    }
    memcpy(e->held + e->n_held, ids, (size_t)n * sizeof *ids);
    e->n_held += n;
    atomic_store(&e->used, e->n_held);
    return 0;
}

/* The rendered prompt's new part is evaluated; returns its last logits, or NULL
 * after an ERROR event, or *stopped = 1 when cancelled first. */
static const float *evaluate_prompt(turn *t, const int32_t *ids, int n, int *cached, bool *stopped) {
    chat_engine *e = t->e;
    int lcp = 0;
    while (lcp < n && lcp < e->n_held && e->held[lcp] == ids[lcp]) lcp++;
    int keep = lcp < n ? lcp : n - 1; /* the last prompt token is evaluated again for its logits */
    if (keep < e->n_held) {
        int rc = g4_seq_truncate(e->ctx, 0, keep);
        e->n_held = g4_seq_length(e->ctx, 0);
        atomic_store(&e->used, e->n_held);
        if (rc) return fail(t, "%s", g4_last_error()), NULL;
    }
    *cached = keep;
    int total = n - keep, done = 0, cnt = 0;
    chat_event ev = {.type = CHAT_EVENT_PROGRESS, .progress_total = total};
    emit(t, &ev);
    while (done < total) {
        if (cancelled(t)) {
            *stopped = true;
            return NULL;
        }
        cnt = total - done < PROMPT_CHUNK ? total - done : PROMPT_CHUNK;
        if (decode(e, ids + keep + done, cnt)) return fail(t, "%s", g4_last_error()), NULL;
        done += cnt;
        ev.progress_done = done;
        emit(t, &ev);
    }
    return g4_get_logits(e->ctx, cnt - 1);
}

/* The constraint the settings ask for (NULL in *out when none), made from the
 * engine's grammar cache; -1 after an ERROR event. */
static int make_constraint(turn *t, const chat_settings *s, const char *tools_json, const int32_t *ids, int n,
                           chat_constraint **out) {
    chat_engine *e = t->e;
    *out = NULL;
    chat_constraint_spec spec = {
        .json_schema = s->json_schema,
        .grammar = s->grammar,
        .tools_json = s->tool_choice == CHAT_TOOLS_NONE ? NULL : tools_json,
        .tool_choice = s->tool_choice,
        .tool_name = s->tool_name,
        .one_call = !s->parallel_tool_calls,
    };
    chat_constraint_plan plan;
    char err[512];
    int planned = chat_constraint_plan_make(&spec, &plan, err, sizeof err);
    if (planned <= 0) return planned < 0 ? fail(t, "%s", err) : 0;
    chat_grammar *answer = NULL, *call = NULL;
    if (!e->grammars && !(e->grammars = chat_grammar_cache_new(e->vocab, 4))) goto oom;
    if (!e->masked && !(e->masked = malloc((size_t)e->vocab_size * sizeof *e->masked))) goto oom;
    if ((plan.answer_gbnf && !(answer = chat_grammar_get(e->grammars, plan.answer_gbnf, plan.answer_root, err, sizeof err))) ||
        (plan.call_gbnf && !(call = chat_grammar_get(e->grammars, plan.call_gbnf, plan.call_root, err, sizeof err))) ||
        !(*out = chat_constraint_new(answer, call, e->vocab, ids, n, s->think, err, sizeof err))) {
        chat_grammar_release(answer);
        chat_grammar_release(call);
        chat_constraint_plan_free(&plan);
        return fail(t, "%s", err);
    }
    chat_grammar_release(answer);
    chat_grammar_release(call);
    chat_constraint_plan_free(&plan);
    return 0;
oom:
    chat_constraint_plan_free(&plan);
    return fail(t, "out of memory for the grammar");
}

/* Samples and streams the reply from the prompt's last logits; returns the
 * finish reason, or -1 after an ERROR event. After the first token the rows are
 * read only as far as the sampler needs (its top logits, when it allows). */
static int sample_reply(turn *t, const chat_settings *s, g4_sampler *sampler, g4_parser *parser,
                        chat_constraint *constraint, const float *logits) {
    chat_engine *e = t->e;
    for (;;) {
        if (cancelled(t)) return g4_parser_finish(parser), CHAT_FINISH_CANCELLED;
        if (constraint && chat_constraint_masks(constraint)) {
            if (!logits && !(logits = g4_get_logits(e->ctx, 0))) return fail(t, "%s", g4_last_error());
            memcpy(e->masked, logits, (size_t)e->vocab_size * sizeof *logits);
            if (chat_constraint_apply(constraint, e->masked)) return fail(t, "%s", g4_last_error());
            logits = e->masked;
        }
        int32_t id = logits ? g4_sampler_sample(sampler, logits) : g4_sampler_sample_row(sampler, e->ctx, 0);
        if (id < 0) return fail(t, "%s", g4_last_error());
        if (constraint && chat_constraint_accept(constraint, id))
            return fail(t, "the grammar refused token %d: %s", (int)id, g4_last_error());
        g4_sampler_accept(sampler, id);
        if (record_completion(e, id)) return fail(t, "out of memory after %d tokens", e->n_completion);
        t->tokens = e->n_completion;
        t->unclassified++;
        if (g4_parser_push(parser, id))
            return t->n_tool_calls > 0 || t->stop == G4_STOP_TOOL_CALLS ? CHAT_FINISH_TOOL_CALLS : CHAT_FINISH_STOP;
        if (s->max_tokens > 0 && e->n_completion >= s->max_tokens) return g4_parser_finish(parser), CHAT_FINISH_LENGTH;
        if (e->n_held >= e->n_ctx) return g4_parser_finish(parser), CHAT_FINISH_CONTEXT;
        if (decode(e, &id, 1)) return fail(t, "%s", g4_last_error());
        logits = NULL;
    }
}

/* Evaluates and answers a prompt of n ids (owned by the caller); tools_json: the
 * tools the prompt offers (for tool_choice), or NULL. */
static int run_ids(turn *t, const int32_t *ids, int n, const chat_settings *s, const char *tools_json) {
    chat_engine *e = t->e;
    if (s->max_tokens < 0) return fail(t, "max_tokens %d must not be negative (0: no limit)", s->max_tokens);
    if (n <= 0) return fail(t, "the prompt is empty");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->vocab_size)
            return fail(t, "prompt token %d is id %d, outside the vocabulary [0, %d)", i, (int)ids[i], e->vocab_size);
    if (n > e->n_ctx)
        return fail(t, "the conversation is %d tokens, more than the context of %d holds: start a new one or raise the context size",
                    n, e->n_ctx);
    g4_sampler_params sp = sampler_params(t, s);
    g4_sampler *sampler = g4_sampler_new(&sp, e->vocab_size);
    if (!sampler) return fail(t, "sampling settings: %s", g4_last_error());
    g4_parser *parser = g4_parser_new(e->vocab, ids, n, on_parser_event, t);
    if (!parser) {
        g4_sampler_free(sampler);
        return fail(t, "%s", g4_last_error());
    }
    for (int i = 0; i < n; i++) g4_sampler_accept(sampler, ids[i]);
    chat_constraint *constraint = NULL;
    if (make_constraint(t, s, tools_json, ids, n, &constraint)) {
        g4_parser_free(parser);
        g4_sampler_free(sampler);
        return -1;
    }

    int rc = -1;
    chat_stats st = {.prompt_tokens = n, .context_size = e->n_ctx};
    bool stopped = false;
    const float *logits = evaluate_prompt(t, ids, n, &st.cached_tokens, &stopped);
    t->t_decode = now();
    int finish = CHAT_FINISH_CANCELLED;
    if (!stopped && (!logits || (finish = sample_reply(t, s, sampler, parser, constraint, logits)) < 0)) goto done;

    double t_end = now();
    st.finish = (chat_finish)finish;
    st.completion_tokens = e->n_completion;
    st.thinking_tokens = t->thinking_tokens;
    st.thinking_seconds = t->thought ? t->t_last_thought - t->t_decode : 0;
    st.prompt_seconds = t->t_decode - t->t_start;
    st.total_seconds = t_end - t->t_start;
    st.tokens_per_second = t_end > t->t_decode ? e->n_completion / (t_end - t->t_decode) : 0;
    st.constraint_seconds = chat_constraint_mask_seconds(constraint);
    st.context_used = e->n_held;
    chat_event ev = {.type = CHAT_EVENT_DONE, .stats = st};
    emit(t, &ev);
    rc = 0;
done:
    chat_constraint_free(constraint);
    g4_parser_free(parser);
    g4_sampler_free(sampler);
    return rc;
}

/* Renders the conversation with the chat template and answers it. */
static int run_messages(turn *t, const char *messages_json, const char *tools_json, const chat_settings *s) {
    if (check_request(t, messages_json, tools_json)) return -1;
    g4_chat_request req = {
        .messages_json = messages_json,
        .tools_json = s->tool_choice == CHAT_TOOLS_NONE ? NULL : tools_json,
        .add_generation_prompt = 1,
        .enable_thinking = s->think,
    };
    int32_t *ids = NULL;
    int n = g4_chat_tokenize(t->e->vocab, t->e->chat_template, &req, &ids);
    if (n < 0) return fail(t, "chat template: %s", g4_last_error());
    int rc = run_ids(t, ids, n, s, req.tools_json);
    free(ids);
    return rc;
}

/* Claims the engine for one call; -1 (with an ERROR event) if it is busy. */
static int begin(turn *t) {
    if (atomic_exchange(&t->e->busy, 1))
        return fail(t, "the engine is already generating a reply: wait for it to finish or cancel it");
    t->e->n_completion = 0;
    return 0;
}

static void end(turn *t) {
    free(t->ids);
    atomic_store(&t->e->cancel, 0); /* a cancel applies to one generation */
    atomic_store(&t->e->busy, 0);
}

int chat_engine_run(chat_engine *e, const char *messages_json, const char *tools_json, const chat_settings *settings,
                    chat_event_fn fn, void *user, const atomic_int *job_cancel) {
    turn t = {.e = e, .fn = fn, .user = user, .job_cancel = job_cancel, .t_start = now()};
    chat_settings defaults = chat_settings_defaults();
    if (begin(&t)) return -1;
    int rc = run_messages(&t, messages_json, tools_json, settings ? settings : &defaults);
    end(&t);
    return rc;
}

int chat_engine_generate(chat_engine *e, const char *messages_json, const char *tools_json,
                         const chat_settings *settings, chat_event_fn fn, void *user) {
    return chat_engine_run(e, messages_json, tools_json, settings, fn, user, NULL);
}

int chat_engine_generate_ids(chat_engine *e, const int32_t *ids, int n, const chat_settings *settings,
                             chat_event_fn fn, void *user) {
    turn t = {.e = e, .fn = fn, .user = user, .t_start = now()};
    chat_settings defaults = chat_settings_defaults();
    if (begin(&t)) return -1;
    int rc = run_ids(&t, ids, n, settings ? settings : &defaults, NULL);
    end(&t);
    return rc;
}
