/* loop.c: the agent loop (agent_run): generate with the chat engine; when the reply
 * calls tools, decide each call with the approval policy (allow, ask the front end,
 * deny), run the approved calls concurrently (one thread per call, at most
 * MAX_PARALLEL at a time), append the assistant message and one tool message per
 * call to the conversation, and generate again, until a reply without calls,
 * max_steps, a cancel or an error. Runs on the caller's thread; only the tool calls
 * run on threads of their own. */
#include "agent/agent.h"
#include "chat/run.h" /* chat_engine_run: generate that also stops on the loop's cancel flag */

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PARALLEL = 4, DEFAULT_MAX_STEPS = 8 };

static const char denied_text[] = "the user denied this call";
static const char not_offered_text[] = "this tool was not offered";
static const char cancelled_text[] = "the tool call was cancelled";
static const char context_full_text[] = "not run: the context is full";
static const char step_limit_text[] = "not run: the agent reached its step limit";

/* One call of a reply and what became of it. */
typedef struct {
    const char *id, *name, *arguments; /* point into the assistant message's JSON */
    bool run;                          /* approved: runs in the toolbox */
    const char *refused;               /* not run: the reason the model sees */
    agent_result result;
} call;

/* Forwards a step's chat events and builds its assistant message. */
typedef struct {
    const agent_params *p;
    chat_reply *reply;
    bool done, oom;
    chat_finish finish;
} step_state;

static void on_step_event(const chat_event *ev, void *user) {
    step_state *s = user;
    if (chat_reply_add(s->reply, ev)) s->oom = true;
    if (ev->type == CHAT_EVENT_DONE) s->done = true, s->finish = ev->stats.finish;
    if (s->p->on_chat_event) s->p->on_chat_event(ev, s->p->user);
}

static bool is_cancelled(const agent_params *p) { return p->cancel && atomic_load(p->cancel); }

/* An ERROR chat event the loop itself raises (a chat event, so front ends show it
 * like the engine's errors). */
static void loop_error(const agent_params *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void loop_error(const agent_params *p, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    chat_event ev = {.type = CHAT_EVENT_ERROR, .text = msg, .len = strlen(msg)};
    if (p->on_chat_event) p->on_chat_event(&ev, p->user);
}

static void emit(const agent_params *p, const agent_event *ev) {
    if (p->on_agent_event) p->on_agent_event(ev, p->user);
}

/* Replaces *messages by *messages + message (both JSON); -1 when out of memory. */
static int append(char **messages, const char *message) {
    char *next = message ? chat_messages_append(*messages, message) : NULL;
    if (!next) return -1;
    free(*messages);
    *messages = next;
    return 0;
}

/* True when tools_json offers a function called name. */
static bool offered(const json_t *tools, const char *name) {
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *n = json_object_get(json_object_get(t, "function"), "name");
        if (json_is_string(n) && !strcmp(json_string_value(n), name)) return true;
    }
    return false;
}

/* ---- running the approved calls ------------------------------------------------------ */

typedef struct {
    const agent_params *p;
    call *calls;
    int n;
    atomic_int next; /* the next call index to take */
} pool;

static void *pool_worker(void *arg) {
    pool *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        if (w->calls[i].run)
            agent_toolbox_run(w->p->toolbox, w->calls[i].name, w->calls[i].arguments, w->p->cancel, &w->calls[i].result);
    return NULL;
}

/* Runs the calls marked run: MAX_PARALLEL threads take calls in order; what no
 * thread can be started for runs on this one. */
static void run_calls(const agent_params *p, call *calls, int n) {
    int n_run = 0;
    for (int i = 0; i < n; i++) n_run += calls[i].run;
    if (!n_run) return;
    pool w = {.p = p, .calls = calls, .n = n};
    atomic_init(&w.next, 0);
    pthread_t threads[MAX_PARALLEL];
    int started = 0, want = n_run < MAX_PARALLEL ? n_run : MAX_PARALLEL;
    while (started < want && !pthread_create(&threads[started], NULL, pool_worker, &w)) started++;
    if (!started) pool_worker(&w);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
}

/* ---- one reply's calls ------------------------------------------------------------------- */

/* Decides each call: allowed, asked (p->ask), denied, not offered, or cancelled. */
static void decide(const agent_params *p, const json_t *tools, call *calls, int n) {
    for (int i = 0; i < n; i++) {
        call *c = &calls[i];
        if (is_cancelled(p)) { c->refused = cancelled_text; continue; }
        if (!offered(tools, c->name)) { c->refused = not_offered_text; continue; }
        if (agent_toolbox_find(p->toolbox, c->name) < 0) { c->run = true; continue; } /* the toolbox says why */
        switch (agent_policy_get(p->policy, c->name)) {
        case AGENT_ALLOW: c->run = true; break;
        case AGENT_DENY: c->refused = denied_text; break;
        case AGENT_ASK: {
            agent_decision d = p->ask ? p->ask(c->name, c->arguments, p->user) : AGENT_DECIDE_NO;
            if (d == AGENT_DECIDE_ALWAYS) agent_policy_set(p->policy, c->name, AGENT_ALLOW);
            if (is_cancelled(p)) c->refused = cancelled_text; /* cancelled while asking */
            else if (d == AGENT_DECIDE_NO) c->refused = denied_text;
            else c->run = true;
            break;
        }
        }
    }
}

