/* server.h: the OpenAI-compatible HTTP server behind `gemma4 --serve` (prefix srv_).
 *
 * Reading order: request.c (a request body -> srv_request, validated),
 * stream.c (the events one HTTP request receives from the scheduler),
 * scheduler.c (slots on one g4_context, continuous batching), stops.c (stop
 * strings), response.c (events -> OpenAI JSON and SSE chunks), metrics.c
 * (Prometheus counters), toolloop.c (--server-tools: the Lua tools the server runs
 * itself for chat requests, step after step), http.c (libmicrohttpd: routing, auth,
 * CORS, limits). */
#ifndef G4_SERVER_H
#define G4_SERVER_H

#include "agent/agent.h"
#include "chat/constraint.h"
#include "gemma4.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- Errors: an HTTP status and an OpenAI error object -------------------------- */

typedef struct {
    int status;          /* 400, 401, 404, 413, 422, 429, 500, 503 */
    const char *type;    /* "invalid_request_error", "authentication_error", ... (static) */
    char param[64];      /* the offending field, or "" */
    char message[320];
} srv_error;

/* Fills err and returns -1. */
int srv_fail(srv_error *err, int status, const char *param, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* {"error":{"message","type","param","code"}} (malloc'd; NULL when out of memory). */
char *srv_error_json(const srv_error *err);

/* ---- Requests: /v1/chat/completions and /v1/completions bodies ------------------- */

typedef enum { SRV_CHAT, SRV_COMPLETION } srv_kind;

enum { SRV_MAX_STOPS = 8, SRV_MAX_STOP_LEN = 256, SRV_MAX_N = 16, SRV_MAX_TOP_LOGPROBS = 20, SRV_MAX_BIAS = 1024 };

/* What the validator needs to know about the server. */
typedef struct {
    const char *model_name;  /* the served name; a request naming another model gets 404 */
    int vocab_size;
    int max_tokens;          /* the largest max_tokens a request may ask for */
} srv_limits;

typedef struct {
    srv_kind kind;
    char *messages_json;     /* chat: the messages, text parts joined into strings */
    char *tools_json;        /* chat: the tools array, or NULL */
    char *kwargs_json;       /* chat: chat_template_kwargs, or NULL */
    int enable_thinking;     /* chat: chat_template_kwargs.enable_thinking (or top-level) */
    char *prompt;            /* completion: the prompt text, or NULL when given as ids */
    int32_t *prompt_ids;     /* completion: the prompt as token ids */
    int n_prompt_ids;
    chat_tool_choice tool_choice;
    char tool_name[128];     /* CHAT_TOOLS_NAMED: the function to call */
    bool parallel_tool_calls;
    float temperature, top_p, min_p; /* NAN: the model's default */
    int top_k;               /* -1: the model's default */
    float presence_penalty, frequency_penalty;
    int max_tokens;          /* 0: as many as the context allows (capped by srv_limits) */
    int64_t seed;            /* -1: random */
    int n;                   /* choices */
    char *stop[SRV_MAX_STOPS];
    int n_stop;
    g4_logit_bias *bias;
    int n_bias;
    bool logprobs;
    int top_logprobs;
    bool stream, include_usage;
    bool echo;               /* completion: echo the prompt text */
    chat_constraint_plan plan; /* structured output: response_format, grammar, tool_choice */
} srv_request;

/* Parses and validates a body (any bytes: invalid JSON or UTF-8, wrong types and
 * out-of-range values fail with 400, an unknown model with 404, unsupported
 * content such as images with 400, a response_format schema using a feature
 * structured output does not support with 400 naming it). On success *req owns
 * its strings. */
int srv_request_parse(srv_request *req, srv_kind kind, const char *body, size_t len, const srv_limits *lim,
                      srv_error *err);
void srv_request_free(srv_request *req);
/* The prompt's token ids: the chat rendered with the chat template (tools and
 * kwargs included), or the completion prompt tokenized with <bos> and its markup
 * as special tokens. Returns the count with *ids malloc'd, or -1 with err (400
 * when the template refuses the conversation). */
int srv_request_prompt(const srv_request *req, const g4_vocab *vocab, const char *chat_template, int32_t **ids,
                       srv_error *err);

/* ---- Streams: what one HTTP request receives from its jobs (one per choice) ------ */

typedef enum {
    SRV_EV_REASONING,   /* text */
    SRV_EV_CONTENT,     /* text */
    SRV_EV_TOOL_BEGIN,  /* tool_index, tool_id, tool_name */
    SRV_EV_TOOL_ARGS,   /* tool_index, text: the next piece of the arguments */
    SRV_EV_TOOL_END,    /* tool_index, tool_id, tool_name, text: the whole arguments */
    SRV_EV_LOGPROB,     /* text: one token's OpenAI logprobs entry as compact JSON */
    SRV_EV_DONE,        /* finish, prompt_tokens, completion_tokens, cached_tokens */
    SRV_EV_ERROR,       /* text */
} srv_event_type;

typedef enum { SRV_FINISH_STOP, SRV_FINISH_LENGTH, SRV_FINISH_TOOL_CALLS, SRV_FINISH_CANCELLED } srv_finish;
const char *srv_finish_name(srv_finish f); /* "stop", "length", "tool_calls", "abort" */

typedef struct srv_event {
    struct srv_event *next;
    srv_event_type type;
    int choice;
    char *text;              /* NUL-terminated copy (len bytes) or NULL */
    size_t len;
    int tool_index;
    char tool_id[32];
    char tool_name[128];
    srv_finish finish;
    int prompt_tokens, completion_tokens, cached_tokens;
} srv_event;

typedef struct srv_stream srv_stream;

/* A stream for n_choices jobs, holding req and the prompt ids (both taken over). */
srv_stream *srv_stream_new(srv_request *req, int32_t *ids, int n_ids, int n_choices);
void srv_stream_ref(srv_stream *s);
void srv_stream_unref(srv_stream *s);
const srv_request *srv_stream_request(const srv_stream *s);
const int32_t *srv_stream_ids(const srv_stream *s, int *n);
/* Producer side (the scheduler): queues a copy of ev (text copied); returns -1 when out of memory. */
int srv_stream_push(srv_stream *s, const srv_event *ev);
/* Consumer side: the next event (the caller frees it with srv_event_free), waiting
 * at most timeout_ms; NULL when none came. */
srv_event *srv_stream_pop(srv_stream *s, int timeout_ms);
/* CLOCK_MONOTONIC now + timeout_ms, for pthread_cond_timedwait on the server's
 * condition variables (all made with CLOCK_MONOTONIC). */
struct timespec srv_deadline(int timeout_ms);
void srv_event_free(srv_event *ev);
/* Every choice sent DONE or ERROR and the queue is empty. */
bool srv_stream_finished(srv_stream *s);
/* Asks the scheduler to stop this stream's jobs (client gone, shutdown). */
void srv_stream_cancel(srv_stream *s);
bool srv_stream_cancelled(const srv_stream *s);

/* ---- Stop strings: text streamed up to (not including) the first stop string ----- */

typedef struct {
    char *const *stops;
    int n_stops;
    char *held;              /* text that may be the start of a stop string */
    size_t n_held, cap_held;
    char *sent;              /* what the last feed handed out */
    size_t cap_sent;
    bool hit;
} srv_stops;

void srv_stops_init(srv_stops *st, char *const *stops, int n_stops);
void srv_stops_free(srv_stops *st);
/* Feeds text; *out and *n_out receive the text safe to send (pointing into st, valid
 * until the next call). Returns 1 when a stop string was reached (send *out,
 * then end), 0 otherwise, -1 when out of memory. */
int srv_stops_feed(srv_stops *st, const char *text, size_t len, const char **out, size_t *n_out);
/* The held text at the end of generation (no stop string came). */
void srv_stops_flush(srv_stops *st, const char **out, size_t *n_out);

/* ---- The scheduler: continuous batching on one context --------------------------- */

typedef struct srv_sched srv_sched;

typedef struct {
    int n_slots;             /* sequences decoded together (--parallel) */
    int n_ctx;               /* positions per slot */
    int queue_limit;         /* requests waiting for a slot before 429 */
    int prompt_chunk;        /* prompt tokens evaluated per step, over all slots */
    int threads;             /* CPU threads (0: every core) */
    int gpu_layers, gpu_device; /* g4_context_params' n_gpu_layers and gpu_device */
} srv_sched_params;

srv_sched *srv_sched_new(g4_model *model, const srv_sched_params *params, char *err, size_t err_size);
/* Stops the loop: every job still running or queued ends with finish "abort" and
 * later submits get 503. The scheduler stays valid until srv_sched_free. */
void srv_sched_shutdown(srv_sched *s);
void srv_sched_free(srv_sched *s);
/* Queues one job per choice of the stream. -1 with err (429 queue full, 503
 * shutting down, 400 prompt too long for a slot). */
int srv_sched_submit(srv_sched *s, srv_stream *stream, srv_error *err);
/* Jobs queued or running. */
int srv_sched_load(srv_sched *s);

typedef struct {
    int slots, slots_busy, queued;
    uint64_t prompt_tokens, cached_tokens, generated_tokens, steps, requests_done;
    double busy_seconds;
} srv_sched_stats;
void srv_sched_get_stats(srv_sched *s, srv_sched_stats *out);

/* ---- Responses: OpenAI JSON --------------------------------------------------------- */

typedef struct {
    char id[48];             /* "chatcmpl-..." or "cmpl-..." */
    long created;
    const char *model;
    srv_kind kind;
} srv_reply_meta;

/* The whole non-streaming response from every event of a finished stream
 * (malloc'd JSON; NULL with err when a choice failed or memory ran out). */
char *srv_response_collect(srv_stream *s, const srv_reply_meta *meta, int timeout_ms,
                           bool (*client_gone)(void *), void *user, srv_error *err);
/* Streaming: the SSE bytes (data: {...} and a blank line) for one event, appended to a
 * growing buffer; the role chunk is sent before a choice's first delta. */
typedef struct {
    char *data;
    size_t len, cap;
} srv_buf;
int srv_buf_append(srv_buf *b, const char *s, size_t n);
void srv_buf_free(srv_buf *b);

enum { SRV_SSE_MAX_TOOLS = 32 };

typedef struct {
    srv_reply_meta meta;
    bool include_usage, logprobs;
    const char *echo;        /* completion: the prompt to send first, or NULL */
    bool role_sent[SRV_MAX_N];
    int tool_calls[SRV_MAX_N];
    size_t args_sent[SRV_MAX_N][SRV_SSE_MAX_TOOLS]; /* argument bytes streamed per call */
    int choices_done, n_choices;
    int prompt_tokens, completion_tokens, cached_tokens;
} srv_sse;

void srv_sse_init(srv_sse *sse, const srv_reply_meta *meta, const srv_request *req);
/* The first chunks, sent before any event: each choice's role (chat) or echoed prompt. */
int srv_sse_start(srv_sse *sse, srv_buf *out);
/* Appends the chunks for ev (and, after the last DONE, the usage chunk and
 * "data: [DONE]"); -1 when out of memory. */
int srv_sse_event(srv_sse *sse, const srv_event *ev, srv_buf *out);

/* ---- Metrics ------------------------------------------------------------------------ */

typedef enum { SRV_ROUTE_CHAT, SRV_ROUTE_COMPLETIONS, SRV_ROUTE_MODELS, SRV_ROUTE_HEALTH, SRV_ROUTE_METRICS,
               SRV_ROUTE_TOKENIZE, SRV_ROUTE_DETOKENIZE, SRV_ROUTE_OTHER, SRV_ROUTE_COUNT } srv_route;

/* Request counters, updated from any thread. */
typedef struct {
    atomic_uint_fast64_t by_route_class[SRV_ROUTE_COUNT][5]; /* status 2xx, 4xx but 429, 429, 5xx, 499 (client gone) */
    atomic_uint_fast64_t request_micros;                     /* summed durations */
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
/* Counts one finished request of a route with its status and duration. */
void srv_metrics_count(srv_metrics *m, srv_route route, int status, double seconds);
/* The Prometheus text exposition format (malloc'd; NULL when out of memory);
 * sched may be NULL while the model loads. */
char *srv_metrics_render(srv_metrics *m, srv_sched *sched, const char *model_name);

/* ---- Server-side tools (--server-tools): the loop over steps ------------------------- */

/* What the server offers and runs itself (docs/server.md, "Server-side tools"). */
typedef struct {
    const agent_toolbox *toolbox;
    const agent_policy *policy;  /* allow runs; ask and deny are refused (nobody can be asked) */
    const char *tools_json;      /* the served tools as OpenAI tools JSON */
    int max_steps;               /* generations per request */
    atomic_int running;          /* tool loops (requests) running now */
    atomic_int stop;             /* set at shutdown: running tools are cancelled */
} srv_tools;

typedef struct srv_toolloop srv_toolloop;

/* Parses a chat body with the server's tools added to the client's (the client's
 * tool of the same name wins), validates it like srv_request_parse (n > 1 is a 400)
 * and submits the first step. NULL with err. */
srv_toolloop *srv_toolloop_start(srv_tools *tools, srv_sched *sched, const g4_vocab *vocab,
                                 const char *chat_template, const srv_limits *lim, const char *body, size_t len,
                                 srv_error *err);
/* The first step's request as validated (stream, include_usage, logprobs: what the
 * SSE writer needs; the loop keeps one choice). */
const srv_request *srv_toolloop_request(const srv_toolloop *l);
/* Non-streaming: runs the loop to its end and returns the chat.completion (malloc'd)
 * whose message carries "server_tool_calls"; NULL with err (499 when client_gone
 * said so: the loop is cancelled). */
char *srv_toolloop_collect(srv_toolloop *l, const srv_reply_meta *meta, int timeout_ms, bool (*client_gone)(void *),
                           void *user, srv_error *err);
/* Streaming: waits at most timeout_ms for the loop to move on and appends the SSE
 * bytes of what happened (deltas of every step, "server_tool_call" chunks, the
 * end and [DONE]). Returns 1 once the stream is complete, 0 to call again, -1 when
 * out of memory. */
int srv_toolloop_sse(srv_toolloop *l, srv_sse *sse, srv_buf *out, int timeout_ms);
/* Stops the loop: the running generation and tool calls (client gone, shutdown). */
void srv_toolloop_cancel(srv_toolloop *l);
/* Cancels what still runs, waits for the tool calls and frees the loop. */
void srv_toolloop_free(srv_toolloop *l);

/* ---- The HTTP server ---------------------------------------------------------------- */

typedef struct {
    const char *host;        /* default "127.0.0.1" */
    int port;                /* default 8000 */
    const char *api_key;     /* NULL: no key */
    bool insecure;           /* allow a non-loopback bind without a key */
    const char *cors_origin; /* NULL: no CORS headers */
    size_t max_body;         /* bytes */
    int timeout_s;           /* idle connection and body-upload timeout */
    int max_connections;
} srv_http_params;

typedef struct srv_http srv_http;

/* Binds and starts answering (/health says 503 until srv_http_ready). */
srv_http *srv_http_start(const srv_http_params *params, char *err, size_t err_size);
/* The model is loaded: routes go live. chat_template (NULL: the model's) and
 * model_name are kept by pointer. */
void srv_http_ready(srv_http *h, srv_sched *sched, const g4_model *model, const char *chat_template,
                    const char *model_name, int n_ctx, int max_tokens);
/* Chat requests run the server's own tools (before srv_http_ready; kept by pointer;
 * NULL: none, tool calls go back to the client). */
void srv_http_set_tools(srv_http *h, srv_tools *tools);
/* New requests get 503 from now on; running streams go on. */
void srv_http_drain(srv_http *h);
/* The port bound (useful with port 0). */
int srv_http_port(const srv_http *h);
/* Waits (at most timeout_ms) until every streamed response has been written to its
 * end: after srv_sched_shutdown, so that the streams' last chunks and [DONE] reach
 * their clients before srv_http_stop closes the connections. */
void srv_http_flush_streams(srv_http *h, int timeout_ms);
void srv_http_stop(srv_http *h);

/* Host is 127.0.0.0/8, ::1 or "localhost". */
bool srv_host_is_loopback(const char *host);

#endif
