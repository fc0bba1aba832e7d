/* turn.c: one turn of the conversation: sends the messages to the chat engine as an
 * asynchronous job (or, with tools, to the agent loop as an agent job), drains its events into
 * the streaming assistant block (thinking, answer, tool calls, prompt progress, stats; with the
 * agent: a block per step, the approval question, each call's result), and finishes the turn
 * (saved step by step, tool messages included, also when cancelled). */
#include "tui/ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int start_job(tui_app *a) {
    if (!a->engine) {
        tui_note(a, TUI_BLOCK_ERROR, "no model is loaded (use /model PATH)");
        return -1;
    }
    char *messages = tui_persist_messages_json(a);
    if (!messages) {
        tui_note(a, TUI_BLOCK_ERROR, "out of memory");
        return -1;
    }
    chat_settings s = a->settings;
    s.think = a->think;
    char *err = NULL;
    if (a->opt.tools) {
        agent_params p = {.engine = a->engine, .toolbox = a->opt.tools->toolbox, .policy = a->opt.tools->policy,
                          .tools_json = a->opt.tools->tools_json, .settings = s, .max_steps = a->opt.max_steps};
        a->agent = agent_job_start(&p, messages, &err);
    } else {
        a->job = chat_job_start(a->engine, messages, NULL, &s, &err);
    }
    free(messages);
    if (!a->job && !a->agent) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot start the generation: %s", err ? err : "out of memory");
        free(err);
        return -1;
    }
    a->streaming = tui_transcript_add(&a->transcript, TUI_BLOCK_ASSISTANT, NULL);
    if (a->streaming) a->streaming->streaming = true;
    a->state = TUI_PROMPT;
    a->prompt_done = a->prompt_total = 0;
    a->transcript.scroll = 0;
    return 0;
}

bool tui_busy(const tui_app *a) { return a->job || a->agent; }

int tui_turn_fd(const tui_app *a) { return a->job ? chat_job_fd(a->job) : a->agent ? agent_job_fd(a->agent) : -1; }

int tui_send(tui_app *a, const char *text, bool replace_last) {
    if (tui_busy(a) || a->state == TUI_LOADING) {
        tui_note(a, TUI_BLOCK_NOTE, "busy: wait for the answer or press Esc to cancel it");
        return -1;
    }
    if (replace_last) {
        a->editing_last = false;
        tui_persist_drop_last_turn(a, false);
        /* drop the last user block and what follows it from the transcript */
        tui_transcript *t = &a->transcript;
        int i = t->n - 1;
        while (i >= 0 && t->v[i]->kind != TUI_BLOCK_USER) i--;
        if (i >= 0) tui_transcript_truncate(t, i);
    }
    tui_transcript_add(&a->transcript, TUI_BLOCK_USER, text);
    tui_persist_add_user(a, text);
    return start_job(a);
}

int tui_retry(tui_app *a) {
    if (tui_busy(a)) {
        tui_note(a, TUI_BLOCK_NOTE, "busy: wait for the answer or press Esc to cancel it");
        return -1;
    }
    tui_transcript *t = &a->transcript;
    int i = t->n - 1;
    while (i >= 0 && t->v[i]->kind != TUI_BLOCK_ASSISTANT && t->v[i]->kind != TUI_BLOCK_USER) i--;
    if (i < 0 || !tui_persist_last_user(a)) {
        tui_note(a, TUI_BLOCK_ERROR, "/retry: there is no message to answer again");
        return -1;
    }
    tui_persist_drop_last_turn(a, true);
    if (t->v[i]->kind == TUI_BLOCK_ASSISTANT) tui_transcript_truncate(t, i); /* the old answer goes */
    return start_job(a);
}

void tui_cancel(tui_app *a) {
    if (!tui_busy(a) || a->state == TUI_CANCELLING) return;
    if (a->job) chat_job_cancel(a->job);
    if (a->agent) agent_job_cancel(a->agent); /* a question waiting counts as no */
    if (a->asking) a->asking->asking = false, a->asking = NULL;
    if (a->streaming) tui_block_touch(a->streaming);
    a->state = TUI_CANCELLING;
}

static void add_tool(tui_block *b, const char *name, const char *id) {
    tui_tool_call *v = realloc(b->tools, (size_t)(b->n_tools + 1) * sizeof *v);
    if (!v) return;
    b->tools = v;
    b->tools[b->n_tools++] = (tui_tool_call){.name = strdup(name ? name : "?"), .id = id ? strdup(id) : NULL};
}

