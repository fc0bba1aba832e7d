/* response.c: a stream's events -> the OpenAI response shapes. Non-streaming:
 * every event of a finished stream into one chat.completion (the message built
 * by the chat module's chat_reply, plus "reasoning_content" for llama.cpp
 * clients) or text_completion. Streaming: chat.completion.chunk /
 * text_completion chunks as server-sent events, the usage chunk when asked for,
 * and "data: [DONE]". */
#include "server/server.h"
#include "chat/chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv_buf_append(srv_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *r = realloc(b->data, cap);
        if (!r) return -1;
        b->data = r;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void srv_buf_free(srv_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static json_t *usage_json(int prompt, int completion, int cached) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion, "prompt_tokens_details", "cached_tokens", cached);
}

/* A string value (text that is not valid UTF-8 cannot come from the parser, but
 * a NULL from jansson must not end up as a missing field). */
static json_t *str(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    return v ? v : json_string("");
}

/* ---- non-streaming ---- */

typedef struct {
    chat_reply *reply;
    json_t *logprobs;        /* [entries] */
    srv_finish finish;
    bool done;
} choice_acc;

/* The legacy completions logprobs object from chat-style entries. */
static json_t *legacy_logprobs(json_t *entries) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t i, off = 0;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_t *tok = json_object_get(e, "token");
        json_array_append(tokens, tok);
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *top = json_object();
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(e, "top_logprobs"), k, t)
            json_object_set(top, json_string_value(json_object_get(t, "token")), json_object_get(t, "logprob"));
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += json_string_length(tok);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offs);
}

static json_t *chat_choice(int index, choice_acc *c, bool logprobs) {
    char *msg_text = chat_reply_message_json(c->reply);
    json_t *msg = msg_text ? json_loads(msg_text, 0, NULL) : NULL;
    free(msg_text);
    if (!msg) return NULL;
    json_t *reasoning = json_object_get(msg, "reasoning");
    if (reasoning) json_object_set(msg, "reasoning_content", reasoning);
    else json_object_set_new(msg, "reasoning", json_null()), json_object_set_new(msg, "reasoning_content", json_null());
    return json_pack("{s:i, s:o, s:o, s:s}", "index", index, "message", msg, "logprobs",
                     logprobs ? json_pack("{s:O}", "content", c->logprobs) : json_null(), "finish_reason",
                     srv_finish_name(c->finish));
}

static json_t *text_choice(int index, choice_acc *c, const srv_request *req) {
    const char *content = chat_reply_content(c->reply);
    json_t *text;
    if (req->echo && req->prompt) {
        size_t a = strlen(req->prompt), b = strlen(content);
        char *both = malloc(a + b + 1);
        if (!both) return NULL;
        memcpy(both, req->prompt, a);
        memcpy(both + a, content, b + 1);
        text = str(both, a + b);
        free(both);
    } else {
        text = str(content, strlen(content));
    }
    return json_pack("{s:i, s:o, s:o, s:s}", "index", index, "text", text, "logprobs",
                     req->logprobs ? legacy_logprobs(c->logprobs) : json_null(), "finish_reason",
                     srv_finish_name(c->finish));
}

