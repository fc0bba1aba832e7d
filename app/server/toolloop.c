/* toolloop.c: --server-tools, the server running its own Lua tools for a chat
 * request (docs/server.md, "Server-side tools"). The request's tools are the
 * client's plus the served ones the client did not name; each step is an ordinary
 * scheduler job. When a step's reply calls served tools, they run here (on threads
 * of the HTTP handler, at most MAX_PARALLEL at a time, never on the scheduler's),
 * the assistant message and one tool message per call join the conversation, and
 * the next step renders it again (the slot's KV prefix is reused). A reply that
 * also calls client tools, or ends without served calls, is the last step. The loop
 * is driven from the HTTP thread: each advance pops one event of the running step
 * or waits for the tool calls, so that a client that leaves is noticed promptly. */
#include "server/server.h"
#include "chat/chat.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_PARALLEL = 4, MAX_CALLS = SRV_SSE_MAX_TOOLS };

/* One call of the running step, by the parser's tool index. */
typedef struct {
    bool seen, ended;        /* BEGIN (or END) came; END came: the call is complete */
    bool server;             /* a served tool: runs here */
    int client_index;        /* the index the client sees (client calls) */
    char id[32], name[128];
    char *arguments;         /* malloc'd, from END */
    bool run;                /* allowed: runs in the toolbox */
    const char *refused;     /* not run: why (the model and the client see it) */
    agent_result result;
    bool finished, reported; /* the result is ready (under mu); sent to the sink */
} tl_call;

typedef enum { TL_STEP, TL_TOOLS, TL_DONE } tl_state;

struct srv_toolloop {
    srv_tools *tools;
    srv_sched *sched;
    const g4_vocab *vocab;
    const char *chat_template;
    srv_limits lim;
    json_t *body;            /* the request, whose messages grow step by step */
    json_t *served;          /* the server's tools the client did not name */
    int max_tokens;          /* the request's budget over all steps (0: none) */
    int step;
    tl_state state;
    srv_stream *running;     /* the current step's job */
    chat_reply *reply;       /* the current step's assistant message (every call) */
    tl_call calls[MAX_CALLS];
    int n_client;
    srv_finish step_finish;
    int prompt_tokens, completion_tokens, cached_tokens; /* summed over the steps */
    json_t *server_calls;    /* [{id, name, arguments, content, is_error}] of every step */
    char note[160];          /* why the loop stopped early, or "" */
    /* the tool calls of a step */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t threads[MAX_PARALLEL];
    int n_threads;
    atomic_int next_call;
    atomic_int cancel;
};

/* Where the loop's output goes: the SSE writer or the non-streaming collector. */
typedef struct {
    int (*event)(void *user, const srv_event *ev);   /* client-facing events; DONE / ERROR end */
    int (*server_call)(void *user, json_t *entry);   /* a served call finished */
    void *user;
} tl_sink;

static json_t *usage_json(int prompt, int completion, int cached) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion, "prompt_tokens_details", "cached_tokens", cached);
}

static const char *tool_name_of(const json_t *tool) {
    return json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
}

static bool has_tool(const json_t *tools, const char *name) {
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const char *n = tool_name_of(t);
        if (n && !strcmp(n, name)) return true;
    }
    return false;
}

/* ---- steps ---------------------------------------------------------------------------- */

static void reset_step(srv_toolloop *l) {
    for (int i = 0; i < MAX_CALLS; i++) {
        free(l->calls[i].arguments);
        agent_result_free(&l->calls[i].result);
    }
    memset(l->calls, 0, sizeof l->calls);
    l->n_client = 0;
    chat_reply_free(l->reply);
    l->reply = NULL;
    srv_stream_unref(l->running);
    l->running = NULL;
}