static void finish(tui_app *a, const chat_event *ev) {
    tui_block *b = a->streaming;
    const chat_stats *st = &ev->stats;
    const char *finish = chat_finish_name(st->finish);
    if (b) {
        b->streaming = false;
        b->cancelled = st->finish == CHAT_FINISH_CANCELLED;
        if (b->reasoning.len) {
            if (!b->answering) b->think_seconds = tui_now() - b->think_started;
            if (st->thinking_tokens > 0) b->think_tokens = st->thinking_tokens;
            if (st->thinking_seconds > 0) b->think_seconds = st->thinking_seconds;
        }
        b->has_stats = true;
        b->prompt_tokens = st->prompt_tokens, b->completion_tokens = st->completion_tokens;
        b->seconds = st->total_seconds, b->tokens_per_second = st->tokens_per_second;
        snprintf(b->finish, sizeof b->finish, "%s", finish);
        tui_block_touch(b);
        tui_persist_set_assistant(a, b, finish);
    }
    a->tokens_per_second = st->tokens_per_second;
    a->ctx_used = st->context_used;
    if (st->context_size) a->ctx_size = st->context_size;
    a->total_prompt_tokens += st->prompt_tokens;
    a->total_reused_tokens += st->cached_tokens;
    a->total_completion_tokens += st->completion_tokens;
}

bool tui_turn_apply(tui_app *a, const chat_event *ev) {
    tui_block *b = a->streaming;
    switch (ev->type) {
    case CHAT_EVENT_PROGRESS:
        a->prompt_done = ev->progress_done, a->prompt_total = ev->progress_total;
        break;
    case CHAT_EVENT_THOUGHT:
        if (a->state != TUI_CANCELLING) a->state = TUI_THINKING;
        if (b) {
            if (!b->reasoning.len) b->think_started = tui_now();
            tui_buf_append(&b->reasoning, ev->text, ev->len);
            b->think_tokens++;
            tui_block_touch(b);
        }
        break;
    case CHAT_EVENT_ANSWER:
        if (a->state != TUI_CANCELLING) a->state = TUI_ANSWERING;
        if (b) {
            if (!b->answering && b->reasoning.len) b->think_seconds = tui_now() - b->think_started;
            b->answering = true; /* the thinking collapses to its summary */
            tui_buf_append(&b->content, ev->text, ev->len);
            tui_block_touch(b);
        }
        break;
    case CHAT_EVENT_TOOL_CALL_BEGIN:
        if (b) add_tool(b, ev->tool_name, ev->tool_id), tui_block_touch(b);
        break;
    case CHAT_EVENT_TOOL_CALL_ARGS:
    case CHAT_EVENT_TOOL_CALL_END:
        if (b && b->n_tools) {
            tui_tool_call *tc = &b->tools[b->n_tools - 1];
            if (ev->type == CHAT_EVENT_TOOL_CALL_END && ev->cut) { /* not a call: the reply ended inside it */
                tui_note(a, TUI_BLOCK_NOTE, "the call to %s was cut off before it was complete", tc->name);
                free(tc->name), free(tc->arguments), free(tc->id), free(tc->result);
                b->n_tools--;
            } else if (ev->type == CHAT_EVENT_TOOL_CALL_END) {
                free(tc->arguments);
                tc->arguments = ev->text ? strndup(ev->text, ev->len) : strdup("{}");
                tc->done = true;
            } else {
                size_t old = tc->arguments ? strlen(tc->arguments) : 0;
                char *p = realloc(tc->arguments, old + ev->len + 1);
                if (p) memcpy(p + old, ev->text, ev->len), p[old + ev->len] = 0, tc->arguments = p;
            }
            tui_block_touch(b);
        }
        break;
    case CHAT_EVENT_ERROR:
        tui_note(a, TUI_BLOCK_ERROR, "generation failed: %.*s", (int)ev->len, ev->text ? ev->text : "");
        return true;
    case CHAT_EVENT_DONE:
        finish(a, ev);
        return true;
    }
    return false;
}

/* ---- the agent: steps, approvals, results ---- */

