/* kvcache.h: the KV caches of every sequence of a context (§5). A layer that
 * owns a cache keeps K and V (post-norm, post-RoPE) per position in a ring of
 * `ring` slots: the whole context for full layers, window + batch + slack for
 * sliding layers; position p lives in slot p % ring. KV-shared layers own none
 * and read their donor's. Storage grows on demand up to the ring size. */
#ifndef G4_KVCACHE_H
#define G4_KVCACHE_H

#include "model/model.h"

#include <stdint.h>

typedef struct {
    float *k, *v;   /* [cap][n_kv_heads * head_dim] */
    int cap;        /* slots allocated (<= ring) */
} g4_kv_layer;

typedef struct {
    int len;            /* positions held: 0 .. len-1 */
    int hi;             /* 1 + the highest position ever written since the last reset */
    g4_kv_layer *layer; /* [n_layers]; only cache owners allocate */
    int32_t *tokens;    /* [len] the sequence's tokens, to rebuild sliding windows */
    int tokens_cap;
} g4_kv_seq;

typedef struct {
    const g4_config *cfg;
    int n_seq, n_ctx;
    int *ring;          /* [n_layers] slots of each owning layer's ring */
    int first_cpu_layer;/* layers below it keep their rings on the GPU (gpu_model.h): no host storage */
    g4_kv_seq *seq;     /* [n_seq] */
} g4_kv_cache;

/* Extra sliding-window slots beyond window-1+n_ubatch, so that short rollbacks
 * (speculative decoding, regenerating a reply) need no rebuild. */
#define G4_KV_SLACK 64

int g4_kv_init(g4_kv_cache *kv, const g4_config *cfg, int n_seq, int n_ctx, int n_ubatch);
void g4_kv_free(g4_kv_cache *kv);

/* Makes room for positions < n_pos of seq in every owning layer, and for its
 * token history. Returns -1 (error set) when memory runs out. */
int g4_kv_reserve(g4_kv_cache *kv, int seq, int n_pos);

/* Lowest position whose K/V a layer still holds for seq (the ring forgets). */
int g4_kv_lowest_held(const g4_kv_cache *kv, int seq, int layer);

#endif
