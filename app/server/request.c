/* request.c: the OpenAI request bodies of /v1/chat/completions and /v1/completions
 * -> srv_request, validated field by field (type, range, size) so that any bytes a
 * client sends end in either a usable request or an OpenAI error with status 400
 * (404 for a model this server does not serve). Also srv_fail / srv_error_json. */
#include "server/server.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PROMPT_IDS = 1 << 20 };

int srv_fail(srv_error *err, int status, const char *param, const char *fmt, ...) {
    err->status = status;
    err->type = status == 401   ? "authentication_error"
                : status == 404 ? "not_found_error"
                : status == 429 ? "rate_limit_error"
                : status >= 500 ? "server_error"
                                : "invalid_request_error";
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *srv_error_json(const srv_error *err) {
    json_t *o = json_pack("{s:{s:s, s:s, s:o, s:i}}", "error", "message", err->message, "type", err->type, "param",
                          err->param[0] ? json_string(err->param) : json_null(), "code", err->status);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- field readers: each returns 0 (absent or valid) or -1 with err ---- */

static int get_number(json_t *body, const char *key, double lo, double hi, float *out, srv_error *err) {
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return srv_fail(err, 400, key, "%s must be a number", key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return srv_fail(err, 400, key, "%s must be in [%g, %g], got %g", key, lo, hi, d);
    *out = (float)d;
    return 0;
}

static int get_int(json_t *body, const char *key, long long lo, long long hi, long long *out, srv_error *err) {
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return srv_fail(err, 400, key, "%s must be an integer", key);
    long long i = json_integer_value(v);
    if (i < lo || i > hi) return srv_fail(err, 400, key, "%s must be in [%lld, %lld], got %lld", key, lo, hi, i);
    *out = i;
    return 0;
}

static int get_bool(json_t *body, const char *key, bool *out, srv_error *err) {
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return srv_fail(err, 400, key, "%s must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int dup_string(const char *s, char **out, srv_error *err) {
    if (!(*out = strdup(s))) return srv_fail(err, 500, NULL, "out of memory");
    return 0;
}

/* ---- sampling, stops, bias: shared by both kinds ---- */

static int parse_stop(json_t *body, srv_request *r, srv_error *err) {
    json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v)) return 0;
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && !json_is_array(v)) return srv_fail(err, 400, "stop", "stop must be a string or an array of strings");
    size_t n = one ? 1 : json_array_size(v);
    if (n > SRV_MAX_STOPS) return srv_fail(err, 400, "stop", "stop holds at most %d strings", SRV_MAX_STOPS);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return srv_fail(err, 400, "stop", "stop[%zu] must be a string", i);
        size_t len = json_string_length(s);
        if (len == 0 || len > SRV_MAX_STOP_LEN || strlen(json_string_value(s)) != len)
            return srv_fail(err, 400, "stop", "stop[%zu] must be 1 to %d bytes without NUL", i, SRV_MAX_STOP_LEN);
        if (dup_string(json_string_value(s), &r->stop[r->n_stop], err)) return -1;
        r->n_stop++;
    }
    return 0;
}

static int parse_bias(json_t *body, srv_request *r, const srv_limits *lim, srv_error *err) {
    json_t *v = json_object_get(body, "logit_bias");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) return srv_fail(err, 400, "logit_bias", "logit_bias must be an object of token id -> bias");
    size_t n = json_object_size(v);
    if (n > SRV_MAX_BIAS) return srv_fail(err, 400, "logit_bias", "logit_bias holds at most %d tokens", SRV_MAX_BIAS);
    if (n && !(r->bias = calloc(n, sizeof *r->bias))) return srv_fail(err, 500, NULL, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        char *end;
        long id = strtol(key, &end, 10);
        if (end == key || *end || id < 0 || id >= lim->vocab_size)
            return srv_fail(err, 400, "logit_bias", "logit_bias key '%.40s' is not a token id in [0, %d)", key,
                            lim->vocab_size);
        if (!json_is_number(val) || !(json_number_value(val) >= -100 && json_number_value(val) <= 100))
            return srv_fail(err, 400, "logit_bias", "logit_bias values must be numbers in [-100, 100]");
        double b = json_number_value(val);
        r->bias[r->n_bias++] = (g4_logit_bias){(int32_t)id, b <= -100 ? -INFINITY : (float)b};
    }
    return 0;
}

