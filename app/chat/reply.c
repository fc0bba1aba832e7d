/* reply.c: the assistant message built from a reply's streamed events
 * (chat_reply_*), in the OpenAI form the chat templates read back on the next
 * turn, and appending a message to a conversation's JSON. */
#include "chat/chat.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;   /* NUL-terminated */
    size_t len, cap;
} text;

struct chat_reply {
    text content, reasoning;
    json_t *tool_calls;   /* [{"id", "type", "function": {"name", "arguments"}}] */
};

static int text_append(text *t, const char *s, size_t n) {
    if (n > SIZE_MAX - t->len - 1) return -1;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap = cap > SIZE_MAX / 2 ? t->len + n + 1 : cap * 2;
        char *r = realloc(t->data, cap);
        if (!r) return -1;
        t->data = r;
        t->cap = cap;
    }
    if (n) memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
    return 0;
}

chat_reply *chat_reply_new(void) {
    chat_reply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (!(r->tool_calls = json_array()) || text_append(&r->content, "", 0) || text_append(&r->reasoning, "", 0)) {
        chat_reply_free(r);
        return NULL;
    }
    return r;
}

void chat_reply_free(chat_reply *r) {
    if (!r) return;
    free(r->content.data);
    free(r->reasoning.data);
    json_decref(r->tool_calls);
    free(r);
}

int chat_reply_add(chat_reply *r, const chat_event *ev) {
    switch (ev->type) {
    case CHAT_EVENT_THOUGHT: return text_append(&r->reasoning, ev->text, ev->len);
    case CHAT_EVENT_ANSWER: return text_append(&r->content, ev->text, ev->len);
    case CHAT_EVENT_TOOL_CALL_END: {
        if (ev->cut) return 0;
        json_t *call = json_pack("{s:s, s:s, s:{s:s, s:s%}}", "id", ev->tool_id ? ev->tool_id : "", "type", "function",
                                 "function", "name", ev->tool_name ? ev->tool_name : "", "arguments",
                                 ev->text ? ev->text : "", ev->text ? ev->len : 0);
        return call ? json_array_append_new(r->tool_calls, call) : -1;
    }
    default: return 0;
    }
}

const char *chat_reply_content(const chat_reply *r) { return r->content.data; }
const char *chat_reply_reasoning(const chat_reply *r) { return r->reasoning.data; }
int chat_reply_tool_call_count(const chat_reply *r) { return (int)json_array_size(r->tool_calls); }

char *chat_reply_message_json(const chat_reply *r) {
    bool calls = json_array_size(r->tool_calls) > 0;
    json_t *msg = json_object();
    if (!msg) return NULL;
    /* json_object_set_new fails on a NULL value (out of memory, invalid UTF-8) */
    int bad = json_object_set_new(msg, "role", json_string("assistant"));
    bad |= json_object_set_new(msg, "content", calls && r->content.len == 0 ? json_null()
                                                : json_stringn(r->content.data, r->content.len));
    if (r->reasoning.len) bad |= json_object_set_new(msg, "reasoning", json_stringn(r->reasoning.data, r->reasoning.len));
    if (calls) bad |= json_object_set(msg, "tool_calls", r->tool_calls);
    char *out = bad ? NULL : json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return out;
}

char *chat_messages_append(const char *messages_json, const char *message_json) {
    json_t *msgs = messages_json ? json_loads(messages_json, 0, NULL) : NULL;
    json_t *msg = message_json ? json_loads(message_json, 0, NULL) : NULL;
    char *out = NULL;
    if (json_is_array(msgs) && json_is_object(msg) && !json_array_append(msgs, msg)) out = json_dumps(msgs, JSON_COMPACT);
    json_decref(msg);
    json_decref(msgs);
    return out;
}
