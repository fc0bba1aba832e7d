/* prompt.c: g4_chat_tokenize: a rendered chat prompt as token ids, where only the
 * template's own markup may become special tokens. Message text is untrusted: a
 * user who types "<|turn>" must not open a turn. The request is rendered twice,
 * once as given and once with every special-token string inside untrusted
 * message text blanked to '#' (same length); the special tokens of the blanked
 * rendering, which can only come from the template, are the ones kept, and the
 * text between them is tokenized as plain text. */
#include "gemma4.h"
#include "tokenizer.h"
#include "base/error.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Length of the longest special piece at s[0..n), and its id. */
static size_t special_at(const g4_vocab *v, const char *s, size_t n, int32_t *id) {
    unsigned char b = (unsigned char)s[0];
    for (int32_t i = v->special_start[b]; i < v->special_start[b + 1]; i++) {
        int32_t t = v->special[i];
        size_t len = v->len[t];
        if (len <= n && memcmp(s, v->text + v->off[t], len) == 0) {
            *id = t;
            return len; /* each bucket is ordered longest first */
        }
    }
    return 0;
}

/* A copy of str with every special piece replaced by as many '#'. */
static char *blank_specials(const g4_vocab *v, const char *str, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, str, n);
    out[n] = '\0';
    for (size_t i = 0; i < n;) {
        int32_t id;
        size_t len = special_at(v, out + i, n - i, &id);
        if (len) memset(out + i, '#', len), i += len;
        else i++;
    }
    return out;
}

/* Blanks specials in every string inside j (recursively). */
static int blank_json(const g4_vocab *v, json_t *j) {
    if (json_is_string(j)) {
        char *b = blank_specials(v, json_string_value(j), json_string_length(j));
        int rc = b ? json_string_setn(j, b, json_string_length(j)) : -1;
        free(b);
        return rc;
    }
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (blank_json(v, json_array_get(j, i))) return -1;
    } else if (json_is_object(j)) {
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val)
            if (blank_json(v, val)) return -1;
    }
    return 0;
}

/* A JSON array (messages or tools) with untrusted text blanked. Assistant
 * messages are the model's own output: templates rewrite their markup (e.g. strip
 * thought channels), so they are kept as they are. */
static char *blank_array(const g4_vocab *v, const char *what, const char *array_json) {
    json_error_t err;
    json_t *arr = json_loads(array_json, 0, &err);
    if (!json_is_array(arr)) {
        json_decref(arr);
        g4_error("%s: %s", what, arr ? "not a JSON array" : err.text);
        return NULL;
    }
    char *out = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && (strcmp(role, "assistant") == 0 || strcmp(role, "model") == 0)) continue;
        if (blank_json(v, m)) goto done;
    }
    out = json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY);
done:
    if (!out) g4_error("out of memory");
    json_decref(arr);
    return out;
}

/* Appends ids to a growing array. */
typedef struct {
    int32_t *ids;
    int n, cap;
} id_list;

static int push_text(id_list *l, const g4_vocab *v, const char *s, size_t n) {
    if (!n) return 0;
    for (;;) {
        int got = g4_tokenize(v, s, n, 0, l->ids + l->n, l->cap - l->n);
        if (got < 0) return -1;
        if (l->n + got <= l->cap) {
            l->n += got;
            return 0;
        }
        int cap = l->cap * 2 > l->n + got ? l->cap * 2 : l->n + got;
        int32_t *ids = realloc(l->ids, (size_t)cap * sizeof *ids);
        if (!ids) return g4_error("out of memory");
        l->ids = ids;
        l->cap = cap;
    }
}

int g4_chat_tokenize(const g4_vocab *v, const char *template_src, const g4_chat_request *req, int32_t **ids) {
    *ids = NULL;
    g4_chat_request blanked = *req;
    char *messages = blank_array(v, "messages", req->messages_json ? req->messages_json : "[]");
    char *tools = messages && req->tools_json ? blank_array(v, "tools", req->tools_json) : NULL;
    if (!messages || (req->tools_json && !tools)) {
        free(messages);
        return -1;
    }
    blanked.messages_json = messages;
    blanked.tools_json = tools;
    char *text = g4_chat_render(template_src, req);
    char *mask = text ? g4_chat_render(template_src, &blanked) : NULL;
    free(messages);
    free(tools);
    id_list l = {malloc(256 * sizeof(int32_t)), 0, 256};
    int rc = -1;
    if (!text || !mask) goto done;
    if (!l.ids) { g4_error("out of memory"); goto done; }
    size_t n = strlen(text);
    if (strlen(mask) != n) {
        g4_error("the chat template renders message text that spells special tokens differently; "
                 "it cannot be kept apart from the template's markup");
        goto done;
    }
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        int32_t id;
        size_t len = special_at(v, mask + i, n - i, &id);
        if (!len) { i++; continue; }
        if (push_text(&l, v, text + start, i - start)) goto done;
        if (l.n == l.cap) {
            int32_t *g = realloc(l.ids, (size_t)l.cap * 2 * sizeof *g);
            if (!g) { g4_error("out of memory"); goto done; }
            l.ids = g, l.cap *= 2;
        }
        l.ids[l.n++] = id;
        i += len;
        start = i;
    }
    if (push_text(&l, v, text + start, n - start)) goto done;
    *ids = l.ids;
    l.ids = NULL;
    rc = l.n;
done:
    free(l.ids);
    free(text);
    free(mask);
    return rc;
}
