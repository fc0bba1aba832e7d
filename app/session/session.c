/* session.c: the session document: building, validating and serializing it
 * (sessions/README.md), and the message helpers the UI uses. Files, directories
 * and names are in session_store.c. */
#include "session/session.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and small helpers ----------------------------------------------- */

static int fail(char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* ---- RFC 3339 UTC timestamps -------------------------------------------------- */

static void format_time(time_t t, char out[80]) {
    struct tm tm;
    if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (the fraction is dropped). 0 or -1. */
static int parse_time(const char *s, time_t *out) {
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return -1;
    int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour < 0 || hour > 23 ||
        min < 0 || min > 59 || sec < 0 || sec > 60)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap) return -1;
    size_t i = 19;
    if (s[i] == '.') {
        if (!(s[++i] >= '0' && s[i] <= '9')) return -1;
        while (s[i] >= '0' && s[i] <= '9') i++;
    }
    if (s[i] != 'Z' || s[i + 1] != '\0') return -1;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec};
    *out = timegm(&tm);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void settings_unset(session_settings *st) {
    st->temperature = st->top_p = st->min_p = NAN;
    st->top_k = st->max_tokens = st->seed = -1;
    st->think = -1;
}

static session *session_alloc(void) {
    session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    settings_unset(&s->settings);
    s->messages = json_array();
    s->extra = json_object();
    s->settings_extra = json_object();
    if (!s->messages || !s->extra || !s->settings_extra) {
        session_free(s);
        return NULL;
    }
    return s;
}

session *session_new(const char *name, const char *model, char *err, size_t err_size) {
    if (session_name_check(name, err, err_size)) return NULL;
    session *s = session_alloc();
    if (!s || !(s->model = strdup(model ? model : ""))) {
        session_free(s);
        fail(err, err_size, "out of memory creating session '%s'", name);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    s->created = s->updated = time(NULL);
    return s;
}

void session_free(session *s) {
    if (!s) return;
    json_decref(s->settings_extra);
    json_decref(s->extra);
    json_decref(s->messages);
    free(s->system);
    free(s->model);
    free(s);
}

int session_set_model(session *s, const char *model) {
    char *m = strdup(model ? model : "");
    if (!m) return -1;
    free(s->model);
    s->model = m;
    return 0;
}

int session_set_system(session *s, const char *system) {
    char *m = dup_or_null(system);
    if (system && !m) return -1;
    free(s->system);
    s->system = m;
    return 0;
}

/* ---- validation ------------------------------------------------------------------ */

static int check_string(const json_t *obj, const char *key, bool required, const char *where,
                        char *err, size_t err_size) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return required ? fail(err, err_size, "%s has no \"%s\"", where, key) : 0;
    if (!json_is_string(v)) return fail(err, err_size, "%s.%s must be a string", where, key);
    return 0;
}

static int check_count(const json_t *obj, const char *key, const char *where, char *err, size_t err_size) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(err, err_size, "%s.%s must be a non-negative integer", where, key);
    return 0;
}

static int check_seconds(const json_t *obj, const char *key, const char *where, char *err, size_t err_size) {
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v)))
        return fail(err, err_size, "%s.%s must be a non-negative number", where, key);
    return 0;
}

static int check_stats(const json_t *st, const char *where, char *err, size_t err_size) {
    if (!json_is_object(st)) return fail(err, err_size, "%s must be an object", where);
    if (check_count(st, "prompt_tokens", where, err, err_size) ||
        check_count(st, "completion_tokens", where, err, err_size) ||
        check_seconds(st, "thinking_seconds", where, err, err_size) ||
        check_seconds(st, "seconds", where, err, err_size) ||
        check_seconds(st, "tokens_per_second", where, err, err_size) ||
        check_string(st, "finish_reason", false, where, err, err_size))
        return -1;
    return 0;
}