char *srv_response_collect(srv_stream *s, const srv_reply_meta *meta, int timeout_ms, bool (*client_gone)(void *),
                           void *user, srv_error *err) {
    const srv_request *req = srv_stream_request(s);
    int n = req->n;
    choice_acc acc[SRV_MAX_N] = {0};
    char *out = NULL;
    int prompt = 0, completion = 0, cached = 0, done = 0;
    for (int i = 0; i < n; i++)
        if (!(acc[i].reply = chat_reply_new()) || !(acc[i].logprobs = json_array())) {
            srv_fail(err, 500, NULL, "out of memory");
            goto end;
        }
    while (done < n) {
        srv_event *ev = srv_stream_pop(s, timeout_ms);
        if (!ev) {
            if (client_gone && client_gone(user)) {
                srv_stream_cancel(s);
                srv_fail(err, 499, NULL, "the client closed the connection");
                goto end;
            }
            continue;
        }
        choice_acc *c = &acc[ev->choice >= 0 && ev->choice < n ? ev->choice : 0];
        chat_event ce = {.text = ev->text, .len = ev->len, .tool_index = ev->tool_index, .tool_name = ev->tool_name,
                         .tool_id = ev->tool_id};
        int rc = 0;
        switch (ev->type) {
        case SRV_EV_REASONING: ce.type = CHAT_EVENT_THOUGHT, rc = chat_reply_add(c->reply, &ce); break;
        case SRV_EV_CONTENT: ce.type = CHAT_EVENT_ANSWER, rc = chat_reply_add(c->reply, &ce); break;
        case SRV_EV_TOOL_END: ce.type = CHAT_EVENT_TOOL_CALL_END, rc = chat_reply_add(c->reply, &ce); break;
        case SRV_EV_LOGPROB: {
            json_t *e = json_loads(ev->text, 0, NULL);
            rc = e ? json_array_append_new(c->logprobs, e) : -1;
            break;
        }
        case SRV_EV_DONE:
            c->finish = ev->finish;
            c->done = true;
            prompt = ev->prompt_tokens;
            cached = ev->cached_tokens;
            completion += ev->completion_tokens;
            done++;
            break;
        case SRV_EV_ERROR:
            srv_fail(err, 500, NULL, "%s", ev->text ? ev->text : "generation failed");
            srv_event_free(ev);
            goto end;
        default: break;
        }
        srv_event_free(ev);
        if (rc) {
            srv_fail(err, 500, NULL, "out of memory");
            goto end;
        }
    }
    json_t *choices = json_array();
    for (int i = 0; i < n; i++) {
        json_t *c = req->kind == SRV_CHAT ? chat_choice(i, &acc[i], req->logprobs) : text_choice(i, &acc[i], req);
        if (!c || json_array_append_new(choices, c)) {
            json_decref(choices);
            srv_fail(err, 500, NULL, "out of memory");
            goto end;
        }
    }
    json_t *root = json_pack("{s:s, s:s, s:i, s:s, s:o, s:o}", "id", meta->id, "object",
                             req->kind == SRV_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)meta->created,
                             "model", meta->model, "choices", choices, "usage", usage_json(prompt, completion, cached));
    out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!out) srv_fail(err, 500, NULL, "out of memory");
end:
    for (int i = 0; i < n; i++) {
        chat_reply_free(acc[i].reply);
        json_decref(acc[i].logprobs);
    }
    return out;
}

/* ---- streaming ---- */

void srv_sse_init(srv_sse *sse, const srv_reply_meta *meta, const srv_request *req) {
    memset(sse, 0, sizeof *sse);
    sse->meta = *meta;
    sse->include_usage = req->include_usage;
    sse->logprobs = req->logprobs;
    sse->n_choices = req->n;
    sse->echo = req->echo ? req->prompt : NULL;
}

/* Appends "data: JSON\n\n" and takes the reference to o. */
static int send_json(srv_buf *out, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) return -1;
    int rc = srv_buf_append(out, "data: ", 6) || srv_buf_append(out, s, strlen(s)) || srv_buf_append(out, "\n\n", 2);
    free(s);
    return rc ? -1 : 0;
}

/* A chunk with one choice: delta (chat) or text (completion) and a finish reason. */
static json_t *chunk(const srv_sse *sse, int index, json_t *delta, const char *text, size_t len, json_t *logprobs,
                     const char *finish) {
    json_t *choice;
    if (sse->meta.kind == SRV_CHAT)
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", index, "delta", delta ? delta : json_object(), "logprobs",
                           logprobs ? logprobs : json_null(), "finish_reason", finish ? json_string(finish) : json_null());
    else {
        json_decref(delta); /* completions have no delta */
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", index, "text", str(text ? text : "", text ? len : 0),
                           "logprobs", logprobs ? logprobs : json_null(), "finish_reason",
                           finish ? json_string(finish) : json_null());
    }
    return json_pack("{s:s, s:s, s:i, s:s, s:[o]}", "id", sse->meta.id, "object",
                     sse->meta.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)sse->meta.created, "model", sse->meta.model, "choices", choice);
}

static int role_chunk(srv_sse *sse, int c, srv_buf *out) {
    if (sse->role_sent[c]) return 0;
    sse->role_sent[c] = true;
    if (sse->meta.kind != SRV_CHAT) {
        if (!sse->echo) return 0;
        return send_json(out, chunk(sse, c, NULL, sse->echo, strlen(sse->echo), NULL, NULL));
    }
    return send_json(out, chunk(sse, c, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, 0, NULL, NULL));
}

static json_t *tool_delta(int index, const char *id, const char *name, const char *args, size_t len) {
    json_t *fn = json_pack("{s:o}", "arguments", str(args, len));
    if (name) json_object_set_new(fn, "name", json_string(name));
    json_t *call = json_pack("{s:i, s:o}", "index", index, "function", fn);
    if (id) json_object_set_new(call, "id", json_string(id)), json_object_set_new(call, "type", json_string("function"));
    return json_pack("{s:[o]}", "tool_calls", call);
}

