/* gemma4.h: the public API of libgemma4, the engine that turns tokens into logits.
 *
 * The app includes this header and nothing else from engine/. Every function that
 * can fail returns NULL or a negative number and leaves a one-line reason in
 * g4_last_error() (per thread). The engine never exits or aborts on bad input. */
#ifndef GEMMA4_H
#define GEMMA4_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reason for the most recent failure on this thread ("" if none). */
const char *g4_last_error(void);

/* ---- Models ---------------------------------------------------------------- */

typedef struct g4_model g4_model;

/* Loads a Gemma 4 text model from a .gguf file or a Hugging Face checkpoint
 * directory (config.json + model.safetensors or sharded model-*.safetensors).
 * Weights are memory-mapped, never copied unless a format forces it. */
g4_model *g4_model_load(const char *path);
void g4_model_free(g4_model *model);

typedef struct {
    int vocab_size;
    int hidden_size;
    int n_layers;
    int n_ctx_train;        /* max_position_embeddings */
    int bos_id, eos_id, pad_id;
    int n_experts;          /* 0 for dense models */
    int has_ple;            /* per-layer embeddings (E2B/E4B) */
    int n_kv_shared_layers;
    uint64_t n_params;      /* parameters of the text decoder */
    uint64_t n_bytes;       /* bytes of weight data it uses */
    const char *format;     /* "gguf" or "safetensors" */
    const char *weight_type;/* the type of most matrices, e.g. "BF16", "Q4_K" */
} g4_model_info;

void g4_model_get_info(const g4_model *model, g4_model_info *info);

/* ---- Contexts: KV caches for one or more sequences ------------------------- */

typedef struct g4_context g4_context;

typedef struct {
    int n_ctx;      /* max positions per sequence (0: the model's trained length) */
    int n_seq;      /* sequences that can be live at once */
    int n_ubatch;   /* tokens evaluated together per step; larger batches are split */
} g4_context_params;

g4_context_params g4_context_default_params(void);
g4_context *g4_context_new(g4_model *model, const g4_context_params *params);
void g4_context_free(g4_context *ctx);

/* A batch of tokens from one or more sequences. Within a sequence the tokens
 * must be in order and continue it: the first one at g4_seq_length(seq). */
typedef struct {
    int n_tokens;
    const int32_t *token;   /* [n_tokens] token ids */
    const int32_t *seq;     /* [n_tokens] sequence ids, or NULL: all sequence 0 */
    const int8_t *logits;   /* [n_tokens] 1 = compute this row's logits, or NULL: only the last token */
} g4_batch;

/* Runs the forward pass over the batch and appends it to the KV caches.
 * Returns 0, or -1 with g4_last_error() set (the caches are then unchanged). */
int g4_decode(g4_context *ctx, const g4_batch *batch);

/* Logits [vocab_size] (after the final softcap) of batch row i of the last
 * g4_decode, or NULL if that row did not ask for logits. */
const float *g4_get_logits(g4_context *ctx, int i);

/* Number of positions held for a sequence. */
int g4_seq_length(const g4_context *ctx, int seq);

/* Drops every position >= pos of a sequence so it continues from pos, exactly as
 * if it had been evaluated from scratch. Sliding-window layers that no longer hold
 * the window before pos are rebuilt from the sequence's own token history. */
int g4_seq_truncate(g4_context *ctx, int seq, int pos);

/* Index of the largest value (greedy decoding). */
int g4_argmax(const float *x, int n);

#ifdef __cplusplus
}
#endif
#endif
