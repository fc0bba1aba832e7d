/* http.c: the HTTP side of the server on libmicrohttpd (a thread per connection,
 * HTTP/1.1 keep-alive): binding, routing, the API key (every route but /health),
 * CORS (off unless an origin is given), the body-size limit and the body-upload
 * timeout, OpenAI error JSON, and the generation routes: a request is parsed,
 * tokenized, handed to the scheduler, then either collected into one JSON reply
 * (the connection is watched so a client that leaves cancels its job) or
 * streamed as server-sent events from a content-reader callback (a client that
 * leaves makes MHD free the response, which cancels the job). With --server-tools,
 * chat requests go through the tool loop (toolloop.c) the same two ways. */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { POLL_MS = 500, KEEPALIVE_MS = 5000, MAX_TOKENIZE_IDS = 1 << 20 };

struct srv_http {
    struct MHD_Daemon *daemon;
    srv_http_params p;
    int port;
    atomic_int ready, draining;
    srv_sched *sched;
    srv_tools *tools;    /* --server-tools, or NULL */
    const g4_vocab *vocab;
    const char *chat_template;
    const char *model_name;
    int n_ctx, max_tokens, vocab_size;
    long created;
    srv_metrics metrics;
    atomic_uint_fast64_t next_id;
    atomic_int open_streams;   /* streamed responses MHD still holds (not yet sent to their end) */
};