/* The error result the model sees for a call that did not run. */
static void refuse(call *c) {
    json_t *o = json_pack("{s:s, s:s}", "error", c->refused, "tool", c->name);
    c->result = (agent_result){.content = o ? json_dumps(o, JSON_COMPACT) : NULL, .is_error = true};
    json_decref(o);
}

/* {"role":"tool","tool_call_id","name","content"} (malloc'd), or NULL. */
static char *tool_message(const call *c) {
    json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "role", "tool", "tool_call_id", c->id, "name", c->name, "content",
                          c->result.content ? c->result.content : "");
    char *out = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return out;
}

/* Decides, runs and reports the calls of the assistant message (already in
 * *messages) and appends their tool messages. refused: NULL to decide each call,
 * else the reason none runs (a cancel, the step limit). Returns 0 or -1 after an
 * ERROR event. */
static int handle_calls(const agent_params *p, const json_t *tools, const char *assistant_json, int step,
                        const char *refused, char **messages) {
    json_t *msg = json_loads(assistant_json, 0, NULL);
    const json_t *list = json_object_get(msg, "tool_calls");
    int n = (int)json_array_size(list);
    call *calls = n ? calloc((size_t)n, sizeof *calls) : NULL;
    if (n && !calls) {
        json_decref(msg);
        return loop_error(p, "out of memory for %d tool calls", n), -1;
    }
    for (int i = 0; i < n; i++) {
        const json_t *tc = json_array_get(list, (size_t)i), *fn = json_object_get(tc, "function");
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        calls[i] = (call){.id = id ? id : "", .name = name ? name : "", .arguments = args ? args : "{}"};
    }
    if (!refused) decide(p, tools, calls, n);
    else for (int i = 0; i < n; i++) calls[i].refused = refused;
    run_calls(p, calls, n);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        call *c = &calls[i];
        if (!c->run) refuse(c);
        agent_event ev = {.type = AGENT_EVENT_TOOL_RESULT, .step = step, .tool_id = c->id, .tool_name = c->name,
                          .result = &c->result};
        if (c->result.content) emit(p, &ev);
        char *tm = c->result.content ? tool_message(c) : NULL;
        if (!rc && append(messages, tm)) rc = -1;
        free(tm);
        agent_result_free(&c->result);
    }
    free(calls);
    json_decref(msg);
    if (rc) loop_error(p, "out of memory recording the tool results");
    return rc;
}

/* ---- the loop ----------------------------------------------------------------------------- */

int agent_run(const agent_params *p, char **messages_json) {
    int max_steps = p->max_steps > 0 ? p->max_steps : DEFAULT_MAX_STEPS;
    json_t *tools = p->tools_json ? json_loads(p->tools_json, 0, NULL) : NULL;
    chat_settings settings = p->settings;
    int result = -1;
    for (int step = 1;; step++) {
        agent_event sev = {.type = AGENT_EVENT_STEP, .step = step};
        emit(p, &sev);
        step_state s = {.p = p, .reply = chat_reply_new()};
        if (!s.reply) {
            loop_error(p, "out of memory starting step %d", step);
            break;
        }
        int rc = chat_engine_run(p->engine, *messages_json, p->tools_json, &settings, on_step_event, &s, p->cancel);
        int n_calls = chat_reply_tool_call_count(s.reply);
        /* the reply joins the history when it said anything or ended on its own (an
         * empty answer included); a cancel before the first token leaves no trace */
        bool said = *chat_reply_content(s.reply) || *chat_reply_reasoning(s.reply) || n_calls ||
                    (s.done && s.finish != CHAT_FINISH_CANCELLED);
        char *assistant = said ? chat_reply_message_json(s.reply) : NULL;
        chat_reply_free(s.reply);
        if (s.oom || (said && (!assistant || append(messages_json, assistant)))) {
            free(assistant);
            loop_error(p, "out of memory recording the reply of step %d", step);
            break;
        }
        if (rc || !s.done) { /* the engine sent the ERROR event */
            free(assistant);
            break;
        }
        result = s.finish;
        /* complete calls run also when the reply went on past them to max_tokens */
        bool go_on = n_calls > 0 && s.finish != CHAT_FINISH_CANCELLED && s.finish != CHAT_FINISH_CONTEXT;
        bool last = step >= max_steps;
        /* no call is left without its result (after a cancel, a full context or at the
         * step limit): the history stays well-formed for the next turn */
        const char *refused = s.finish == CHAT_FINISH_CONTEXT ? context_full_text
                              : !go_on || is_cancelled(p)     ? cancelled_text
                              : last                          ? step_limit_text
                                                              : NULL;
        if (n_calls > 0 && handle_calls(p, tools, assistant, step, refused, messages_json)) result = -1, go_on = false;
        free(assistant);
        if (!go_on) break;
        if (is_cancelled(p)) {
            result = CHAT_FINISH_CANCELLED;
            break;
        }
        if (last) {
            loop_error(p, "stopped after %d step%s: the model kept calling tools (raise the step limit)", max_steps,
                       max_steps == 1 ? "" : "s");
            result = -1;
            break;
        }
        settings.tool_choice = CHAT_TOOLS_AUTO; /* the caller's choice applies to the first step */
        settings.tool_name = NULL;
    }
    json_decref(tools);
    return result;
}
