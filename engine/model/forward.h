/* forward.h: one step of the Gemma 4 decoder over a micro-batch of tokens from
 * one or more sequences, reading and extending their KV caches. */
#ifndef G4_FORWARD_H
#define G4_FORWARD_H

#include "model.h"
#include "run/kvcache.h"

/* Scratch activations for up to n_ubatch tokens, and the threads to compute with. */
typedef struct {
    int n_ubatch, n_ctx;
    g4k_pool *pool;  /* the CPU threads the ops run on (owned by the context) */
    float *x;        /* [U][H] residual stream */
    float *a;        /* [U][H] normed input of a block */
    float *q;        /* [U][nq*d_max] */
    float *k, *v;    /* [U][nkv*d_max] */
    float *attn;     /* [U][nq*d_max] attention output (heads concatenated) */
    float *o;        /* [U][H] block output */
    float *m;        /* [U][H] dense-MLP output */
    float *gate, *up;/* [U][max(n_ff, 2*expert_ff)] */
    float *ple;      /* [U][L*P] per-layer inputs */
    float *ple_g;    /* [U][P] */
    float *ple_row;  /* [L*P] one row of the PLE table */
    float *router;   /* [U][E] */
    int *expert_ids; /* [U][k] chosen experts */
    float *expert_w; /* [U][k] their weights */
    int *rows;       /* [U] tokens routed to one expert */
    float *xe, *ye;  /* [U][H] gathered expert inputs / outputs */
    float *moe;      /* [U][H] */
    g4k_kv_span *span; /* [U] the keys each token attends to in the current layer */
    float *scores;   /* attention scratch (g4k_attention_scratch_size) */
    size_t scores_len;
} g4_workspace;

int g4_workspace_init(g4_workspace *ws, const g4_config *cfg, int n_ubatch, int n_ctx, g4k_pool *pool);
void g4_workspace_free(g4_workspace *ws);

typedef struct {
    int n;
    const int32_t *token;   /* [n] */
    const int32_t *seq;     /* [n] */
    const int32_t *pos;     /* [n] */
    const int *logit_row;   /* [n] row of `logits` to fill, or -1 */
} g4_ubatch;

/* Evaluates the micro-batch (n <= n_ubatch; the caches must hold room for its
 * positions, see g4_kv_reserve) and fills the requested logits rows [V]. */
void g4_forward(const g4_model *m, g4_kv_cache *kv, g4_workspace *ws, const g4_ubatch *ub, float *logits);

/* Its three parts, for a context whose first layers run on the GPU (gpu_forward.h):
 * the embedding and per-layer inputs into ws->x and ws->ple, one decoder layer on
 * ws->x, and the LM head from ws->x. */
void g4_forward_embed(const g4_model *m, g4_workspace *ws, const g4_ubatch *ub);
void g4_forward_layer(const g4_model *m, g4_kv_cache *kv, g4_workspace *ws, const g4_ubatch *ub, int l);
void g4_forward_head(const g4_model *m, g4_workspace *ws, const g4_ubatch *ub, float *logits);

#endif