static int parse_common(json_t *body, srv_request *r, const srv_limits *lim, srv_error *err) {
    json_t *model = json_object_get(body, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) return srv_fail(err, 400, "model", "model must be a string");
        const char *m = json_string_value(model);
        if (*m && strcmp(m, lim->model_name))
            return srv_fail(err, 404, "model", "the model '%.100s' does not exist: this server serves '%.100s'", m,
                            lim->model_name);
    }
    long long i = -1;
    if (get_number(body, "temperature", 0, 2, &r->temperature, err) || get_number(body, "top_p", 0, 1, &r->top_p, err) ||
        get_number(body, "min_p", 0, 1, &r->min_p, err) ||
        get_number(body, "presence_penalty", -2, 2, &r->presence_penalty, err) ||
        get_number(body, "frequency_penalty", -2, 2, &r->frequency_penalty, err))
        return -1;
    if (r->top_p == 0) return srv_fail(err, 400, "top_p", "top_p must be greater than 0");
    if (get_int(body, "top_k", -1, 1 << 20, &i, err)) return -1;
    r->top_k = i < 0 ? -1 : (int)i; /* -1 is vLLM's "off" as well as unset: both take the default */
    i = -1;
    if (get_int(body, "seed", INT64_MIN, INT64_MAX, &i, err)) return -1;
    if (json_object_get(body, "seed") && !json_is_null(json_object_get(body, "seed")))
        r->seed = i < 0 ? (int64_t)((uint64_t)i & INT64_MAX) : i;
    i = 1;
    if (get_int(body, "n", 1, SRV_MAX_N, &i, err)) return -1;
    r->n = (int)i;
    /* max_completion_tokens wins over the deprecated max_tokens */
    const char *mt = json_object_get(body, "max_completion_tokens") && !json_is_null(json_object_get(body, "max_completion_tokens"))
                         ? "max_completion_tokens"
                         : "max_tokens";
    json_t *mv = json_object_get(body, mt);
    if (mv && !json_is_null(mv)) {
        if (!json_is_integer(mv)) return srv_fail(err, 400, mt, "%s must be an integer", mt);
        long long m = json_integer_value(mv);
        if (m < 1 || m > lim->max_tokens)
            return srv_fail(err, 400, mt, "%s must be in [1, %d], got %lld", mt, lim->max_tokens, m);
        r->max_tokens = (int)m;
    }
    if (get_bool(body, "stream", &r->stream, err)) return -1;
    json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return srv_fail(err, 400, "stream_options", "stream_options must be an object");
        if (get_bool(so, "include_usage", &r->include_usage, err)) return -1;
    }
    if (parse_stop(body, r, err) || parse_bias(body, r, lim, err)) return -1;
    return 0;
}

/* ---- chat ---- */

/* The content of a message: a string, null, or an array of parts whose text parts
 * are joined into one string; other parts (images, audio) are refused. Returns
 * the new content (a new reference) or NULL with err. */
static json_t *normalize_content(json_t *content, size_t idx, srv_error *err) {
    if (!content || json_is_null(content)) return json_null();
    if (json_is_string(content)) return json_incref(content);
    if (!json_is_array(content))
        return srv_fail(err, 400, "messages", "messages[%zu].content must be a string or an array of parts", idx), NULL;
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *type = json_object_get(part, "type");
        if (!json_is_object(part) || !json_is_string(type))
            return srv_fail(err, 400, "messages", "messages[%zu].content[%zu] must be an object with a string \"type\"",
                            idx, i), NULL;
        const char *t = json_string_value(type);
        if (!strcmp(t, "image_url") || !strcmp(t, "input_audio") || !strcmp(t, "audio_url") || !strcmp(t, "image") ||
            !strcmp(t, "video_url"))
            return srv_fail(err, 400, "messages",
                            "messages[%zu].content[%zu] is %s: this server runs the text model only (images and audio "
                            "are not supported yet)", idx, i, t), NULL;
        if (strcmp(t, "text"))
            return srv_fail(err, 400, "messages", "messages[%zu].content[%zu] has the unknown type '%.40s'", idx, i, t),
                   NULL;
        json_t *text = json_object_get(part, "text");
        if (!json_is_string(text))
            return srv_fail(err, 400, "messages", "messages[%zu].content[%zu].text must be a string", idx, i), NULL;
        total += json_string_length(text);
    }
    char *joined = malloc(total + 1);
    if (!joined) return srv_fail(err, 500, NULL, "out of memory"), NULL;
    size_t off = 0;
    json_array_foreach(content, i, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(joined + off, json_string_value(text), json_string_length(text));
        off += json_string_length(text);
    }
    json_t *s = json_stringn_nocheck(joined, off);
    free(joined);
    if (!s) srv_fail(err, 500, NULL, "out of memory");
    return s;
}