static int check_tool_calls(const json_t *calls, const char *where, char *err, size_t err_size) {
    if (!json_is_array(calls)) return fail(err, err_size, "%s must be an array", where);
    size_t i;
    const json_t *call;
    char at[160], fn_at[192];
    json_array_foreach(calls, i, call) {
        snprintf(at, sizeof at, "%s[%zu]", where, i);
        if (!json_is_object(call)) return fail(err, err_size, "%s must be an object", at);
        if (check_string(call, "id", true, at, err, err_size)) return -1;
        const json_t *type = json_object_get(call, "type");
        if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
            return fail(err, err_size, "%s.type must be \"function\"", at);
        const json_t *fn = json_object_get(call, "function");
        snprintf(fn_at, sizeof fn_at, "%s.function", at);
        if (!json_is_object(fn)) return fail(err, err_size, "%s must be an object", fn_at);
        if (check_string(fn, "name", true, fn_at, err, err_size) ||
            check_string(fn, "arguments", true, fn_at, err, err_size))
            return -1;
    }
    return 0;
}

/* user and system content: a string, or an array of parts {"type": ..., ...} */
static int check_parts(const json_t *content, const char *where, char *err, size_t err_size) {
    if (json_is_string(content)) return 0;
    if (!json_is_array(content))
        return fail(err, err_size, "%s.content must be a string or an array of parts", where);
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part) {
        if (!json_is_object(part) || !json_is_string(json_object_get(part, "type")))
            return fail(err, err_size, "%s.content[%zu] must be an object with a string \"type\"", where, i);
    }
    return 0;
}

int session_message_check(const json_t *msg, const char *where, char *err, size_t err_size) {
    if (!where) where = "message";
    if (!json_is_object(msg)) return fail(err, err_size, "%s must be an object", where);
    const json_t *role = json_object_get(msg, "role");
    if (!json_is_string(role)) return fail(err, err_size, "%s.role must be a string", where);
    const char *r = json_string_value(role);
    const json_t *content = json_object_get(msg, "content");
    char at[128];
    if (!content) return fail(err, err_size, "%s has no \"content\"", where);
    if (!strcmp(r, "user") || !strcmp(r, "system")) {
        if (check_parts(content, where, err, err_size)) return -1;
    } else if (!strcmp(r, "assistant")) {
        if (!json_is_string(content) && !json_is_null(content))
            return fail(err, err_size, "%s.content must be a string or null", where);
        if (check_string(msg, "reasoning", false, where, err, err_size)) return -1;
        const json_t *calls = json_object_get(msg, "tool_calls");
        snprintf(at, sizeof at, "%s.tool_calls", where);
        if (calls && check_tool_calls(calls, at, err, err_size)) return -1;
        const json_t *stats = json_object_get(msg, "stats");
        snprintf(at, sizeof at, "%s.stats", where);
        if (stats && check_stats(stats, at, err, err_size)) return -1;
    } else if (!strcmp(r, "tool")) {
        if (!json_is_string(content)) return fail(err, err_size, "%s.content must be a string", where);
        if (check_string(msg, "tool_call_id", true, where, err, err_size) ||
            check_string(msg, "name", false, where, err, err_size))
            return -1;
    } else {
        return fail(err, err_size, "%s.role must be \"user\", \"assistant\", \"tool\" or \"system\", not \"%.40s\"",
                    where, r);
    }
    if (strcmp(r, "assistant") && json_object_get(msg, "tool_calls"))
        return fail(err, err_size, "%s: only assistant messages carry \"tool_calls\"", where);
    const json_t *t = json_object_get(msg, "time");
    time_t ignored;
    if (t && (!json_is_string(t) || parse_time(json_string_value(t), &ignored)))
        return fail(err, err_size, "%s.time must be an RFC 3339 UTC time like \"2026-11-28T21:35:01Z\"", where);
    return 0;
}

/* A real setting: null = unset, else a number in [lo, hi]. */
static int read_real(const json_t *settings, const char *key, double lo, double hi, double *out,
                     char *err, size_t err_size) {
    const json_t *v = json_object_get(settings, key);
    if (!v || json_is_null(v)) return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x >= lo && x <= hi))
        return fail(err, err_size, "settings.%s must be a number in [%g, %g] or null", key, lo, hi);
    *out = x;
    return 0;
}

static int read_int(const json_t *settings, const char *key, int64_t lo, int64_t hi, int64_t *out,
                    char *err, size_t err_size) {
    const json_t *v = json_object_get(settings, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(err, err_size, "settings.%s must be an integer in [%lld, %lld] or null", key,
                    (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return 0;
}

static const char *const settings_keys[] = {"temperature", "top_p", "top_k", "min_p", "max_tokens",
                                            "seed", "think", NULL};
static const char *const top_keys[] = {"format", "version", "name", "created", "updated", "model",
                                       "settings", "system", "messages", NULL};

static bool is_listed(const char *key, const char *const *keys) {
    for (; *keys; keys++)
        if (!strcmp(key, *keys)) return true;
    return false;
}

/* Copies every field of FROM not in KEYS into TO. */
static int keep_unknown(json_t *to, const json_t *from, const char *const *keys) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)from, key, v) {
        if (!is_listed(key, keys) && json_object_set(to, key, v)) return -1;
    }
    return 0;
}