/* Parses the body as it stands, renders it and queues the step's job. */
static int submit_step(srv_toolloop *l, srv_error *err) {
    char *text = json_dumps(l->body, JSON_COMPACT);
    if (!text) return srv_fail(err, 500, NULL, "out of memory");
    srv_request req;
    int rc = srv_request_parse(&req, SRV_CHAT, text, strlen(text), &l->lim, err);
    free(text);
    if (rc) return -1;
    if (req.n > 1) {
        srv_request_free(&req);
        return srv_fail(err, 400, "n", "n > 1 is not supported with server-side tools (--server-tools): ask for one choice");
    }
    int32_t *ids = NULL;
    int n = srv_request_prompt(&req, l->vocab, l->chat_template, &ids, err);
    if (n < 0) {
        srv_request_free(&req);
        return -1;
    }
    srv_stream *s = srv_stream_new(&req, ids, n, 1);
    if (!s) {
        srv_request_free(&req);
        free(ids);
        return srv_fail(err, 500, NULL, "out of memory");
    }
    if (srv_sched_submit(l->sched, s, err)) {
        srv_stream_unref(s);
        return -1;
    }
    if (!(l->reply = chat_reply_new())) {
        srv_stream_cancel(s);
        srv_stream_unref(s);
        return srv_fail(err, 500, NULL, "out of memory");
    }
    l->running = s;
    l->step++;
    l->state = TL_STEP;
    return 0;
}

/* The next step's body: the reply and one tool message per served call appended,
 * tool_choice auto, what is left of max_tokens. */
static int next_body(srv_toolloop *l, srv_error *err) {
    json_t *msgs = json_object_get(l->body, "messages");
    char *reply = chat_reply_message_json(l->reply);
    json_t *msg = reply ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    if (!json_is_array(msgs) || !msg || json_array_append_new(msgs, msg)) return srv_fail(err, 500, NULL, "out of memory");
    for (int i = 0; i < MAX_CALLS; i++) {
        tl_call *c = &l->calls[i];
        if (!c->ended || !c->server) continue;
        json_t *tm = json_pack("{s:s, s:s, s:s, s:s}", "role", "tool", "tool_call_id", c->id, "name", c->name, "content",
                               c->result.content ? c->result.content : "");
        if (!tm || json_array_append_new(msgs, tm)) return srv_fail(err, 500, NULL, "out of memory");
    }
    if (json_object_set_new(l->body, "tool_choice", json_string("auto"))) return srv_fail(err, 500, NULL, "out of memory");
    if (l->max_tokens > 0) {
        json_object_del(l->body, "max_completion_tokens");
        if (json_object_set_new(l->body, "max_tokens", json_integer(l->max_tokens - l->completion_tokens)))
            return srv_fail(err, 500, NULL, "out of memory");
    }
    return 0;
}

/* ---- the tool calls of a step ---------------------------------------------------------- */