static int parse_messages(json_t *body, srv_request *r, srv_error *err) {
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return srv_fail(err, 400, "messages", "messages must be a non-empty array of messages");
    json_t *copy = json_array();
    if (!copy) return srv_fail(err, 500, NULL, "out of memory");
    size_t i;
    json_t *m;
    int rc = 0;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            rc = srv_fail(err, 400, "messages", "messages[%zu] must be an object with a string \"role\"", i);
            break;
        }
        const char *rs = json_string_value(role);
        if (strcmp(rs, "system") && strcmp(rs, "developer") && strcmp(rs, "user") && strcmp(rs, "assistant") &&
            strcmp(rs, "tool")) {
            rc = srv_fail(err, 400, "messages", "messages[%zu].role '%.40s' is not system, developer, user, assistant or tool",
                          i, rs);
            break;
        }
        json_t *calls = json_object_get(m, "tool_calls");
        if (calls && !json_is_null(calls) && !json_is_array(calls)) {
            rc = srv_fail(err, 400, "messages", "messages[%zu].tool_calls must be an array", i);
            break;
        }
        json_t *content = normalize_content(json_object_get(m, "content"), i, err);
        json_t *mc = content ? json_copy(m) : NULL;
        if (!mc || json_object_set_new(mc, "content", content) || json_array_append_new(copy, mc)) {
            json_decref(mc);
            rc = content ? srv_fail(err, 500, NULL, "out of memory") : -1;
            break;
        }
    }
    if (!rc && !(r->messages_json = json_dumps(copy, JSON_COMPACT))) rc = srv_fail(err, 500, NULL, "out of memory");
    json_decref(copy);
    return rc;
}

static int parse_tools(json_t *body, srv_request *r, srv_error *err) {
    json_t *tools = json_object_get(body, "tools");
    bool have_tools = tools && !json_is_null(tools) && json_array_size(tools) > 0;
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools)) return srv_fail(err, 400, "tools", "tools must be an array");
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            json_t *fn = json_object_get(t, "function");
            if (!json_is_object(t) || !json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
                return srv_fail(err, 400, "tools", "tools[%zu] must be {\"type\":\"function\",\"function\":{\"name\":...}}",
                                i);
        }
        if (have_tools && !(r->tools_json = json_dumps(tools, JSON_COMPACT)))
            return srv_fail(err, 500, NULL, "out of memory");
    }
    r->parallel_tool_calls = true;
    if (get_bool(body, "parallel_tool_calls", &r->parallel_tool_calls, err)) return -1;
    json_t *tc = json_object_get(body, "tool_choice");
    r->tool_choice = CHAT_TOOLS_AUTO;
    if (!tc || json_is_null(tc)) return 0;
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (!strcmp(s, "auto")) r->tool_choice = CHAT_TOOLS_AUTO;
        else if (!strcmp(s, "none")) r->tool_choice = CHAT_TOOLS_NONE;
        else if (!strcmp(s, "required")) r->tool_choice = CHAT_TOOLS_REQUIRED;
        else return srv_fail(err, 400, "tool_choice", "tool_choice must be auto, none, required or a named function");
    } else {
        json_t *fn = json_object_get(tc, "function");
        json_t *name = json_object_get(fn, "name");
        if (!json_is_object(tc) || !json_is_string(name))
            return srv_fail(err, 400, "tool_choice", "tool_choice must be {\"type\":\"function\",\"function\":{\"name\":...}}");
        if (json_string_length(name) == 0 || json_string_length(name) >= sizeof r->tool_name)
            return srv_fail(err, 400, "tool_choice", "tool_choice names a function of 1 to %zu bytes",
                            sizeof r->tool_name - 1);
        r->tool_choice = CHAT_TOOLS_NAMED;
        snprintf(r->tool_name, sizeof r->tool_name, "%s", json_string_value(name));
        for (const char *c = r->tool_name; *c; c++)
            if (!(*c == '_' || *c == '-' || *c == '.' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                  (*c >= 'A' && *c <= 'Z')))
                return srv_fail(err, 400, "tool_choice", "tool_choice's function name may hold letters, digits, _ - . only");
        bool found = false;
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            if (!strcmp(json_string_value(json_object_get(json_object_get(t, "function"), "name")), r->tool_name))
                found = true;
        }
        if (!found) return srv_fail(err, 400, "tool_choice", "tool_choice names '%s', which is not in tools", r->tool_name);
    }
    if ((r->tool_choice == CHAT_TOOLS_REQUIRED) && !have_tools)
        return srv_fail(err, 400, "tool_choice", "tool_choice \"required\" needs tools");
    return 0;
}