static int read_settings(session *s, const json_t *st, char *err, size_t err_size) {
    if (!st || json_is_null(st)) return 0;
    if (!json_is_object(st)) return fail(err, err_size, "settings must be an object");
    session_settings *o = &s->settings;
    if (read_real(st, "temperature", 0, 100, &o->temperature, err, err_size) ||
        read_real(st, "top_p", 0.001, 1, &o->top_p, err, err_size) ||
        read_real(st, "min_p", 0, 1, &o->min_p, err, err_size) ||
        read_int(st, "top_k", 0, 1 << 24, &o->top_k, err, err_size) ||
        read_int(st, "max_tokens", 1, 1 << 24, &o->max_tokens, err, err_size) ||
        read_int(st, "seed", 0, INT64_MAX, &o->seed, err, err_size))
        return -1;
    const json_t *think = json_object_get(st, "think");
    if (think && !json_is_null(think)) {
        if (!json_is_boolean(think)) return fail(err, err_size, "settings.think must be true, false or null");
        o->think = json_is_true(think);
    }
    if (keep_unknown(s->settings_extra, st, settings_keys)) return fail(err, err_size, "out of memory");
    return 0;
}

static int read_time(const json_t *root, const char *key, time_t *out, char *err, size_t err_size) {
    const json_t *v = json_object_get(root, key);
    if (!json_is_string(v) || parse_time(json_string_value(v), out))
        return fail(err, err_size, "\"%s\" must be an RFC 3339 UTC time like \"2026-11-28T21:35:01Z\"", key);
    return 0;
}

/* Fills S from ROOT; -1 with the problem (without the origin) in err. */
static int from_json(session *s, const json_t *root, char *err, size_t err_size) {
    if (!json_is_object(root)) return fail(err, err_size, "not a gemma4 session (the document is not a JSON object)");
    const json_t *format = json_object_get(root, "format");
    if (!json_is_string(format) || strcmp(json_string_value(format), SESSION_FORMAT))
        return fail(err, err_size, "not a gemma4 session (no \"format\": \"%s\")", SESSION_FORMAT);
    const json_t *version = json_object_get(root, "version");
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        return fail(err, err_size, "\"version\" must be a positive integer");
    if (json_integer_value(version) > SESSION_VERSION)
        return fail(err, err_size, "session format version %lld is newer than this gemma4 reads (%d); upgrade gemma4",
                    (long long)json_integer_value(version), SESSION_VERSION);
    const json_t *name = json_object_get(root, "name");
    if (!json_is_string(name)) return fail(err, err_size, "\"name\" must be a string");
    char why[160];
    if (session_name_check(json_string_value(name), why, sizeof why))
        return fail(err, err_size, "\"name\": %s", why);
    snprintf(s->name, sizeof s->name, "%s", json_string_value(name));
    if (read_time(root, "created", &s->created, err, err_size) ||
        read_time(root, "updated", &s->updated, err, err_size))
        return -1;
    const json_t *model = json_object_get(root, "model");
    if (!json_is_string(model)) return fail(err, err_size, "\"model\" must be a string");
    const json_t *system = json_object_get(root, "system");
    if (system && !json_is_null(system) && !json_is_string(system))
        return fail(err, err_size, "\"system\" must be a string or null");
    if (session_set_model(s, json_string_value(model)) ||
        session_set_system(s, json_is_string(system) ? json_string_value(system) : NULL))
        return fail(err, err_size, "out of memory");
    if (read_settings(s, json_object_get(root, "settings"), err, err_size)) return -1;
    json_t *messages = json_object_get(root, "messages");
    if (!json_is_array(messages)) return fail(err, err_size, "\"messages\" must be an array");
    size_t i;
    json_t *msg;
    char where[48];
    json_array_foreach(messages, i, msg) {
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (session_message_check(msg, where, err, err_size)) return -1;
    }
    json_decref(s->messages);
    s->messages = json_incref(messages);
    if (keep_unknown(s->extra, root, top_keys)) return fail(err, err_size, "out of memory");
    return 0;
}