/* The call of the streaming block with this id (NULL: the first without a result named name). */
static tui_tool_call *find_call(tui_app *a, const char *id, const char *name) {
    tui_block *b = a->streaming;
    for (int i = 0; b && i < b->n_tools; i++) {
        tui_tool_call *tc = &b->tools[i];
        if (id ? tc->id && !strcmp(tc->id, id) : !tc->result && !tc->asking && !strcmp(tc->name, name)) return tc;
    }
    return NULL;
}

bool tui_turn_answer_key(tui_app *a, wint_t key, bool escape) {
    if (!a->asking || !a->agent) return false;
    agent_decision d;
    if (escape || key == 'n' || key == 'N') d = AGENT_DECIDE_NO;
    else if (key == 'y' || key == 'Y') d = AGENT_DECIDE_YES;
    else if (key == 'a' || key == 'A') d = AGENT_DECIDE_ALWAYS;
    else return false;
    a->asking->asking = false;
    a->asking = NULL;
    if (a->streaming) tui_block_touch(a->streaming);
    agent_job_answer(a->agent, d);
    return true;
}

bool tui_toggle_results(tui_app *a) {
    tui_transcript *t = &a->transcript;
    for (int i = t->n - 1; i >= 0; i--) {
        tui_block *b = t->v[i];
        for (int k = 0; b->kind == TUI_BLOCK_ASSISTANT && k < b->n_tools; k++)
            if (b->tools[k].result) {
                b->results_open = !b->results_open;
                tui_block_touch(b);
                return true;
            }
    }
    return false;
}

/* One item of the agent job; true at its end. */
static bool agent_apply(tui_app *a, const agent_job_item *it) {
    switch (it->type) {
    case AGENT_JOB_CHAT:
        tui_turn_apply(a, &it->chat); /* a step's DONE or ERROR does not end the turn */
        if (it->chat.type == CHAT_EVENT_DONE && a->streaming) a->streaming->streaming = false;
        return false;
    case AGENT_JOB_AGENT:
        if (it->agent.type == AGENT_EVENT_STEP && it->agent.step > 1) {
            a->streaming = tui_transcript_add(&a->transcript, TUI_BLOCK_ASSISTANT, NULL);
            if (a->streaming) a->streaming->streaming = true;
            if (a->state != TUI_CANCELLING) a->state = TUI_PROMPT;
        } else if (it->agent.type == AGENT_EVENT_TOOL_RESULT) {
            const char *content = it->agent.result->content;
            tui_tool_call *tc = find_call(a, it->agent.tool_id, it->agent.tool_name);
            if (tc) {
                free(tc->result);
                tc->result = strdup(content);
                tc->result_error = it->agent.result->is_error;
                tc->asking = false;
                tui_block_touch(a->streaming);
            }
            tui_persist_add_tool(a, it->agent.tool_id, it->agent.tool_name, content);
        }
        return false;
    case AGENT_JOB_ASK: {
        tui_tool_call *tc = find_call(a, NULL, it->tool_name);
        if (!tc || a->state == TUI_CANCELLING) { /* nothing to show it on: no */
            agent_job_answer(a->agent, AGENT_DECIDE_NO);
            return false;
        }
        tc->asking = true;
        a->asking = tc;
        tui_block_touch(a->streaming);
        return false;
    }
    case AGENT_JOB_END:
        return true;
    }
    return false;
}

/* The turn's job has ended: the streaming block stops (also when it ended without
 * a DONE event, after an error) and the UI is idle. */
static void turn_over(tui_app *a) {
    if (a->streaming && a->streaming->streaming) {
        a->streaming->streaming = false;
        tui_block_touch(a->streaming);
    }
    a->streaming = NULL;
    a->state = TUI_IDLE;
}

static void agent_drain(tui_app *a) {
    agent_job_item it;
    bool over = false;
    while (a->agent && !over && agent_job_next(a->agent, &it) > 0) over = agent_apply(a, &it);
    if (!over) return;
    agent_job_free(a->agent);
    a->agent = NULL;
    a->asking = NULL;
    turn_over(a);
}

void tui_turn_drain(tui_app *a) {
    if (a->agent) {
        agent_drain(a);
        return;
    }
    chat_event ev;
    bool over = false;
    while (a->job && !over && chat_job_next(a->job, &ev) > 0) over = tui_turn_apply(a, &ev);
    if (over) { /* DONE or ERROR is the job's last event */
        chat_job_free(a->job);
        a->job = NULL;
        turn_over(a);
    }
}
