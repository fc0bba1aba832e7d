/* persist.c: the session behind the transcript (app/session): opening or resuming one,
 * autosaving after each user message and each finished or cancelled answer, /save, /load,
 * /sessions, /retry and /edit's edits of the message list, the messages sent to the chat
 * engine, and rebuilding the transcript's blocks from a loaded session. A file that does not
 * load is reported and never written over (session_save refuses it too). */
#include "tui/ui.h"
#include "session/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ERR_MAX = 512 };

static const char *string_field(const json_t *msg, const char *key) {
    const json_t *v = json_object_get(msg, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A copy of s[0..len) that is valid UTF-8 (what JSON needs): each byte that does not start a
 * complete, shortest-form sequence becomes U+FFFD. A cancel can cut a character in half, and
 * pasted input can be anything. */
static char *valid_utf8(const char *s, size_t len) {
    char *out = malloc(len * 3 + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = n > 0 && i + n <= len && c != 0;
        unsigned cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; ok && k < n; k++) {
            ok = (p[i + k] & 0xC0) == 0x80;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (ok) ok = (n == 1 || (n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
                      (n == 4 && cp >= 0x10000 && cp <= 0x10FFFF));
        if (ok) memcpy(o, p + i, n), o += n, i += n;
        else memcpy(o, "\xEF\xBF\xBD", 3), o += 3, i++;
    }
    *o = 0;
    return out;
}

static bool has_messages(const tui_app *a) { return a->session && json_array_size(a->session->messages) > 0; }

/* Autosave (only once the conversation has a message: empty sessions leave no files). */
static void autosave(tui_app *a) {
    char err[ERR_MAX];
    if (!has_messages(a) || a->session_broken) return;
    if (session_save(a->session, a->sessions_dir, err, sizeof err)) tui_note(a, TUI_BLOCK_ERROR, "autosave failed: %s", err);
}

static void settings_to_session(tui_app *a) {
    session_settings *ss = &a->session->settings;
    const chat_settings *cs = &a->settings;
    ss->temperature = isnan(cs->temperature) ? NAN : cs->temperature;
    ss->top_p = isnan(cs->top_p) ? NAN : cs->top_p;
    ss->min_p = isnan(cs->min_p) ? NAN : cs->min_p;
    ss->top_k = cs->top_k;
    ss->max_tokens = cs->max_tokens > 0 ? cs->max_tokens : -1;
    ss->seed = cs->seed;
    ss->think = a->think ? 1 : 0;
    session_set_system(a->session, a->system);
}

static void stats_from_json(tui_block *b, const json_t *stats) {
    const char *finish = string_field(stats, "finish_reason");
    b->has_stats = true;
    b->prompt_tokens = (int)json_integer_value(json_object_get(stats, "prompt_tokens"));
    b->completion_tokens = (int)json_integer_value(json_object_get(stats, "completion_tokens"));
    b->tokens_per_second = json_number_value(json_object_get(stats, "tokens_per_second"));
    b->seconds = json_number_value(json_object_get(stats, "seconds"));
    snprintf(b->finish, sizeof b->finish, "%s", finish ? finish : "stop");
    b->cancelled = finish && !strcmp(finish, "cancelled");
    b->think_seconds = json_number_value(json_object_get(stats, "thinking_seconds"));
    b->think_tokens = (int)json_integer_value(json_object_get(stats, "thinking_tokens"));
}

/* The call with this id in the transcript's last block (an assistant's), or NULL. */
static tui_tool_call *call_of(tui_transcript *t, const char *id) {
    tui_block *b = t->n ? t->v[t->n - 1] : NULL;
    for (int i = 0; id && b && b->kind == TUI_BLOCK_ASSISTANT && i < b->n_tools; i++)
        if (b->tools[i].id && !strcmp(b->tools[i].id, id)) return &b->tools[i];
    return NULL;
}

/* A tool result the agent marks as failed: {"error": ..., "tool": ...}. */
static bool is_error_result(const char *content) {
    json_t *j = content ? json_loads(content, 0, NULL) : NULL;
    bool error = json_is_object(j) && json_is_string(json_object_get(j, "error")) && json_object_get(j, "tool");
    json_decref(j);
    return error;
}

/* The transcript as the session's messages show it. */
static void rebuild_transcript(tui_app *a) {
    tui_transcript_clear(&a->transcript);
    size_t i;
    json_t *msg;
    json_array_foreach(a->session->messages, i, msg) {
        const char *role = string_field(msg, "role"), *content = string_field(msg, "content");
        if (!role) continue;
        if (!strcmp(role, "user")) tui_transcript_add(&a->transcript, TUI_BLOCK_USER, content ? content : "");
        else if (!strcmp(role, "assistant")) {
            tui_block *b = tui_transcript_add(&a->transcript, TUI_BLOCK_ASSISTANT, content);
            if (!b) continue;
            const char *reasoning = string_field(msg, "reasoning");
            if (reasoning) tui_buf_set(&b->reasoning, reasoning);
            size_t k;
            json_t *call;
            json_array_foreach(json_object_get(msg, "tool_calls"), k, call) {
                const json_t *fn = json_object_get(call, "function");
                tui_tool_call *v = realloc(b->tools, (size_t)(b->n_tools + 1) * sizeof *v);
                if (!v) break;
                b->tools = v;
                const char *name = string_field(fn, "name"), *args = string_field(fn, "arguments");
                const char *id = string_field(call, "id");
                v[b->n_tools++] = (tui_tool_call){.name = strdup(name ? name : "?"), .arguments = args ? strdup(args) : NULL,
                                                  .id = id ? strdup(id) : NULL, .done = true};
            }
            const json_t *stats = json_object_get(msg, "stats");
            if (json_is_object(stats)) stats_from_json(b, stats);
        } else if (!strcmp(role, "tool")) {
            const char *name = string_field(msg, "name");
            tui_tool_call *tc = call_of(&a->transcript, string_field(msg, "tool_call_id"));
            if (tc && !tc->result && (tc->result = strdup(content ? content : ""))) {
                tc->result_error = is_error_result(content);
                tui_block_touch(a->transcript.v[a->transcript.n - 1]);
            } else {
                tui_note(a, TUI_BLOCK_NOTE, "⚙ %s → %s", name ? name : "tool", content ? content : "");
            }
        } else if (!strcmp(role, "system")) {
            tui_note(a, TUI_BLOCK_NOTE, "system: %s", content ? content : "");
        }
    }
    a->transcript.scroll = 0;
}

/* After loading: the session's system prompt and thinking apply unless given on the command line. */
static void adopt(tui_app *a, session *s) {
    if (a->session) session_free(a->session);
    a->session = s;
    a->session_broken = false;
    if (s->system && !a->opt.system) {
        free(a->system);
        a->system = strdup(s->system);
    }
    if (s->settings.think >= 0 && a->opt.settings.think < 0) a->think = s->settings.think == 1;
    rebuild_transcript(a);
}

static session *load_named(tui_app *a, const char *name, char *err, size_t err_size) {
    char path[4096];
    if (session_name_check(name, err, err_size)) return NULL;
    if (session_path(path, sizeof path, a->sessions_dir, name)) {
        snprintf(err, err_size, "session name too long: %s", name);
        return NULL;
    }
    return session_load(path, err, err_size);
}

static session *new_session(tui_app *a, char *err, size_t err_size) {
    char name[SESSION_NAME_MAX + 1];
    if (session_auto_name(a->sessions_dir, time(NULL), name)) {
        snprintf(err, err_size, "cannot name a new session in %s", a->sessions_dir);
        return NULL;
    }
    return session_new(name, a->model_label, err, err_size);
}

int tui_persist_open(tui_app *a, const char *resume, bool latest, char **err) {
    char dir[4096], msg[ERR_MAX] = "";
    if (session_default_dir(dir, sizeof dir, msg, sizeof msg) || !(a->sessions_dir = strdup(dir))) {
        *err = strdup(msg[0] ? msg : "out of memory");
        return -1;
    }
    session *s = NULL;
    if (latest) {
        session_info *list = NULL;
        ssize_t n = session_list(a->sessions_dir, &list, msg, sizeof msg);
        if (n > 0 && !list[0].error) s = load_named(a, list[0].name, msg, sizeof msg);
        else if (n >= 0) snprintf(msg, sizeof msg, "--resume: no saved session in %s", a->sessions_dir);
        if (n >= 0) session_list_free(list, (size_t)n);
    } else if (resume) {
        s = load_named(a, resume, msg, sizeof msg);
    } else {
        s = new_session(a, msg, sizeof msg);
        if (s) {
            a->session = s;
            settings_to_session(a);
            return 0;
        }
    }
    if (!s) {
        *err = strdup(msg);
        return -1;
    }
    adopt(a, s);
    session_set_model(a->session, a->model_label);
    return 0;
}

void tui_persist_new(tui_app *a) {
    char err[ERR_MAX];
    autosave(a);
    session *s = new_session(a, err, sizeof err);
    if (!s) {
        tui_note(a, TUI_BLOCK_ERROR, "/new: %s", err);
        return;
    }
    session_free(a->session);
    a->session = s;
    a->session_broken = false;
    settings_to_session(a);
}

int tui_persist_save(tui_app *a, const char *name) {
    char err[ERR_MAX];
    if (name) {
        if (session_name_check(name, err, sizeof err)) {
            tui_note(a, TUI_BLOCK_ERROR, "/save: %s", err);
            return -1;
        }
        snprintf(a->session->name, sizeof a->session->name, "%s", name);
        a->session->file = (session_file_id){0}; /* a different file: check it before replacing it */
        a->session_broken = false;
    }
    settings_to_session(a);
    if (session_save(a->session, a->sessions_dir, err, sizeof err)) {
        tui_note(a, TUI_BLOCK_ERROR, "/save: %s", err);
        return -1;
    }
    tui_note(a, TUI_BLOCK_NOTE, "saved as %s", a->session->name);
    return 0;
}

int tui_persist_load(tui_app *a, const char *name) {
    char err[ERR_MAX];
    session *s = load_named(a, name, err, sizeof err);
    if (!s) {
        tui_note(a, TUI_BLOCK_ERROR, "/load: %s", err);
        return -1;
    }
    autosave(a);
    adopt(a, s);
    session_set_model(a->session, a->model_label);
    tui_note(a, TUI_BLOCK_NOTE, "loaded %s (%zu messages)", name, json_array_size(s->messages));
    return 0;
}

void tui_persist_list(tui_app *a) {
    char err[ERR_MAX];
    session_info *list = NULL;
    ssize_t n = session_list(a->sessions_dir, &list, err, sizeof err);
    if (n < 0) {
        tui_note(a, TUI_BLOCK_ERROR, "/sessions: %s", err);
        return;
    }
    tui_buf b = {0};
    char line[512];
    for (ssize_t i = 0; i < n; i++) {
        if (list[i].error) snprintf(line, sizeof line, "%-24s (does not load: %s)\n", list[i].name, list[i].error);
        else {
            char when[32];
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime_r(&list[i].updated, &tm));
            snprintf(line, sizeof line, "%-24s %s  %3zu msgs  %s\n", list[i].name, when, list[i].message_count,
                     list[i].title ? list[i].title : "");
        }
        tui_buf_append(&b, line, strlen(line));
    }
    session_list_free(list, (size_t)n);
    if (b.len) b.s[--b.len] = 0;
    tui_note(a, TUI_BLOCK_NOTE, "%s", b.len ? b.s : "no saved sessions yet");
    tui_buf_free(&b);
}

void tui_persist_add_user(tui_app *a, const char *text) {
    char err[ERR_MAX];
    char *clean = valid_utf8(text, strlen(text));
    json_t *msg = clean ? session_message_new("user", clean) : NULL;
    free(clean);
    if (!msg || session_append(a->session, msg, err, sizeof err)) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot record the message: %s", msg ? err : "out of memory");
        return;
    }
    autosave(a);
}

void tui_persist_set_assistant(tui_app *a, const tui_block *b, const char *finish) {
    char err[ERR_MAX];
    char *content = valid_utf8(b->content.s ? b->content.s : "", b->content.len);
    char *reasoning = valid_utf8(b->reasoning.s ? b->reasoning.s : "", b->reasoning.len);
    json_t *msg = content && reasoning ? session_message_new("assistant", b->content.len || !b->n_tools ? content : NULL) : NULL;
    if (msg && b->reasoning.len) json_object_set_new(msg, "reasoning", json_string(reasoning));
    free(content), free(reasoning);
    if (!msg) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot record the answer: out of memory");
        return;
    }
    if (b->n_tools) {
        json_t *calls = json_array();
        for (int i = 0; i < b->n_tools; i++) {
            const char *args = b->tools[i].arguments ? b->tools[i].arguments : "{}";
            char *name = valid_utf8(b->tools[i].name, strlen(b->tools[i].name)), *clean_args = valid_utf8(args, strlen(args));
            if (name && clean_args)
                json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", b->tools[i].id ? b->tools[i].id : "",
                                                       "type", "function", "function", "name", name, "arguments", clean_args));
            free(name), free(clean_args);
        }
        json_object_set_new(msg, "tool_calls", calls);
    }
    session_stats stats = {.prompt_tokens = b->prompt_tokens, .completion_tokens = b->completion_tokens,
                           .thinking_seconds = b->think_seconds, .seconds = b->seconds,
                           .tokens_per_second = b->tokens_per_second, .finish_reason = finish};
    session_message_set_stats(msg, &stats);
    json_t *js = json_object_get(msg, "stats");
    if (js && b->think_tokens) json_object_set_new(js, "thinking_tokens", json_integer(b->think_tokens));
    if (session_replace_last_assistant(a->session, msg, err, sizeof err)) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot record the answer: %s", err);
        return;
    }
    autosave(a);
}