session *session_load_bytes(const char *data, size_t size, const char *origin, char *err, size_t err_size) {
    if (!origin) origin = "session";
    if (size > SESSION_FILE_MAX) {
        fail(err, err_size, "%s: %zu bytes is over the %zu MiB a session may have", origin, size,
             SESSION_FILE_MAX >> 20);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(err, err_size, "%s: not valid JSON (line %d, column %d: %s)", origin, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    session *s = session_alloc();
    char why[400];
    if (!s) {
        snprintf(why, sizeof why, "out of memory");
    } else if (from_json(s, root, why, sizeof why)) {
        session_free(s);
        s = NULL;
    }
    json_decref(root);
    if (!s) fail(err, err_size, "%s: %s", origin, why);
    return s;
}

/* ---- serialization ---------------------------------------------------------------- */

static json_t *real_or_null(double x) {
    return isnan(x) ? json_null() : json_real(x);
}

static json_t *int_or_null(int64_t x) {
    return x < 0 ? json_null() : json_integer(x);
}

json_t *session_to_json(const session *s) {
    char created[80], updated[80];
    format_time(s->created, created);
    format_time(s->updated, updated);
    const session_settings *o = &s->settings;
    json_t *settings = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "temperature", real_or_null(o->temperature), "top_p", real_or_null(o->top_p),
        "top_k", int_or_null(o->top_k), "min_p", real_or_null(o->min_p),
        "max_tokens", int_or_null(o->max_tokens), "seed", int_or_null(o->seed),
        "think", o->think < 0 ? json_null() : json_boolean(o->think));
    if (!settings || json_object_update_missing(settings, s->settings_extra)) {
        json_decref(settings);
        return NULL;
    }
    json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:o, s:o, s:O}",
        "format", SESSION_FORMAT, "version", SESSION_VERSION, "name", s->name,
        "created", created, "updated", updated, "model", s->model ? s->model : "",
        "settings", settings, "system", s->system ? json_string(s->system) : json_null(),
        "messages", s->messages);
    if (!root || json_object_update_missing(root, s->extra)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- messages ------------------------------------------------------------------------ */

json_t *session_message_new(const char *role, const char *content) {
    char now[80];
    format_time(time(NULL), now);
    return json_pack("{s:s, s:o, s:s}", "role", role, "content",
                     content ? json_string(content) : json_null(), "time", now);
}

int session_message_set_stats(json_t *msg, const session_stats *st) {
    json_t *o = json_pack("{s:I, s:I, s:f, s:f, s:f}", "prompt_tokens", (json_int_t)st->prompt_tokens,
                          "completion_tokens", (json_int_t)st->completion_tokens,
                          "thinking_seconds", st->thinking_seconds, "seconds", st->seconds,
                          "tokens_per_second", st->tokens_per_second);
    if (o && st->finish_reason && json_object_set_new(o, "finish_reason", json_string(st->finish_reason))) {
        json_decref(o);
        return -1;
    }
    return o ? json_object_set_new(msg, "stats", o) : -1;
}

int session_append(session *s, json_t *msg, char *err, size_t err_size) {
    if (session_message_check(msg, "message", err, err_size)) {
        json_decref(msg);
        return -1;
    }
    if (json_array_append_new(s->messages, msg)) return fail(err, err_size, "out of memory");
    s->updated = time(NULL);
    return 0;
}

int session_replace_last_assistant(session *s, json_t *msg, char *err, size_t err_size) {
    const char *role = json_string_value(json_object_get(msg, "role"));
    if (!role || strcmp(role, "assistant")) {
        json_decref(msg);
        return fail(err, err_size, "session_replace_last_assistant takes an assistant message");
    }
    size_t n = json_array_size(s->messages);
    const char *last = n ? json_string_value(json_object_get(json_array_get(s->messages, n - 1), "role")) : NULL;
    if (!last || strcmp(last, "assistant")) return session_append(s, msg, err, err_size);
    if (session_message_check(msg, "message", err, err_size)) {
        json_decref(msg);
        return -1;
    }
    if (json_array_set_new(s->messages, n - 1, msg)) return fail(err, err_size, "out of memory");
    s->updated = time(NULL);
    return 0;
}