static int parse_chat(json_t *body, srv_request *r, srv_error *err) {
    if (parse_messages(body, r, err) || parse_tools(body, r, err)) return -1;
    json_t *kw = json_object_get(body, "chat_template_kwargs");
    if (kw && !json_is_null(kw)) {
        if (!json_is_object(kw)) return srv_fail(err, 400, "chat_template_kwargs", "chat_template_kwargs must be an object");
        json_t *et = json_object_get(kw, "enable_thinking");
        if (et && !json_is_boolean(et))
            return srv_fail(err, 400, "chat_template_kwargs", "chat_template_kwargs.enable_thinking must be true or false");
        r->enable_thinking = json_is_true(et);
        if (!(r->kwargs_json = json_dumps(kw, JSON_COMPACT))) return srv_fail(err, 500, NULL, "out of memory");
    }
    json_t *re = json_object_get(body, "reasoning_effort");
    if (re && !json_is_null(re)) {
        if (!json_is_string(re)) return srv_fail(err, 400, "reasoning_effort", "reasoning_effort must be a string");
        if (!kw || !json_object_get(kw, "enable_thinking")) r->enable_thinking = strcmp(json_string_value(re), "none") != 0;
    }
    if (get_bool(body, "logprobs", &r->logprobs, err)) return -1;
    long long tl = 0;
    if (get_int(body, "top_logprobs", 0, SRV_MAX_TOP_LOGPROBS, &tl, err)) return -1;
    r->top_logprobs = (int)tl;
    if (r->top_logprobs && !r->logprobs)
        return srv_fail(err, 400, "top_logprobs", "top_logprobs needs logprobs set to true");
    return 0;
}

/* ---- structured output ---- */

/* response_format ({"type": text | json_object | json_schema}) and llama.cpp's
 * "json_schema" (a schema) and "grammar" (GBNF) fields, on both endpoints: the
 * schema or grammar text the answer must follow (malloc'd into *schema / *grammar). */
