/* chat.h: the chat runner every front end shares (the one-shot CLI, the terminal
 * UI, later the HTTP server and the Lua agent): a conversation (OpenAI-style
 * messages JSON, optional tools JSON, settings) -> a streamed reply, parsed into
 * thinking, answer and tool calls, with cancellation and reuse of the KV cache
 * for the part of the conversation that did not change since the last call.
 *
 * chat_engine_generate is synchronous; chat_job runs it on a worker thread and
 * queues its events for a UI that polls a file descriptor. chat_reply turns the
 * streamed events into the assistant message to append to the conversation. */
#ifndef G4_CHAT_H
#define G4_CHAT_H

#include "chat/constraint.h"
#include "gemma4.h"

#include <stddef.h>
#include <stdint.h>

/* ---- The engine: one model and one context (sequence 0 holds the conversation) ---- */

typedef struct chat_engine chat_engine;

typedef struct {
    int n_ctx;                  /* context size in tokens (0: the model's trained length, at most 32768) */
    int threads;                /* CPU threads (0: one per online core) */
    int gpu_layers, gpu_device; /* g4_context_params' n_gpu_layers and gpu_device */
    const char *chat_template;  /* Jinja source to use instead of the model's template, or NULL */
} chat_engine_params;

/* Loads the model and creates its context. Returns NULL with a malloc'd one-line
 * reason in *err (when err is not NULL; the caller frees it). */
chat_engine *chat_engine_open(const char *model_path, const chat_engine_params *params, char **err);
void chat_engine_close(chat_engine *engine);

/* Model information for a status bar. */
const char *chat_engine_model_name(const chat_engine *engine); /* the file or directory name, without .gguf */
/* The name a model path is shown by: its last component, without a trailing slash or ".gguf". */
void chat_model_name(const char *path, char *out, size_t cap);
int chat_engine_context_size(const chat_engine *engine);       /* tokens the context holds at most */
int chat_engine_context_used(const chat_engine *engine);       /* tokens held now (any thread) */
const g4_model *chat_engine_model(const chat_engine *engine);
/* The token ids sampled by the last generate (the stop token included), valid
 * until the next generate; *n receives their count. */
const int32_t *chat_engine_completion_tokens(const chat_engine *engine, int *n);

/* ---- Settings ------------------------------------------------------------------ */

#define CHAT_SEED_RANDOM (-1)

/* Start from chat_settings_defaults(): a field left at its "unset" value takes the
 * model's generation default (g4_model_sampler_params). */
typedef struct {
    float temperature;     /* NAN: unset; 0: greedy */
    float top_p;           /* NAN: unset */
    float min_p;           /* NAN: unset */
    float repeat_penalty;  /* NAN: unset */
    int top_k;             /* -1: unset; 0: off */
    int max_tokens;        /* 0: until the context is full */
    int64_t seed;          /* CHAT_SEED_RANDOM: a new seed per call; else 0 .. 2^63-1 */
    int think;             /* 1: ask the model to think first (the template's enable_thinking) */
    /* structured output (docs/structured-output.md); chat_job_start copies the strings */
    const char *json_schema;      /* the answer is JSON following this schema, or NULL */
    const char *grammar;          /* or the answer follows this GBNF (start rule root), or NULL */
    chat_tool_choice tool_choice; /* with tools: auto (calls follow the tools' schemas), none (no tools
                                     in the prompt), required or named (the reply is tool calls) */
    const char *tool_name;        /* CHAT_TOOLS_NAMED */
    int parallel_tool_calls;      /* 0: at most one call per reply */
} chat_settings;

chat_settings chat_settings_defaults(void);

/* ---- Events ---------------------------------------------------------------------- */

typedef enum {
    CHAT_EVENT_PROGRESS,        /* progress_done / progress_total prompt tokens evaluated */
    CHAT_EVENT_THOUGHT,         /* text: a piece of the thinking */
    CHAT_EVENT_ANSWER,          /* text: a piece of the answer */
    CHAT_EVENT_TOOL_CALL_BEGIN, /* tool_index, tool_name, tool_id */
    CHAT_EVENT_TOOL_CALL_ARGS,  /* tool_index, text: the next piece of the arguments JSON */
    CHAT_EVENT_TOOL_CALL_END,   /* tool_index, tool_name, tool_id, text: the complete arguments JSON */
    CHAT_EVENT_DONE,            /* stats: the last event of a call that succeeded */
    CHAT_EVENT_ERROR,           /* text: a one-line reason; the last event of a call that failed */
} chat_event_type;

typedef enum {
    CHAT_FINISH_STOP,       /* the model ended its turn */
    CHAT_FINISH_LENGTH,     /* max_tokens reached */
    CHAT_FINISH_CONTEXT,    /* the context is full */
    CHAT_FINISH_CANCELLED,  /* chat_engine_cancel / chat_job_cancel */
    CHAT_FINISH_TOOL_CALLS, /* the model ended its turn with tool calls to run */
} chat_finish;

/* "stop", "length", "context", "cancelled", "tool_calls". */
const char *chat_finish_name(chat_finish finish);