static void *call_worker(void *arg) {
    srv_toolloop *l = arg;
    for (int i; (i = atomic_fetch_add(&l->next_call, 1)) < MAX_CALLS;) {
        tl_call *c = &l->calls[i];
        if (!c->run) continue;
        agent_result r = {0};
        agent_toolbox_run(l->tools->toolbox, c->name, c->arguments ? c->arguments : "{}", &l->cancel, &r);
        pthread_mutex_lock(&l->mu);
        c->result = r;
        c->finished = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

/* The error a call that does not run gets: {"error", "tool"} as JSON. */
static void refuse(tl_call *c, const char *why) {
    json_t *o = json_pack("{s:s, s:s}", "error", why, "tool", c->name);
    c->result = (agent_result){.content = o ? json_dumps(o, JSON_COMPACT) : NULL, .is_error = true};
    json_decref(o);
    c->finished = true;
}

/* Decides the served calls of the step (refused ones finish at once; cut, when
 * not NULL, refuses all) and starts the threads for the others. */
static void start_calls(srv_toolloop *l, const char *cut) {
    int n_run = 0;
    for (int i = 0; i < MAX_CALLS; i++) {
        tl_call *c = &l->calls[i];
        if (!c->ended || !c->server) continue;
        char why[200];
        if (cut) refuse(c, cut);
        else if (agent_policy_get(l->tools->policy, c->name) != AGENT_ALLOW) {
            snprintf(why, sizeof why, "the server does not allow %s", c->name);
            refuse(c, why);
        } else {
            c->run = true;
            n_run++;
        }
    }
    atomic_store(&l->next_call, 0);
    l->n_threads = 0;
    int want = n_run < MAX_PARALLEL ? n_run : MAX_PARALLEL;
    while (l->n_threads < want && !pthread_create(&l->threads[l->n_threads], NULL, call_worker, l)) l->n_threads++;
    if (n_run && !l->n_threads) call_worker(l); /* no thread could start: run them here */
    l->state = TL_TOOLS;
}

static void join_calls(srv_toolloop *l) {
    for (int i = 0; i < l->n_threads; i++) pthread_join(l->threads[i], NULL);
    l->n_threads = 0;
}

/* ---- the end ------------------------------------------------------------------------------ */

static int finish(srv_toolloop *l, const tl_sink *sink, srv_finish f) {
    l->state = TL_DONE;
    srv_event ev = {.type = SRV_EV_DONE, .finish = f, .prompt_tokens = l->prompt_tokens,
                    .completion_tokens = l->completion_tokens, .cached_tokens = l->cached_tokens};
    return sink->event(sink->user, &ev) ? -1 : 1;
}

static int fail_loop(srv_toolloop *l, const tl_sink *sink, const srv_error *err) {
    l->state = TL_DONE;
    srv_event ev = {.type = SRV_EV_ERROR, .text = (char *)err->message, .len = strlen(err->message)};
    return sink->event(sink->user, &ev) ? -1 : 1;
}

/* The step's DONE: the end, or its served calls start. */
static int end_step(srv_toolloop *l, const tl_sink *sink, const srv_event *ev) {
    l->prompt_tokens += ev->prompt_tokens;
    l->completion_tokens += ev->completion_tokens;
    l->cached_tokens += ev->cached_tokens;
    l->step_finish = ev->finish;
    int n_server = 0;
    for (int i = 0; i < MAX_CALLS; i++) n_server += l->calls[i].ended && l->calls[i].server;
    if (!n_server || ev->finish == SRV_FINISH_CANCELLED || atomic_load(&l->cancel)) return finish(l, sink, ev->finish);
    /* a reply cut at max_tokens may be cut inside a call: none of its calls runs */
    start_calls(l, ev->finish == SRV_FINISH_LENGTH ? "not run: the reply was cut at max_tokens" : NULL);
    return 0;
}

/* Every served call finished: the end, or the next step. */
static int after_calls(srv_toolloop *l, const tl_sink *sink) {
    join_calls(l);
    if (atomic_load(&l->cancel)) return finish(l, sink, SRV_FINISH_CANCELLED);
    if (l->step_finish == SRV_FINISH_LENGTH) return finish(l, sink, SRV_FINISH_LENGTH);
    if (l->n_client) return finish(l, sink, SRV_FINISH_TOOL_CALLS);
    if (l->step >= l->tools->max_steps) {
        snprintf(l->note, sizeof l->note,
                 "stopped after %d step%s (--max-steps): the model has not seen the last server tool results",
                 l->step, l->step == 1 ? "" : "s");
        return finish(l, sink, SRV_FINISH_STOP);
    }
    if (l->max_tokens > 0 && l->completion_tokens >= l->max_tokens) {
        snprintf(l->note, sizeof l->note, "stopped: max_tokens was spent before the model saw the server tool results");
        return finish(l, sink, SRV_FINISH_LENGTH);
    }
    srv_error err;
    if (next_body(l, &err)) return fail_loop(l, sink, &err);
    reset_step(l);
    if (submit_step(l, &err)) return fail_loop(l, sink, &err);
    return 0;
}

/* Reports the served calls that finished since the last time. */
static int report_calls(srv_toolloop *l, const tl_sink *sink, bool *all) {
    *all = true;
    for (int i = 0; i < MAX_CALLS; i++) {
        tl_call *c = &l->calls[i];
        if (!c->ended || !c->server) continue;
        pthread_mutex_lock(&l->mu);
        bool ready = c->finished;
        pthread_mutex_unlock(&l->mu);
        if (!ready) {
            *all = false;
            continue;
        }
        if (c->reported) continue;
        c->reported = true;
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", c->id, "name", c->name, "arguments",
                              c->arguments ? c->arguments : "{}", "content", c->result.content ? c->result.content : "",
                              "is_error", c->result.is_error);
        if (!e || json_array_append(l->server_calls, e) || sink->server_call(sink->user, e)) {
            json_decref(e);
            return -1;
        }
        json_decref(e);
    }
    return 0;
}

/* ---- advancing -------------------------------------------------------------------------- */

/* One event of the running step: recorded, and passed on unless it belongs to a
 * served call (client calls get the indexes the client sees). */
static int step_event(srv_toolloop *l, const tl_sink *sink, srv_event *ev) {
    chat_event ce = {.text = ev->text, .len = ev->len, .tool_index = ev->tool_index, .tool_name = ev->tool_name,
                     .tool_id = ev->tool_id};
    switch (ev->type) {
    case SRV_EV_REASONING:
        ce.type = CHAT_EVENT_THOUGHT;
        return chat_reply_add(l->reply, &ce) || sink->event(sink->user, ev) ? -1 : 0;
    case SRV_EV_CONTENT:
        ce.type = CHAT_EVENT_ANSWER;
        return chat_reply_add(l->reply, &ce) || sink->event(sink->user, ev) ? -1 : 0;
    case SRV_EV_LOGPROB: return sink->event(sink->user, ev) ? -1 : 0;
    case SRV_EV_TOOL_BEGIN:
    case SRV_EV_TOOL_ARGS:
    case SRV_EV_TOOL_END: {
        if (ev->tool_index < 0 || ev->tool_index >= MAX_CALLS) return 0; /* beyond the calls a reply may make */
        tl_call *c = &l->calls[ev->tool_index];
        if (!c->seen) {
            if (ev->type == SRV_EV_TOOL_ARGS) return 0;
            c->seen = true;
            snprintf(c->id, sizeof c->id, "%s", ev->tool_id);
            snprintf(c->name, sizeof c->name, "%s", ev->tool_name);
            c->server = has_tool(l->served, c->name);
            if (!c->server) c->client_index = l->n_client++;
        }
        if (ev->type == SRV_EV_TOOL_END) {
            if (c->ended) return 0;
            c->ended = true;
            ce.type = CHAT_EVENT_TOOL_CALL_END;
            if (!(c->arguments = strdup(ev->text ? ev->text : "")) || chat_reply_add(l->reply, &ce)) return -1;
        }
        if (c->server) return 0;
        ev->tool_index = c->client_index;
        return sink->event(sink->user, ev) ? -1 : 0;
    }
    case SRV_EV_DONE: return end_step(l, sink, ev);
    case SRV_EV_ERROR:
        l->state = TL_DONE;
        return sink->event(sink->user, ev) ? -1 : 1;
    }
    return 0;
}

/* Waits at most timeout_ms for the loop to move on. Returns 1 once it has ended
 * (the sink got DONE or ERROR), 0 otherwise, -1 when out of memory. */
static int advance(srv_toolloop *l, const tl_sink *sink, int timeout_ms) {
    if (l->state == TL_DONE) return 1;
    if (atomic_load(&l->tools->stop)) srv_toolloop_cancel(l); /* the server is shutting down */
    if (l->state == TL_STEP) {
        srv_event *ev = srv_stream_pop(l->running, timeout_ms);
        if (!ev) return 0;
        int rc = step_event(l, sink, ev);
        srv_event_free(ev);
        return rc;
    }
    bool all;
    if (report_calls(l, sink, &all)) return -1;
    if (all) return after_calls(l, sink);
    struct timespec until = srv_deadline(timeout_ms);
    pthread_mutex_lock(&l->mu);
    bool any = false;
    while (!any) {
        for (int i = 0; i < MAX_CALLS && !any; i++)
            any = l->calls[i].ended && l->calls[i].server && l->calls[i].finished && !l->calls[i].reported;
        if (!any && pthread_cond_timedwait(&l->cond, &l->mu, &until) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&l->mu);
    if (!any) return 0;
    if (report_calls(l, sink, &all)) return -1;
    return all ? after_calls(l, sink) : 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* The body with the served tools the client did not name added to its tools. */
static int merge_tools(srv_toolloop *l, srv_error *err) {
    json_t *client = json_object_get(l->body, "tools");
    json_t *mine = json_loads(l->tools->tools_json, 0, NULL);
    if (!json_is_array(mine) || !(l->served = json_array())) {
        json_decref(mine);
        return srv_fail(err, 500, NULL, "out of memory");
    }
    json_t *all = json_is_array(client) ? json_copy(client) : json_array();
    size_t i;
    json_t *t;
    int rc = all ? 0 : srv_fail(err, 500, NULL, "out of memory");
    json_array_foreach(mine, i, t) {
        if (rc) break;
        const char *name = tool_name_of(t);
        if (!name || has_tool(client, name)) continue; /* the client's tool of that name wins */
        if (json_array_append(l->served, t) || json_array_append(all, t)) rc = srv_fail(err, 500, NULL, "out of memory");
    }
    if (!rc && json_array_size(all) && json_object_set(l->body, "tools", all)) rc = srv_fail(err, 500, NULL, "out of memory");
    json_decref(all);
    json_decref(mine);
    return rc;
}

srv_toolloop *srv_toolloop_start(srv_tools *tools, srv_sched *sched, const g4_vocab *vocab,
                                 const char *chat_template, const srv_limits *lim, const char *body, size_t len,
                                 srv_error *err) {
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *client_tools = json_object_get(root, "tools");
    if (!json_is_object(root) || (client_tools && !json_is_null(client_tools) && !json_is_array(client_tools))) {
        /* the validator says what is wrong */
        json_decref(root);
        srv_request req;
        if (!srv_request_parse(&req, SRV_CHAT, body, len, lim, err)) {
            srv_request_free(&req);
            srv_fail(err, 400, NULL, "the body must be a JSON object");
        }
        return NULL;
    }
    srv_toolloop *l = calloc(1, sizeof *l);
    if (!l) {
        json_decref(root);
        return srv_fail(err, 500, NULL, "out of memory"), NULL;
    }
    l->tools = tools;
    l->sched = sched;
    l->vocab = vocab;
    l->chat_template = chat_template;
    l->lim = *lim;
    l->body = root;
    atomic_init(&l->next_call, 0);
    atomic_init(&l->cancel, 0);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca; /* srv_deadline's clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_fetch_add(&tools->running, 1);
    json_t *mt = json_object_get(root, "max_completion_tokens");
    if (!mt || json_is_null(mt)) mt = json_object_get(root, "max_tokens");
    l->max_tokens = json_is_integer(mt) && json_integer_value(mt) > 0 && json_integer_value(mt) <= lim->max_tokens
                        ? (int)json_integer_value(mt)
                        : 0;
    if (!(l->server_calls = json_array())) srv_fail(err, 500, NULL, "out of memory");
    if (!l->server_calls || merge_tools(l, err) || submit_step(l, err)) {
        srv_toolloop_free(l);
        return NULL;
    }
    return l;
}

const srv_request *srv_toolloop_request(const srv_toolloop *l) { return srv_stream_request(l->running); }

void srv_toolloop_cancel(srv_toolloop *l) {
    atomic_store(&l->cancel, 1);
    if (l->running) srv_stream_cancel(l->running);
}

void srv_toolloop_free(srv_toolloop *l) {
    if (!l) return;
    srv_toolloop_cancel(l);
    join_calls(l);
    reset_step(l);
    json_decref(l->body);
    json_decref(l->served);
    json_decref(l->server_calls);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    atomic_fetch_sub(&l->tools->running, 1);
    free(l);
}

/* ---- non-streaming ------------------------------------------------------------------------ */

typedef struct {
    json_t *logprobs;
    srv_finish finish;
    bool failed;
    char error[320];
} collector;

static int collect_event(void *user, const srv_event *ev) {
    collector *c = user;
    if (ev->type == SRV_EV_LOGPROB) {
        json_t *e = json_loads(ev->text, 0, NULL);
        return e ? json_array_append_new(c->logprobs, e) : -1;
    }
    if (ev->type == SRV_EV_DONE) c->finish = ev->finish;
    if (ev->type == SRV_EV_ERROR) {
        c->failed = true;
        snprintf(c->error, sizeof c->error, "%s", ev->text ? ev->text : "generation failed");
    }
    return 0;
}

static int collect_call(void *user, json_t *entry) {
    (void)user, (void)entry; /* every entry is in l->server_calls already */
    return 0;
}

/* The last step's message for the client: its client calls only, the reasoning
 * under both names, the served calls and the note. */
static json_t *final_message(srv_toolloop *l) {
    char *text = chat_reply_message_json(l->reply);
    json_t *msg = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!msg) return NULL;
    json_t *calls = json_object_get(msg, "tool_calls"), *kept = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        const char *name = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
        if (!name || !has_tool(l->served, name)) json_array_append(kept, c);
    }
    if (json_array_size(kept)) json_object_set(msg, "tool_calls", kept);
    else json_object_del(msg, "tool_calls");
    json_decref(kept);
    if (json_is_null(json_object_get(msg, "content")) && !json_object_get(msg, "tool_calls"))
        json_object_set_new(msg, "content", json_string(""));
    json_t *reasoning = json_object_get(msg, "reasoning");
    if (reasoning) json_object_set(msg, "reasoning_content", reasoning);
    else json_object_set_new(msg, "reasoning", json_null()), json_object_set_new(msg, "reasoning_content", json_null());
    json_object_set(msg, "server_tool_calls", l->server_calls);
    if (l->note[0]) json_object_set_new(msg, "server_tool_note", json_string(l->note));
    return msg;
}

char *srv_toolloop_collect(srv_toolloop *l, const srv_reply_meta *meta, int timeout_ms, bool (*client_gone)(void *),
                           void *user, srv_error *err) {
    collector col = {.logprobs = json_array()};
    tl_sink sink = {collect_event, collect_call, &col};
    char *out = NULL;
    if (!col.logprobs) return srv_fail(err, 500, NULL, "out of memory"), NULL;
    for (int rc = 0; rc != 1;) {
        if ((rc = advance(l, &sink, timeout_ms)) < 0) {
            srv_fail(err, 500, NULL, "out of memory");
            goto end;
        }
        if (rc == 0 && client_gone && client_gone(user)) {
            srv_toolloop_cancel(l);
            srv_fail(err, 499, NULL, "the client closed the connection");
            goto end;
        }
    }
    if (col.failed) {
        srv_fail(err, 500, NULL, "%s", col.error);
        goto end;
    }
    const srv_request *req = srv_stream_request(l->running);
    json_t *msg = final_message(l);
    json_t *choice = msg ? json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", msg, "logprobs",
                                     req->logprobs ? json_pack("{s:O}", "content", col.logprobs) : json_null(),
                                     "finish_reason", srv_finish_name(col.finish))
                         : NULL;
    json_t *root = choice ? json_pack("{s:s, s:s, s:i, s:s, s:[o], s:o}", "id", meta->id, "object", "chat.completion",
                                      "created", (json_int_t)meta->created, "model", meta->model, "choices", choice,
                                      "usage", usage_json(l->prompt_tokens, l->completion_tokens, l->cached_tokens))
                         : NULL;
    out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!out) srv_fail(err, 500, NULL, "out of memory");
end:
    json_decref(col.logprobs);
    return out;
}

