/* run.h: what the chat module's files share beyond chat.h: the engine's
 * state (opened by engine.c, used by turn.c) and generate with a second,
 * per-job cancel flag (job.c runs generate on a worker thread).
 * Not for use outside app/chat/. */
#ifndef G4_CHAT_RUN_H
#define G4_CHAT_RUN_H

#include "chat/chat.h"

#include <stdatomic.h>
#include <stdint.h>

struct chat_engine {
    g4_model *model;
    g4_context *ctx;
    const g4_vocab *vocab;
    const char *chat_template;   /* the model's, or template_owned */
    char *template_owned;
    char name[256];
    int n_ctx, vocab_size;
    g4_sampler_params defaults;  /* the model's generation defaults */
    int32_t *held;               /* [n_ctx] the token ids sequence 0 holds */
    int n_held;                  /* == g4_seq_length(ctx, 0) */
    atomic_int used;             /* n_held for other threads (chat_engine_context_used) */
    int32_t *completion;         /* the ids sampled by the last generate */
    int n_completion, cap_completion;
    chat_grammar_cache *grammars; /* compiled grammars of structured output, made on first use */
    float *masked;               /* [vocab_size] logits under a constraint, allocated on first use */
    uint64_t id_state;           /* tool-call ids and random seeds */
    atomic_int cancel;           /* chat_engine_cancel */
    atomic_int busy;             /* a generate is running */
};

/* The next 64 pseudo-random bits of the engine's id stream (splitmix64). */
uint64_t chat_engine_next_random(chat_engine *engine);

/* chat_engine_generate that also stops when *job_cancel becomes non-zero
 * (job_cancel may be NULL). */
int chat_engine_run(chat_engine *engine, const char *messages_json, const char *tools_json,
                    const chat_settings *settings, chat_event_fn fn, void *user, const atomic_int *job_cancel);

#endif