/* One request on a connection (MHD's *con_cls). */
typedef struct {
    srv_buf body;
    double t_start;
    srv_route route;
    bool too_large, answered;
} request_ctx;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool srv_host_is_loopback(const char *host) {
    if (!strcmp(host, "localhost") || !strcmp(host, "::1")) return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* ---- responses ---- */

static void add_cors(srv_http *h, struct MHD_Connection *c, struct MHD_Response *r) {
    if (!h->p.cors_origin) return;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    bool any = !strcmp(h->p.cors_origin, "*");
    if (!any && (!origin || strcmp(origin, h->p.cors_origin))) return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", any ? "*" : h->p.cors_origin);
    MHD_add_response_header(r, "Vary", "Origin");
}

/* Queues body (taken over, may be NULL: out of memory) with a status. */
static enum MHD_Result send_body(srv_http *h, struct MHD_Connection *c, request_ctx *rq, int status, char *body,
                                 const char *type) {
    static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":500}}";
    if (!body) {
        status = 500;
        type = "application/json";
    }
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
                                   : MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    add_cors(h, c, r);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result res = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    srv_metrics_count(&h->metrics, rq->route, status, now() - rq->t_start);
    return res;
}

static enum MHD_Result send_json(srv_http *h, struct MHD_Connection *c, request_ctx *rq, int status, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return send_body(h, c, rq, status, s, "application/json");
}

static enum MHD_Result send_error(srv_http *h, struct MHD_Connection *c, request_ctx *rq, const srv_error *err) {
    return send_body(h, c, rq, err->status, srv_error_json(err), "application/json");
}

static enum MHD_Result fail(srv_http *h, struct MHD_Connection *c, request_ctx *rq, int status, const char *fmt,
                            const char *arg) {
    srv_error err;
    srv_fail(&err, status, NULL, fmt, arg);
    return send_error(h, c, rq, &err);
}

/* ---- routing ---- */

typedef struct {
    const char *path;
    srv_route route;
    const char *method;
} route_def;

static const route_def routes[] = {
    {"/v1/chat/completions", SRV_ROUTE_CHAT, "POST"}, {"/chat/completions", SRV_ROUTE_CHAT, "POST"},
    {"/v1/completions", SRV_ROUTE_COMPLETIONS, "POST"}, {"/completions", SRV_ROUTE_COMPLETIONS, "POST"},
    {"/v1/models", SRV_ROUTE_MODELS, "GET"},          {"/models", SRV_ROUTE_MODELS, "GET"},
    {"/health", SRV_ROUTE_HEALTH, "GET"},             {"/metrics", SRV_ROUTE_METRICS, "GET"},
    {"/tokenize", SRV_ROUTE_TOKENIZE, "POST"},        {"/detokenize", SRV_ROUTE_DETOKENIZE, "POST"},
};

static const route_def *find_route(const char *url) {
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (!strcmp(url, routes[i].path)) return &routes[i];
    return NULL;
}

static bool authorized(srv_http *h, struct MHD_Connection *c) {
    if (!h->p.api_key) return true;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *key = NULL;
    if (auth && !strncasecmp(auth, "Bearer ", 7)) key = auth + 7;
    if (!key) key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
    if (!key) return false;
    size_t a = strlen(key), b = strlen(h->p.api_key);
    return a == b && CRYPTO_memcmp(key, h->p.api_key, a) == 0;
}

/* ---- generation ---- */

typedef struct {
    srv_http *h;
    srv_stream *stream;        /* a plain request's job, or NULL */
    srv_toolloop *loop;        /* or the tool loop of a chat request (--server-tools) */
    srv_sse sse;
    srv_buf out;
    size_t off;
    bool finished;
    double last_send;
} sse_reader_ctx;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_reader_ctx *rd = cls;
    for (;;) {
        if (rd->off < rd->out.len) {
            size_t n = rd->out.len - rd->off < max ? rd->out.len - rd->off : max;
            memcpy(buf, rd->out.data + rd->off, n);
            rd->off += n;
            if (rd->off == rd->out.len) rd->off = rd->out.len = 0;
            rd->last_send = now();
            return (ssize_t)n;
        }
        if (rd->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (rd->loop) {
            int rc = srv_toolloop_sse(rd->loop, &rd->sse, &rd->out, POLL_MS);
            if (rc < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
            if (rc > 0) rd->finished = true;
            if (!rd->out.len && !rd->finished && now() - rd->last_send > KEEPALIVE_MS * 1e-3 &&
                srv_buf_append(&rd->out, ": keep-alive\n\n", 14))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        srv_event *ev = srv_stream_pop(rd->stream, POLL_MS);
        if (!ev) {
            /* an SSE comment now and then: a client that left is noticed when it fails */
            if (now() - rd->last_send > KEEPALIVE_MS * 1e-3 && srv_buf_append(&rd->out, ": keep-alive\n\n", 14))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        int rc = srv_sse_event(&rd->sse, ev, &rd->out);
        srv_event_free(ev);
        if (rc) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (rd->sse.choices_done >= rd->sse.n_choices) rd->finished = true;
    }
}

static void sse_free(void *cls) {
    sse_reader_ctx *rd = cls;
    if (!rd->finished && rd->stream) srv_stream_cancel(rd->stream); /* the client left: free its slot */
    atomic_fetch_sub(&rd->h->open_streams, 1); /* MHD is done with the response */
    srv_stream_unref(rd->stream);
    srv_toolloop_free(rd->loop); /* cancels what still runs */
    srv_buf_free(&rd->out);
    free(rd);
}

/* The client closed its side (a non-streaming request's connection). */
static bool client_gone(void *user) {
    struct MHD_Connection *c = user;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    char byte;
    ssize_t n = recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static srv_reply_meta reply_meta(srv_http *h, srv_kind kind) {
    srv_reply_meta meta = {.created = (long)time(NULL), .model = h->model_name, .kind = kind};
    snprintf(meta.id, sizeof meta.id, "%s-%016llx", kind == SRV_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)(atomic_fetch_add(&h->next_id, 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)meta.created));
    return meta;
}

/* Answers with the SSE response read from rd (taken over; rd->sse set up). */
static enum MHD_Result send_sse(srv_http *h, struct MHD_Connection *c, request_ctx *rq, sse_reader_ctx *rd) {
    rd->h = h;
    rd->last_send = now();
    atomic_fetch_add(&h->open_streams, 1);
    if (srv_sse_start(&rd->sse, &rd->out)) {
        sse_free(rd);
        return fail(h, c, rq, 500, "out of memory%s", "");
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, rd, sse_free);
    if (!r) {
        sse_free(rd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    add_cors(h, c, r);
    enum MHD_Result res = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    rq->answered = true;
    srv_metrics_count(&h->metrics, rq->route, 200, now() - rq->t_start);
    return res;
}

/* A collected (non-streaming) body, or the error; 499: nobody is left to answer. */
static enum MHD_Result send_collected(srv_http *h, struct MHD_Connection *c, request_ctx *rq, char *body,
                                      const srv_error *err) {
    if (!body && err->status == 499) {
        srv_metrics_count(&h->metrics, rq->route, 499, now() - rq->t_start);
        rq->answered = true;
        return MHD_NO;
    }
    return body ? send_body(h, c, rq, 200, body, "application/json") : send_error(h, c, rq, err);
}

/* A chat request with --server-tools: the tool loop, collected or streamed. */
static enum MHD_Result generate_with_tools(srv_http *h, struct MHD_Connection *c, request_ctx *rq) {
    srv_error err;
    srv_limits lim = {.model_name = h->model_name, .vocab_size = h->vocab_size, .max_tokens = h->max_tokens};
    srv_toolloop *loop = srv_toolloop_start(h->tools, h->sched, h->vocab, h->chat_template, &lim,
                                            rq->body.data ? rq->body.data : "", rq->body.len, &err);
    if (!loop) return send_error(h, c, rq, &err);
    srv_reply_meta meta = reply_meta(h, SRV_CHAT);
    if (!srv_toolloop_request(loop)->stream) {
        char *body = srv_toolloop_collect(loop, &meta, POLL_MS, client_gone, c, &err);
        srv_toolloop_free(loop);
        return send_collected(h, c, rq, body, &err);
    }
    sse_reader_ctx *rd = calloc(1, sizeof *rd);
    if (!rd) {
        srv_toolloop_free(loop);
        return fail(h, c, rq, 500, "out of memory%s", "");
    }
    rd->loop = loop;
    srv_sse_init(&rd->sse, &meta, srv_toolloop_request(loop));
    return send_sse(h, c, rq, rd);
}

static enum MHD_Result generate(srv_http *h, struct MHD_Connection *c, request_ctx *rq, srv_kind kind) {
    if (kind == SRV_CHAT && h->tools) return generate_with_tools(h, c, rq);
    srv_error err;
    srv_request req;
    srv_limits lim = {.model_name = h->model_name, .vocab_size = h->vocab_size, .max_tokens = h->max_tokens};
    if (srv_request_parse(&req, kind, rq->body.data ? rq->body.data : "", rq->body.len, &lim, &err))
        return send_error(h, c, rq, &err);
    int32_t *ids = NULL;
    int n = srv_request_prompt(&req, h->vocab, h->chat_template, &ids, &err);
    if (n < 0) {
        srv_request_free(&req);
        return send_error(h, c, rq, &err);
    }
    int n_choices = req.n;
    bool stream_mode = req.stream;
    srv_stream *s = srv_stream_new(&req, ids, n, n_choices);
    if (!s) {
        srv_request_free(&req);
        free(ids);
        return fail(h, c, rq, 500, "out of memory%s", "");
    }
    if (srv_sched_submit(h->sched, s, &err)) {
        srv_stream_unref(s);
        return send_error(h, c, rq, &err);
    }
    srv_reply_meta meta = reply_meta(h, kind);
    if (!stream_mode) {
        char *body = srv_response_collect(s, &meta, POLL_MS, client_gone, c, &err);
        srv_stream_unref(s);
        return send_collected(h, c, rq, body, &err);
    }
    sse_reader_ctx *rd = calloc(1, sizeof *rd);
    if (!rd) {
        srv_stream_cancel(s);
        srv_stream_unref(s);
        return fail(h, c, rq, 500, "out of memory%s", "");
    }
    rd->stream = s;
    srv_sse_init(&rd->sse, &meta, srv_stream_request(s));
    return send_sse(h, c, rq, rd);
}

/* ---- the small routes ---- */

static enum MHD_Result models(srv_http *h, struct MHD_Connection *c, request_ctx *rq) {
    json_t *m = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i}", "id", h->model_name, "object", "model", "created",
                          (json_int_t)h->created, "owned_by", "gemma4", "root", h->model_name, "max_model_len", h->n_ctx);
    return send_json(h, c, rq, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", m));
}

/* Loads the body as a JSON object, or answers 400 and returns NULL. */
static json_t *body_object(srv_http *h, struct MHD_Connection *c, request_ctx *rq, enum MHD_Result *res) {
    json_error_t je;
    json_t *o = json_loadb(rq->body.data ? rq->body.data : "", rq->body.len, JSON_REJECT_DUPLICATES, &je);
    if (json_is_object(o)) return o;
    json_decref(o);
    srv_error err;
    srv_fail(&err, 400, NULL, "the body must be a JSON object (%s)", o ? "got another value" : je.text);
    *res = send_error(h, c, rq, &err);
    return NULL;
}

static enum MHD_Result tokenize(srv_http *h, struct MHD_Connection *c, request_ctx *rq) {
    enum MHD_Result res;
    json_t *body = body_object(h, c, rq, &res);
    if (!body) return res;
    srv_error err = {0};
    json_t *text = json_object_get(body, "content");
    if (!text) text = json_object_get(body, "prompt");
    json_t *add = json_object_get(body, "add_special"), *special = json_object_get(body, "parse_special");
    int32_t *ids = NULL;
    int n = -1;
    if (json_object_get(body, "messages")) {
        srv_request req;
        srv_limits lim = {.model_name = h->model_name, .vocab_size = h->vocab_size, .max_tokens = h->max_tokens};
        if (!srv_request_parse(&req, SRV_CHAT, rq->body.data, rq->body.len, &lim, &err)) {
            n = srv_request_prompt(&req, h->vocab, h->chat_template, &ids, &err);
            srv_request_free(&req);
        }
    } else if (!json_is_string(text)) {
        srv_fail(&err, 400, "content", "give the text to tokenize as a string \"content\" (or \"prompt\"), or \"messages\"");
    } else if ((add && !json_is_boolean(add)) || (special && !json_is_boolean(special))) {
        srv_fail(&err, 400, "add_special", "add_special and parse_special must be true or false");
    } else {
        unsigned flags = (add && json_is_false(add) ? 0 : G4_TOKENIZE_ADD_BOS) | (json_is_true(special) ? G4_TOKENIZE_SPECIAL : 0);
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        n = g4_tokenize(h->vocab, s, len, flags, NULL, 0);
        if (n < 0 || n > MAX_TOKENIZE_IDS) {
            srv_fail(&err, 400, "content", "the text cannot be tokenized: %s", n < 0 ? g4_last_error() : "too long");
            n = -1;
        } else if (!(ids = malloc((size_t)(n ? n : 1) * sizeof *ids)) || g4_tokenize(h->vocab, s, len, flags, ids, n) != n) {
            srv_fail(&err, 500, NULL, "out of memory");
            n = -1;
        }
    }
    json_decref(body);
    if (n < 0) {
        free(ids);
        return send_error(h, c, rq, &err);
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
    free(ids);
    return send_json(h, c, rq, 200, json_pack("{s:o, s:i, s:i}", "tokens", arr, "count", n, "max_model_len", h->n_ctx));
}

static enum MHD_Result detokenize(srv_http *h, struct MHD_Connection *c, request_ctx *rq) {
    enum MHD_Result res;
    json_t *body = body_object(h, c, rq, &res);
    if (!body) return res;
    json_t *toks = json_object_get(body, "tokens");
    srv_error err = {0};
    srv_buf text = {0};
    g4_detokenizer *d = NULL;
    if (!json_is_array(toks)) srv_fail(&err, 400, "tokens", "tokens must be an array of token ids");
    else if (!(d = g4_detokenizer_new(h->vocab, 0)) || srv_buf_append(&text, "", 0)) srv_fail(&err, 500, NULL, "out of memory");
    size_t i;
    json_t *v;
    char piece[4096];
    if (d) json_array_foreach(toks, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= h->vocab_size) {
            srv_fail(&err, 400, "tokens", "tokens[%zu] is not a token id in [0, %d)", i, h->vocab_size);
            break;
        }
        int n = g4_detokenize(d, (int32_t)json_integer_value(v), piece, sizeof piece);
        if (n > 0 && srv_buf_append(&text, piece, (size_t)n)) {
            srv_fail(&err, 500, NULL, "out of memory");
            break;
        }
    }
    int n;
    while (!err.status && d && (n = g4_detokenize_flush(d, piece, sizeof piece)) > 0) srv_buf_append(&text, piece, (size_t)n);
    g4_detokenizer_free(d);
    json_decref(body);
    if (err.status) {
        srv_buf_free(&text);
        return send_error(h, c, rq, &err);
    }
    json_t *s = json_stringn(text.data, text.len);
    srv_buf_free(&text);
    if (!s) s = json_string("");
    return send_json(h, c, rq, 200, json_pack("{s:O, s:o}", "content", s, "prompt", s));
}

static enum MHD_Result health(srv_http *h, struct MHD_Connection *c, request_ctx *rq) {
    if (atomic_load(&h->draining)) return send_json(h, c, rq, 503, json_pack("{s:s}", "status", "shutting down"));
    if (!atomic_load(&h->ready)) return send_json(h, c, rq, 503, json_pack("{s:s}", "status", "loading"));
    return send_json(h, c, rq, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- the access handler ---- */

static enum MHD_Result dispatch(srv_http *h, struct MHD_Connection *c, request_ctx *rq, const char *url,
                                const char *method) {
    const route_def *rt = find_route(url);
    if (!strcmp(method, "OPTIONS") && h->p.cors_origin) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        add_cors(h, c, r);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, x-api-key");
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        enum MHD_Result res = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        rq->answered = true;
        return res;
    }
    if (rt && rt->route == SRV_ROUTE_HEALTH && !strcmp(method, "GET")) return health(h, c, rq);
    if (!authorized(h, c)) return fail(h, c, rq, 401, "a valid API key is required: send it as \"Authorization: Bearer KEY\"%s", "");
    if (!rt) return fail(h, c, rq, 404, "there is no route %.200s", url);
    if (strcmp(method, rt->method)) {
        srv_error err;
        srv_fail(&err, 405, NULL, "%.200s takes %s, not %.20s", url, rt->method, method);
        return send_error(h, c, rq, &err);
    }
    if (rt->route == SRV_ROUTE_METRICS)
        return send_body(h, c, rq, 200, srv_metrics_render(&h->metrics, atomic_load(&h->ready) ? h->sched : NULL, h->model_name),
                         "text/plain; version=0.0.4");
    if (atomic_load(&h->draining)) return fail(h, c, rq, 503, "the server is shutting down%s", "");
    if (!atomic_load(&h->ready)) return fail(h, c, rq, 503, "the model is still loading: retry when /health says ok%s", "");
    switch (rt->route) {
    case SRV_ROUTE_CHAT: return generate(h, c, rq, SRV_CHAT);
    case SRV_ROUTE_COMPLETIONS: return generate(h, c, rq, SRV_COMPLETION);
    case SRV_ROUTE_MODELS: return models(h, c, rq);
    case SRV_ROUTE_TOKENIZE: return tokenize(h, c, rq);
    case SRV_ROUTE_DETOKENIZE: return detokenize(h, c, rq);
    default: return fail(h, c, rq, 404, "there is no route %.200s", url);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    srv_http *h = cls;
    request_ctx *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->t_start = now();
        const route_def *rt = find_route(url);
        rq->route = rt ? rt->route : SRV_ROUTE_OTHER;
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->p.max_body) { /* refused before the body is sent (no 100 Continue) */
            srv_error err;
            srv_fail(&err, 413, NULL, "the body of %.20s bytes exceeds the limit of %zu bytes", cl, h->p.max_body);
            return send_error(h, c, rq, &err);
        }
        return MHD_YES;
    }
    if (rq->answered) { /* answered early (413, 408): drop what else comes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!rq->too_large && rq->body.len + n > h->p.max_body) rq->too_large = true;
        if (rq->too_large) {
            srv_error err;
            srv_fail(&err, 413, NULL, "the body exceeds the limit of %zu bytes", h->p.max_body);
            return send_error(h, c, rq, &err);
        }
        if (now() - rq->t_start > h->p.timeout_s) {
            srv_error err;
            srv_fail(&err, 408, NULL, "the body took longer than %d s to arrive", h->p.timeout_s);
            return send_error(h, c, rq, &err);
        }
        return srv_buf_append(&rq->body, upload, n) ? MHD_NO : MHD_YES;
    }
    if (rq->too_large) {
        srv_error err;
        srv_fail(&err, 413, NULL, "the body exceeds the limit of %zu bytes", h->p.max_body);
        return send_error(h, c, rq, &err);
    }
    return dispatch(h, c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    request_ctx *rq = *con_cls;
    if (!rq) return;
    srv_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- lifecycle ---- */

srv_http *srv_http_start(const srv_http_params *params, char *err, size_t err_size) {
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return snprintf(err, err_size, "out of memory"), NULL;
    h->p = *params;
    if (!h->p.host) h->p.host = "127.0.0.1";
    srv_metrics_init(&h->metrics);
    atomic_init(&h->ready, 0);
    atomic_init(&h->draining, 0);
    atomic_init(&h->next_id, 1);
    atomic_init(&h->open_streams, 0);
    h->created = (long)time(NULL);
    if (!srv_host_is_loopback(h->p.host) && !h->p.api_key && !h->p.insecure) {
        snprintf(err, err_size,
                 "refusing to serve on %s without an API key: give --api-key (or --api-key-file), or --insecure to "
                 "serve it open to the network", h->p.host);
        free(h);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", h->p.port);
    int gai = getaddrinfo(h->p.host, port, &hints, &ai);
    if (gai) {
        snprintf(err, err_size, "cannot resolve --host %s: %s", h->p.host, gai_strerror(gai));
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, (uint16_t)h->p.port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->p.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)h->p.max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        snprintf(err, err_size, "cannot listen on %s port %d (in use, or not allowed)", h->p.host, h->p.port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : h->p.port;
    return h;
}

void srv_http_ready(srv_http *h, srv_sched *sched, const g4_model *model, const char *chat_template,
                    const char *model_name, int n_ctx, int max_tokens) {
    h->sched = sched;
    h->vocab = g4_model_vocab(model);
    h->chat_template = chat_template ? chat_template : g4_model_chat_template(model);
    h->vocab_size = g4_vocab_size(h->vocab);
    h->model_name = model_name;
    h->n_ctx = n_ctx;
    h->max_tokens = max_tokens;
    atomic_store(&h->ready, 1);
}

void srv_http_set_tools(srv_http *h, srv_tools *tools) { h->tools = tools; }

void srv_http_drain(srv_http *h) { atomic_store(&h->draining, 1); }

void srv_http_flush_streams(srv_http *h, int timeout_ms) {
    struct timespec tick = {0, 10 * 1000000L};
    for (int waited = 0; atomic_load(&h->open_streams) > 0 && waited < timeout_ms; waited += 10) nanosleep(&tick, NULL);
}
int srv_http_port(const srv_http *h) { return h->port; }

void srv_http_stop(srv_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