void tui_persist_add_tool(tui_app *a, const char *tool_call_id, const char *name, const char *content) {
    char err[ERR_MAX];
    char *clean = valid_utf8(content, strlen(content));
    json_t *msg = clean ? session_message_new("tool", clean) : NULL;
    free(clean);
    if (msg && (json_object_set_new(msg, "tool_call_id", json_string(tool_call_id ? tool_call_id : "")) ||
                (name && json_object_set_new(msg, "name", json_string(name))))) {
        json_decref(msg);
        msg = NULL;
    }
    if (!msg || session_append(a->session, msg, err, sizeof err)) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot record the tool result: %s", msg ? err : "out of memory");
        return;
    }
    autosave(a);
}

void tui_persist_drop_last_turn(tui_app *a, bool keep_user) {
    json_t *m = a->session->messages;
    size_t n = json_array_size(m);
    while (n > 0) {
        const char *role = string_field(json_array_get(m, n - 1), "role");
        bool user = role && !strcmp(role, "user");
        if (user && keep_user) break;
        json_array_remove(m, --n);
        if (user) break;
    }
}

const char *tui_persist_last_user(tui_app *a) {
    json_t *m = a->session->messages;
    for (size_t n = json_array_size(m); n > 0; n--) {
        const json_t *msg = json_array_get(m, n - 1);
        const char *role = string_field(msg, "role");
        if (role && !strcmp(role, "user")) return string_field(msg, "content");
    }
    return NULL;
}

char *tui_persist_messages_json(tui_app *a) {
    static const char *const keep[] = {"role", "content", "reasoning", "tool_calls", "tool_call_id", "name"};
    json_t *out = json_array();
    if (!out) return NULL;
    if (a->system) json_array_append_new(out, json_pack("{s:s, s:s}", "role", "system", "content", a->system));
    size_t i;
    json_t *msg;
    json_array_foreach(a->session->messages, i, msg) {
        json_t *copy = json_object();
        for (size_t k = 0; k < sizeof keep / sizeof *keep; k++) {
            json_t *v = json_object_get(msg, keep[k]);
            if (v) json_object_set(copy, keep[k], v);
        }
        json_array_append_new(out, copy);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

void tui_persist_set_model(tui_app *a, const char *model) {
    session_set_model(a->session, model);
    autosave(a);
}

void tui_persist_set_settings(tui_app *a) {
    settings_to_session(a);
    autosave(a);
}

void tui_persist_close(tui_app *a) {
    if (a->session) {
        settings_to_session(a);
        autosave(a);
        session_free(a->session);
    }
    a->session = NULL;
    free(a->sessions_dir);
    a->sessions_dir = NULL;
}