typedef struct {
    chat_finish finish;
    int prompt_tokens;      /* tokens of the rendered conversation */
    int cached_tokens;      /* of which reused from the cache (not evaluated again) */
    int completion_tokens;  /* tokens sampled */
    int thinking_tokens;    /* of which spent thinking */
    double thinking_seconds;
    double prompt_seconds;  /* evaluating the prompt's new tokens */
    double total_seconds;
    double tokens_per_second; /* completion tokens over the seconds after the prompt */
    double constraint_seconds; /* of the seconds after the prompt, spent on grammar masks */
    int context_used, context_size;
} chat_stats;

typedef struct {
    chat_event_type type;
    const char *text;       /* not NUL-terminated: len bytes (THOUGHT, ANSWER, TOOL_CALL_ARGS/END, ERROR) */
    size_t len;
    int tool_index;         /* 0, 1, ... within the reply */
    const char *tool_name;  /* NUL-terminated (TOOL_CALL_BEGIN/END) */
    const char *tool_id;    /* NUL-terminated, unique per engine, "call_" and 16 hex digits */
    int progress_done, progress_total; /* PROGRESS: prompt tokens evaluated / to evaluate */
    int cut;                /* TOOL_CALL_END: the reply ended (max_tokens, full context, cancel)
                               inside the call: not a call to run */
    int tokens;             /* completion tokens sampled so far */
    chat_stats stats;       /* DONE */
} chat_event;

typedef void (*chat_event_fn)(const chat_event *event, void *user);

/* Renders the conversation with the chat template, reuses the cached prefix,
 * evaluates the rest and streams the reply to fn until the model ends its turn,
 * max_tokens, a full context or a cancel. tools_json may be NULL; settings may be
 * NULL (all defaults). The last event is DONE (returns 0) or ERROR (returns -1).
 * One call at a time per engine (a concurrent call fails). */
int chat_engine_generate(chat_engine *engine, const char *messages_json, const char *tools_json,
                         const chat_settings *settings, chat_event_fn fn, void *user);

/* The same for a prompt already in token ids (a raw completion: no template;
 * the ids must include <bos> and any markup). */
int chat_engine_generate_ids(chat_engine *engine, const int32_t *ids, int n, const chat_settings *settings,
                             chat_event_fn fn, void *user);

/* Stops the generation in progress before its next token (what was streamed stays
 * streamed; it finishes with CHAT_FINISH_CANCELLED), or the next one to start when
 * none is in progress. Callable from any thread and from a signal handler. */
void chat_engine_cancel(chat_engine *engine);

/* ---- Asynchronous jobs for UIs ------------------------------------------------------ */

typedef struct chat_job chat_job;

/* Copies the arguments and runs chat_engine_generate on a worker thread. NULL
 * (with a malloc'd reason in *err) when the thread cannot start. */
chat_job *chat_job_start(chat_engine *engine, const char *messages_json, const char *tools_json,
                         const chat_settings *settings, char **err);
/* Readable while events are queued: poll it together with the keyboard. */
int chat_job_fd(const chat_job *job);
/* Takes the next queued event: 1 and *event filled (its strings stay valid until
 * the next chat_job_next or chat_job_free), or 0 when none is queued now. Events
 * come in the order generate sent them; DONE or ERROR is the last. */
int chat_job_next(chat_job *job, chat_event *event);
/* Cancels this job (no effect on later jobs). */
void chat_job_cancel(chat_job *job);
/* Waits for the worker to finish; returns generate's result (0 or -1). The
 * queued events stay available to chat_job_next. */
int chat_job_wait(chat_job *job);
/* Cancels, waits and frees the job with its undelivered events. */
void chat_job_free(chat_job *job);

/* ---- The assistant message built from the events ------------------------------------ */

typedef struct chat_reply chat_reply;

chat_reply *chat_reply_new(void);
void chat_reply_free(chat_reply *reply);
/* Records THOUGHT, ANSWER and TOOL_CALL_END events (others are ignored; so is a
 * call the reply was cut inside of, which is not a call to run).
 * Returns 0, or -1 when out of memory. */
int chat_reply_add(chat_reply *reply, const chat_event *event);
/* The answer and the thinking so far (NUL-terminated, owned by the reply). */
const char *chat_reply_content(const chat_reply *reply);
const char *chat_reply_reasoning(const chat_reply *reply);
int chat_reply_tool_call_count(const chat_reply *reply);
/* {"role":"assistant","content":...,"reasoning":...,"tool_calls":[{"id","type":"function",
 * "function":{"name","arguments"}}]} as compact JSON (malloc'd; NULL when out of
 * memory). "reasoning" and "tool_calls" appear only when there are some; "content"
 * is null when the reply is only tool calls. Arguments are a JSON string, as OpenAI
 * sends them. */
char *chat_reply_message_json(const chat_reply *reply);
/* messages_json with message_json appended (malloc'd), or NULL when either is
 * not valid JSON (messages must be an array, the message an object). */
char *chat_messages_append(const char *messages_json, const char *message_json);

#endif