/* ---- streaming ---------------------------------------------------------------------------- */

typedef struct {
    srv_toolloop *l;
    srv_sse *sse;
    srv_buf *out;
} sse_target;

/* data: {chat.completion.chunk} whose delta is {key: value} (value taken over). */
static int delta_chunk(sse_target *t, const char *key, json_t *value) {
    json_t *delta = json_object();
    if (!delta || !value) {
        json_decref(delta);
        json_decref(value);
        return -1;
    }
    if (json_object_set_new(delta, key, value)) { /* value is released by jansson */
        json_decref(delta);
        return -1;
    }
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:[{s:i, s:o, s:n, s:n}]}", "id", t->sse->meta.id, "object",
                          "chat.completion.chunk", "created", (json_int_t)t->sse->meta.created, "model",
                          t->sse->meta.model, "choices", "index", 0, "delta", delta, "logprobs", "finish_reason");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) return -1;
    int rc = srv_buf_append(t->out, "data: ", 6) || srv_buf_append(t->out, s, strlen(s)) || srv_buf_append(t->out, "\n\n", 2);
    free(s);
    return rc ? -1 : 0;
}

static int sse_event(void *user, const srv_event *ev) {
    sse_target *t = user;
    if (ev->type == SRV_EV_DONE && t->l->note[0] && delta_chunk(t, "server_tool_note", json_string(t->l->note))) return -1;
    return srv_sse_event(t->sse, ev, t->out);
}

static int sse_call(void *user, json_t *entry) { return delta_chunk(user, "server_tool_call", json_incref(entry)); }

int srv_toolloop_sse(srv_toolloop *l, srv_sse *sse, srv_buf *out, int timeout_ms) {
    sse_target t = {l, sse, out};
    tl_sink sink = {sse_event, sse_call, &t};
    return advance(l, &sink, timeout_ms);
}