int srv_sse_start(srv_sse *sse, srv_buf *out) {
    for (int c = 0; c < sse->n_choices && c < SRV_MAX_N; c++)
        if (role_chunk(sse, c, out)) return -1;
    return 0;
}

int srv_sse_event(srv_sse *sse, const srv_event *ev, srv_buf *out) {
    int c = ev->choice >= 0 && ev->choice < SRV_MAX_N ? ev->choice : 0;
    if (ev->type != SRV_EV_ERROR && role_chunk(sse, c, out)) return -1;
    bool chat = sse->meta.kind == SRV_CHAT;
    int t = ev->tool_index >= 0 && ev->tool_index < SRV_SSE_MAX_TOOLS ? ev->tool_index : SRV_SSE_MAX_TOOLS - 1;
    switch (ev->type) {
    case SRV_EV_REASONING:
        return send_json(out, chunk(sse, c, json_pack("{s:o, s:o}", "reasoning", str(ev->text, ev->len), "reasoning_content",
                                                      str(ev->text, ev->len)), NULL, 0, NULL, NULL));
    case SRV_EV_CONTENT:
        if (!chat) return send_json(out, chunk(sse, c, NULL, ev->text, ev->len, NULL, NULL));
        return send_json(out, chunk(sse, c, json_pack("{s:o}", "content", str(ev->text, ev->len)), NULL, 0, NULL, NULL));
    case SRV_EV_TOOL_BEGIN:
        sse->tool_calls[c]++;
        sse->args_sent[c][t] = 0;
        return send_json(out, chunk(sse, c, tool_delta(ev->tool_index, ev->tool_id, ev->tool_name, "", 0), NULL, 0, NULL, NULL));
    case SRV_EV_TOOL_ARGS:
        sse->args_sent[c][t] += ev->len;
        return send_json(out, chunk(sse, c, tool_delta(ev->tool_index, NULL, NULL, ev->text, ev->len), NULL, 0, NULL, NULL));
    case SRV_EV_TOOL_END: {
        /* what the arguments' deltas have not said yet (a call closed at the end of output) */
        size_t sent = sse->args_sent[c][t];
        if (ev->len <= sent) return 0;
        sse->args_sent[c][t] = ev->len;
        return send_json(out, chunk(sse, c, tool_delta(ev->tool_index, NULL, NULL, ev->text + sent, ev->len - sent), NULL,
                                    0, NULL, NULL));
    }
    case SRV_EV_LOGPROB: {
        json_t *e = json_loads(ev->text, 0, NULL);
        if (!e) return -1;
        if (!chat) {
            json_t *one = json_array();
            json_array_append_new(one, e);
            json_t *lp = legacy_logprobs(one);
            json_decref(one);
            return send_json(out, chunk(sse, c, NULL, "", 0, lp, NULL));
        }
        return send_json(out, chunk(sse, c, json_object(), NULL, 0, json_pack("{s:[o]}", "content", e), NULL));
    }
    case SRV_EV_DONE:
        sse->prompt_tokens = ev->prompt_tokens;
        sse->cached_tokens = ev->cached_tokens;
        sse->completion_tokens += ev->completion_tokens;
        if (send_json(out, chunk(sse, c, json_object(), "", 0, NULL, srv_finish_name(ev->finish)))) return -1;
        break;
    case SRV_EV_ERROR: {
        srv_error err;
        srv_fail(&err, 500, NULL, "%s", ev->text ? ev->text : "generation failed");
        char *e = srv_error_json(&err);
        if (!e) return -1;
        int rc = srv_buf_append(out, "data: ", 6) || srv_buf_append(out, e, strlen(e)) || srv_buf_append(out, "\n\n", 2);
        free(e);
        if (rc) return -1;
        break;
    }
    }
    if (++sse->choices_done < sse->n_choices) return 0;
    if (sse->include_usage) {
        json_t *u = json_pack("{s:s, s:s, s:i, s:s, s:[], s:o}", "id", sse->meta.id, "object",
                              chat ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)sse->meta.created,
                              "model", sse->meta.model, "choices", "usage",
                              usage_json(sse->prompt_tokens, sse->completion_tokens, sse->cached_tokens));
        if (send_json(out, u)) return -1;
    }
    return srv_buf_append(out, "data: [DONE]\n\n", 14);
}
