/* kvcache.c: allocation and growth of the per-sequence KV rings. */
#include "kvcache.h"
#include "base/error.h"

#include <stdlib.h>
#include <string.h>

static int min_int(int a, int b) { return a < b ? a : b; }

int g4_kv_init(g4_kv_cache *kv, const g4_config *cfg, int n_seq, int n_ctx, int n_ubatch) {
    memset(kv, 0, sizeof *kv);
    kv->cfg = cfg;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->ring = calloc((size_t)cfg->n_layers, sizeof *kv->ring);
    kv->seq = calloc((size_t)n_seq, sizeof *kv->seq);
    if (!kv->ring || !kv->seq) goto oom;
    for (int l = 0; l < cfg->n_layers; l++) {
        const g4_layer_config *lc = &cfg->layer[l];
        if (lc->kv_source != l) continue;
        long long r = lc->sliding ? (long long)cfg->window - 1 + n_ubatch + G4_KV_SLACK : n_ctx;
        kv->ring[l] = (int)(r < n_ctx ? r : n_ctx);
    }
    for (int s = 0; s < n_seq; s++) {
        kv->seq[s].layer = calloc((size_t)cfg->n_layers, sizeof *kv->seq[s].layer);
        if (!kv->seq[s].layer) goto oom;
    }
    return 0;
oom:
    g4_kv_free(kv);
    return g4_error("out of memory for the KV cache");
}

void g4_kv_free(g4_kv_cache *kv) {
    if (kv->seq) {
        for (int s = 0; s < kv->n_seq; s++) {
            g4_kv_seq *q = &kv->seq[s];
            if (q->layer)
                for (int l = 0; l < kv->cfg->n_layers; l++) {
                    free(q->layer[l].k);
                    free(q->layer[l].v);
                }
            free(q->layer);
            free(q->tokens);
        }
    }
    free(kv->seq);
    free(kv->ring);
    memset(kv, 0, sizeof *kv);
}

static int grow(float **p, size_t n) {
    float *q = realloc(*p, n * sizeof *q);
    if (!q) return -1;
    *p = q;
    return 0;
}

int g4_kv_reserve(g4_kv_cache *kv, int seq, int n_pos) {
    g4_kv_seq *q = &kv->seq[seq];
    if (n_pos > q->tokens_cap) {
        int cap = q->tokens_cap ? q->tokens_cap : 256;
        while (cap < n_pos) cap = cap > kv->n_ctx / 2 ? kv->n_ctx : cap * 2;
        int32_t *t = realloc(q->tokens, (size_t)cap * sizeof *t);
        if (!t) return g4_error("out of memory for the token history (%d positions)", cap);
        q->tokens = t;
        q->tokens_cap = cap;
    }
    for (int l = kv->first_cpu_layer; l < kv->cfg->n_layers; l++) {
        int ring = kv->ring[l];
        if (!ring) continue;
        g4_kv_layer *c = &q->layer[l];
        int need = min_int(n_pos, ring);
        if (need <= c->cap) continue;
        int cap = c->cap ? c->cap : 256;
        while (cap < need) cap *= 2;
        cap = min_int(cap, ring);
        size_t row = (size_t)kv->cfg->layer[l].n_kv_heads * kv->cfg->layer[l].head_dim;
        if (grow(&c->k, (size_t)cap * row) || grow(&c->v, (size_t)cap * row))
            return g4_error("out of memory for the KV cache of layer %d (%d positions)", l, cap);
        c->cap = cap;
    }
    return 0;
}

int g4_kv_lowest_held(const g4_kv_cache *kv, int seq, int layer) {
    int lo = kv->seq[seq].hi - kv->ring[layer];
    return lo > 0 ? lo : 0;
}