static int parse_format(json_t *body, char **schema, char **grammar, srv_error *err) {
    json_t *rf = json_object_get(body, "response_format");
    json_t *js = json_object_get(body, "json_schema"), *gr = json_object_get(body, "grammar");
    json_t *chosen = NULL;
    if (rf && !json_is_null(rf)) {
        json_t *type = json_object_get(rf, "type");
        if (!json_is_object(rf) || !json_is_string(type))
            return srv_fail(err, 400, "response_format", "response_format must be an object with a string \"type\"");
        const char *t = json_string_value(type);
        if (!strcmp(t, "json_object")) {
            if (!(*schema = strdup("{\"type\":\"json_object\"}"))) return srv_fail(err, 500, NULL, "out of memory");
        } else if (!strcmp(t, "json_schema")) {
            json_t *spec = json_object_get(rf, "json_schema");
            chosen = json_object_get(spec, "schema");
            if (!json_is_object(spec) || !(json_is_object(chosen) || json_is_boolean(chosen)))
                return srv_fail(err, 400, "response_format",
                                "response_format json_schema needs {\"json_schema\":{\"name\":...,\"schema\":{...}}}");
        } else if (strcmp(t, "text")) {
            return srv_fail(err, 400, "response_format", "response_format type must be text, json_object or json_schema, not '%.40s'", t);
        }
    }
    if (js && !json_is_null(js)) {
        if (*schema || chosen) return srv_fail(err, 400, "json_schema", "give response_format or json_schema, not both");
        if (!json_is_object(js)) return srv_fail(err, 400, "json_schema", "json_schema must be a JSON Schema object");
        chosen = js;
    }
    if (chosen && !(*schema = json_dumps(chosen, JSON_COMPACT | JSON_ENCODE_ANY))) return srv_fail(err, 500, NULL, "out of memory");
    if (gr && !json_is_null(gr)) {
        if (!json_is_string(gr) || !json_string_length(gr)) return srv_fail(err, 400, "grammar", "grammar must be a GBNF string");
        if (*schema) return srv_fail(err, 400, "grammar", "give a grammar or a JSON schema (response_format), not both");
        if (strlen(json_string_value(gr)) != json_string_length(gr))
            return srv_fail(err, 400, "grammar", "grammar must not contain NUL characters");
        if (!(*grammar = strdup(json_string_value(gr)))) return srv_fail(err, 500, NULL, "out of memory");
    }
    return 0;
}

/* The request's constraint: its schema or grammar for the answer, and its tools
 * with tool_choice; an unsupported schema feature or a bad grammar is a 400 that
 * names it. */
static int plan_constraint(json_t *body, srv_request *r, srv_error *err) {
    char *schema = NULL, *grammar = NULL;
    int rc = parse_format(body, &schema, &grammar, err);
    if (!rc) {
        chat_constraint_spec spec = {
            .json_schema = schema,
            .grammar = grammar,
            .tools_json = r->tool_choice == CHAT_TOOLS_NONE ? NULL : r->tools_json,
            .tool_choice = r->tool_choice,
            .tool_name = r->tool_name,
            .one_call = !r->parallel_tool_calls,
        };
        char why[sizeof err->message];
        const char *param = r->tool_choice == CHAT_TOOLS_REQUIRED || r->tool_choice == CHAT_TOOLS_NAMED ? "tools"
                            : grammar                                                                 ? "grammar"
                                                                                                      : "response_format";
        if (chat_constraint_plan_make(&spec, &r->plan, why, sizeof why) < 0) rc = srv_fail(err, 400, param, "%s", why);
    }
    free(schema);
    free(grammar);
    return rc;
}

/* ---- completions ---- */

static int parse_completion(json_t *body, srv_request *r, srv_error *err) {
    json_t *p = json_object_get(body, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (json_string_length(p) == 0) return srv_fail(err, 400, "prompt", "prompt must not be empty");
        if (strlen(json_string_value(p)) != json_string_length(p))
            return srv_fail(err, 400, "prompt", "prompt must not contain NUL characters");
        if (dup_string(json_string_value(p), &r->prompt, err)) return -1;
    } else if (json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0))) {
        size_t n = json_array_size(p);
        if (n > MAX_PROMPT_IDS) return srv_fail(err, 400, "prompt", "prompt holds more than %d token ids", MAX_PROMPT_IDS);
        if (!(r->prompt_ids = malloc(n * sizeof *r->prompt_ids))) return srv_fail(err, 500, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(p, i);
            if (!json_is_integer(v)) return srv_fail(err, 400, "prompt", "prompt[%zu] must be a token id", i);
            r->prompt_ids[i] = (int32_t)json_integer_value(v); /* the range is checked against the vocabulary below */
        }
        r->n_prompt_ids = (int)n;
    } else {
        return srv_fail(err, 400, "prompt", "prompt must be a non-empty string or an array of token ids");
    }
    if (get_bool(body, "echo", &r->echo, err)) return -1;
    json_t *lp = json_object_get(body, "logprobs");
    if (lp && !json_is_null(lp)) {
        if (!json_is_integer(lp) || json_integer_value(lp) < 0 || json_integer_value(lp) > SRV_MAX_TOP_LOGPROBS)
            return srv_fail(err, 400, "logprobs", "logprobs must be an integer in [0, %d]", SRV_MAX_TOP_LOGPROBS);
        r->logprobs = true;
        r->top_logprobs = (int)json_integer_value(lp);
    }
    json_t *suffix = json_object_get(body, "suffix");
    if (suffix && !json_is_null(suffix)) return srv_fail(err, 400, "suffix", "suffix is not supported");
    return 0;
}

int srv_request_parse(srv_request *r, srv_kind kind, const char *body, size_t len, const srv_limits *lim,
                      srv_error *err) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->temperature = r->top_p = r->min_p = NAN;
    r->top_k = -1;
    r->seed = -1;
    r->n = 1;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return srv_fail(err, 400, NULL, "the body is not valid JSON (line %d column %d: %s)", je.line, je.column, je.text);
    int rc;
    if (!json_is_object(root)) rc = srv_fail(err, 400, NULL, "the body must be a JSON object");
    else rc = parse_common(root, r, lim, err) || (kind == SRV_CHAT ? parse_chat(root, r, err) : parse_completion(root, r, err)) ||
              plan_constraint(root, r, err);
    json_decref(root);
    if (!rc && r->n > 1 && r->stream && r->n > SRV_MAX_N) rc = srv_fail(err, 400, "n", "n is at most %d", SRV_MAX_N);
    for (int i = 0; !rc && i < r->n_prompt_ids; i++)
        if (r->prompt_ids[i] < 0 || r->prompt_ids[i] >= lim->vocab_size)
            rc = srv_fail(err, 400, "prompt", "prompt[%d] = %d is not a token id in [0, %d)", i, (int)r->prompt_ids[i],
                          lim->vocab_size);
    if (rc) {
        srv_request_free(r);
        return -1;
    }
    return 0;
}

void srv_request_free(srv_request *r) {
    if (!r) return;
    free(r->messages_json);
    free(r->tools_json);
    free(r->kwargs_json);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->bias);
    chat_constraint_plan_free(&r->plan);
    memset(r, 0, sizeof *r);
}

int srv_request_prompt(const srv_request *r, const g4_vocab *vocab, const char *chat_template, int32_t **ids,
                       srv_error *err) {
    *ids = NULL;
    if (r->kind == SRV_CHAT) {
        g4_chat_request cr = {
            .messages_json = r->messages_json,
            .tools_json = r->tool_choice == CHAT_TOOLS_NONE ? NULL : r->tools_json,
            .kwargs_json = r->kwargs_json,
            .add_generation_prompt = 1,
            .enable_thinking = r->enable_thinking,
        };
        int n = g4_chat_tokenize(vocab, chat_template, &cr, ids);
        if (n < 0) return srv_fail(err, 400, "messages", "the chat template refused the conversation: %s", g4_last_error());
        return n;
    }
    if (r->prompt_ids) {
        if (!(*ids = malloc((size_t)r->n_prompt_ids * sizeof **ids))) return srv_fail(err, 500, NULL, "out of memory");
        memcpy(*ids, r->prompt_ids, (size_t)r->n_prompt_ids * sizeof **ids);
        return r->n_prompt_ids;
    }
    size_t len = strlen(r->prompt);
    unsigned flags = G4_TOKENIZE_ADD_BOS | G4_TOKENIZE_SPECIAL;
    int n = g4_tokenize(vocab, r->prompt, len, flags, NULL, 0);
    if (n < 0) return srv_fail(err, 400, "prompt", "the prompt cannot be tokenized: %s", g4_last_error());
    if (!(*ids = malloc((size_t)(n > 0 ? n : 1) * sizeof **ids))) return srv_fail(err, 500, NULL, "out of memory");
    if (g4_tokenize(vocab, r->prompt, len, flags, *ids, n) != n) {
        free(*ids);
        *ids = NULL;
        return srv_fail(err, 500, NULL, "the prompt tokenized differently twice");
    }
    return n;
}
