/* gpu_context.c: a context's share of the GPU (gpu_model.h): choosing the
 * layers that go there, checking they fit, uploading their weights, allocating
 * their KV rings and the activations, and handing back logits. */
#include "gpu_model.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

int g4_gpu_count(void) { return g4g_device_count(); }

int g4_gpu_describe(int i, char *buf, size_t len) {
    char err[256];
    g4g_device *dev = g4g_open(i, err, sizeof err);
    if (!dev) return g4_error("GPU %d: %s", i, err);
    snprintf(buf, len, "%s", g4g_name(dev));
    g4g_close(dev);
    return 0;
}

void *g4_gpu_alloc(g4_gpu *g, size_t bytes) {
    if (g->n_blocks == g->cap_blocks) {
        size_t cap = g->cap_blocks ? 2 * g->cap_blocks : 256;
        void **b = realloc(g->blocks, cap * sizeof *b);
        if (!b) { g4_error("out of memory"); return NULL; }
        g->blocks = b;
        g->cap_blocks = cap;
    }
    void *p = g4g_alloc(g->dev, bytes ? bytes : 1);
    if (!p) { g4_error("GPU memory: %s", g4g_error(g->dev)); return NULL; }
    return g->blocks[g->n_blocks++] = p;
}

void g4_gpu_free(g4_gpu *g) {
    if (!g) return;
    for (int n = 0; n <= G4_GPU_DECODE_MAX; n++) g4g_graph_free(g->graph[n]);
    if (g->dev) {
        g4g_sync(g->dev);
        for (size_t i = 0; i < g->n_blocks; i++) g4g_free(g->dev, g->blocks[i]);
        g4g_free(g->dev, g->act.logits);
        void *host[] = {g->host.token, g->host.seq, g->host.pos, g->host.head_rows, g->host.ple_row,
                        g->host.pair_rows, g->host.pair_w, g->host.ids, g->host.w};
        for (size_t i = 0; i < sizeof host / sizeof *host; i++) g4g_host_free(g->dev, host[i]);
        g4g_close(g->dev);
    }
    free(g->host.expert_first);
    free(g->blocks);
    free(g->layer);
    free(g);
}

/* n layers (n < 0: all), lowered until no CPU layer reads a GPU layer's cache. */
static int placed_layers(const g4_config *c, int n) {
    if (n < 0 || n > c->n_layers) n = c->n_layers;
    for (bool moved = true; moved;) {
        moved = false;
        for (int l = n; l < c->n_layers; l++)
            if (c->layer[l].kv_source < n) n = c->layer[l].kv_source, moved = true;
    }
    return n;
}

static size_t ring_bytes(const g4_config *c, const g4_kv_cache *kv, int l) {
    return (size_t)kv->n_seq * (size_t)kv->ring[l] * (size_t)c->layer[l].n_kv_heads * (size_t)c->layer[l].head_dim * sizeof(float);
}

/* The sizes of the activation buffers, in floats. */
typedef struct {
    size_t H, qmax, kvmax, ffmax, LP, P, E, K, rows_experts;
    int dmax;
} act_sizes;

static act_sizes sizes_of(const g4_config *c, int U) {
    act_sizes s = {.H = (size_t)c->hidden, .ffmax = 2 * (size_t)c->expert_ff, .LP = (size_t)c->n_layers * c->ple_dim,
                   .P = (size_t)c->ple_dim, .E = (size_t)c->n_experts, .K = (size_t)c->n_experts_used};
    for (int l = 0; l < c->n_layers; l++) {
        const g4_layer_config *lc = &c->layer[l];
        size_t q = (size_t)c->n_heads * lc->head_dim, kv = (size_t)lc->n_kv_heads * lc->head_dim;
        if (q > s.qmax) s.qmax = q;
        if (kv > s.kvmax) s.kvmax = kv;
        if ((size_t)lc->n_ff > s.ffmax) s.ffmax = (size_t)lc->n_ff;
        if (lc->head_dim > s.dmax) s.dmax = lc->head_dim;
    }
    size_t pairs = (size_t)G4_GPU_DECODE_MAX * s.K;
    s.rows_experts = (size_t)U > pairs ? (size_t)U : pairs;
    return s;
}

static size_t act_bytes(const g4_config *c, int U, int n_ctx) {
    act_sizes s = sizes_of(c, U);
    size_t u = (size_t)U, R = s.rows_experts;
    size_t floats = u * (6 * s.H + 2 * s.qmax + 2 * s.kvmax + s.P + s.E + 2 * s.K + 2 * s.LP) +
                    R * (2 * s.ffmax + s.H) + 2 * u * s.K;
    return floats * sizeof(float) + g4g_attention_scratch_size(U, c->n_heads, s.dmax, n_ctx);
}

static int alloc_acts(g4_gpu *g, const g4_config *c, int U, int n_ctx) {
    act_sizes s = sizes_of(c, U);
    size_t u = (size_t)U, R = s.rows_experts;
    g4_gpu_acts *a = &g->act;
    struct { void **p; size_t bytes; } bufs[] = {
        {(void **)&a->x, u * s.H * 4}, {(void **)&a->a, u * s.H * 4}, {(void **)&a->o, u * s.H * 4},
        {(void **)&a->m, u * s.H * 4}, {(void **)&a->head_in, u * s.H * 4}, {(void **)&a->q, u * s.qmax * 4},
        {(void **)&a->attn, u * s.qmax * 4}, {(void **)&a->k, u * s.kvmax * 4}, {(void **)&a->v, u * s.kvmax * 4},
        {(void **)&a->gate, R * s.ffmax * 4}, {(void **)&a->up, R * s.ffmax * 4}, {(void **)&a->ye, R * s.H * 4},
        {(void **)&a->xe, u * s.H * 4}, {(void **)&a->moe, u * s.H * 4}, {(void **)&a->ple, u * s.LP * 4},
        {(void **)&a->ple_row, u * s.LP * 4}, {(void **)&a->ple_g, u * s.P * 4}, {(void **)&a->router, u * s.E * 4},
        {(void **)&a->expert_ids, u * s.K * 4}, {(void **)&a->expert_w, u * s.K * 4},
        {(void **)&a->pair_rows, u * s.K * 4}, {(void **)&a->pair_w, u * s.K * 4},
        {(void **)&a->token, u * 4}, {(void **)&a->seq, u * 4}, {(void **)&a->pos, u * 4},
        {(void **)&a->head_rows, u * 4}, {(void **)&a->top_ids, 256 * 4}, {(void **)&a->top_vals, 256 * 4},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (!(*bufs[i].p = g4_gpu_alloc(g, bufs[i].bytes))) return -1;
    a->attn_scratch_bytes = g4g_attention_scratch_size(U, c->n_heads, s.dmax, n_ctx);
    if (!(a->attn_scratch = g4_gpu_alloc(g, a->attn_scratch_bytes))) return -1;

    g4_gpu_staging *h = &g->host;
    struct { void **p; size_t bytes; } host[] = {
        {(void **)&h->token, u * 4}, {(void **)&h->seq, u * 4}, {(void **)&h->pos, u * 4},
        {(void **)&h->head_rows, u * 4}, {(void **)&h->ple_row, u * s.LP * 4}, {(void **)&h->pair_rows, u * s.K * 4},
        {(void **)&h->pair_w, u * s.K * 4}, {(void **)&h->ids, u * s.K * 4}, {(void **)&h->w, u * s.K * 4},
    };
    for (size_t i = 0; i < sizeof host / sizeof *host; i++)
        if (!(*host[i].p = g4g_host_alloc(g->dev, host[i].bytes ? host[i].bytes : 4)))
            return g4_error("page-locked host memory: %s", g4g_error(g->dev));
    if (!(h->expert_first = malloc((s.E + 1) * sizeof *h->expert_first))) return g4_error("out of memory");
    return 0;
}

/* The rings of the owning layers on the GPU, and their per-sequence pointer tables. */
static int alloc_rings(g4_gpu *g, const g4_config *c, const g4_kv_cache *kv) {
    float **table = malloc((size_t)kv->n_seq * sizeof *table);
    if (!table) return g4_error("out of memory");
    int rc = 0;
    for (int l = 0; l < g->n_layers && !rc; l++) {
        if (!kv->ring[l]) continue;
        g4_gpu_layer *d = &g->layer[l];
        d->ring = kv->ring[l];
        size_t bytes = ring_bytes(c, kv, l), per_seq = bytes / (size_t)kv->n_seq / sizeof(float);
        if (!(d->k_ring = g4_gpu_alloc(g, bytes)) || !(d->v_ring = g4_gpu_alloc(g, bytes)) ||
            !(d->k_seq = g4_gpu_alloc(g, (size_t)kv->n_seq * sizeof(float *))) ||
            !(d->v_seq = g4_gpu_alloc(g, (size_t)kv->n_seq * sizeof(float *)))) {
            rc = -1;
            break;
        }
        for (int s = 0; s < kv->n_seq; s++) table[s] = d->k_ring + (size_t)s * per_seq;
        rc = g4g_upload(g->dev, d->k_seq, table, (size_t)kv->n_seq * sizeof *table);
        for (int s = 0; s < kv->n_seq && !rc; s++) table[s] = d->v_ring + (size_t)s * per_seq;
        if (!rc) rc = g4g_upload(g->dev, d->v_seq, table, (size_t)kv->n_seq * sizeof *table);
        if (rc) g4_error("GPU upload: %s", g4g_error(g->dev));
    }
    free(table);
    return rc;
}

g4_gpu *g4_gpu_new(const g4_model *m, const g4_kv_cache *kv, int n_ubatch, int n_layers, int device) {
    const g4_config *c = &m->cfg;
    int count = g4g_device_count();
    if (device < 0 || device >= count) {
        if (count == 0) {
            char err[256];
            g4g_device *none = g4g_open(0, err, sizeof err);
            if (none) g4g_close(none);
            g4_error("no GPU: %s", none ? "the device vanished" : err);
        } else {
            g4_error("GPU %d does not exist (%d found: 0 .. %d)", device, count, count - 1);
        }
        return NULL;
    }
    g4_gpu *g = calloc(1, sizeof *g);
    if (!g) { g4_error("out of memory"); return NULL; }
    char err[256];
    if (!(g->dev = g4g_open(device, err, sizeof err))) {
        g4_error("GPU %d: %s", device, err);
        free(g);
        return NULL;
    }
    g->model = m;
    g->n_layers = placed_layers(c, n_layers);
    g->whole = g->n_layers == c->n_layers;
    if (!(g->layer = calloc((size_t)(g->n_layers ? g->n_layers : 1), sizeof *g->layer))) {
        g4_error("out of memory");
        goto fail;
    }

    size_t weights = g4_gpu_weight_bytes(m, g->n_layers, g->whole), cache = 0;
    for (int l = 0; l < g->n_layers; l++)
        if (kv->ring[l]) cache += 2 * ring_bytes(c, kv, l);
    size_t acts = act_bytes(c, n_ubatch, kv->n_ctx), free_bytes, total_bytes;
    g4g_memory(g->dev, &free_bytes, &total_bytes);
    size_t need = weights + cache + acts + ((size_t)256 << 20); /* and room for the libraries' own */
    if (need > free_bytes) {
        g4_error("%d layers on %s need %.1f GiB (weights %.1f, KV cache %.1f, activations %.1f) but %.1f GiB are free; "
                 "put fewer layers there (--gpu-layers) or shorten the context (--ctx-size)",
                 g->n_layers, g4g_name(g->dev), need / GIB, weights / GIB, cache / GIB, acts / GIB, free_bytes / GIB);
        goto fail;
    }
    if (g4_gpu_upload_weights(g) || alloc_rings(g, c, kv) || alloc_acts(g, c, n_ubatch, kv->n_ctx)) goto fail;
    if (g4g_sync(g->dev)) {
        g4_error("GPU: %s", g4g_error(g->dev));
        goto fail;
    }
    snprintf(g->where, sizeof g->where, "%s: %d/%d layers", g4g_name(g->dev), g->n_layers, c->n_layers);
    return g;
fail:
    g4_gpu_free(g);
    return NULL;
}

int g4_gpu_reserve_logits(g4_gpu *g, int rows) {
    if (rows <= g->act.cap_rows) return 0;
    size_t V = (size_t)g->model->cfg.vocab_size;
    g4g_sync(g->dev);
    g4g_free(g->dev, g->act.logits);
    g->act.cap_rows = 0;
    /* the recorded steps wrote into the old buffer */
    for (int n = 0; n <= G4_GPU_DECODE_MAX; n++) {
        g4g_graph_free(g->graph[n]);
        g->graph[n] = NULL;
    }
    if (!(g->act.logits = g4g_alloc(g->dev, (size_t)rows * V * sizeof(float))))
        return g4_error("GPU memory for %d rows of logits: %s", rows, g4g_error(g->dev));
    g->act.cap_rows = rows;
    return 0;
}

int g4_gpu_download_logits(g4_gpu *g, int first, int n, float *host) {
    size_t V = (size_t)g->model->cfg.vocab_size;
    if (g4g_download(g->dev, host, g->act.logits + (size_t)first * V, (size_t)n * V * sizeof(float)))
        return g4_error("GPU: %s", g4g_error(g->dev));
    return 0;
}

int g4_gpu_top_logits(g4_gpu *g, int row, int k, int32_t *ids, float *vals) {
    int V = g->model->cfg.vocab_size;
    g4g_top_k(g->dev, g->act.logits + (size_t)row * V, 1, V, k, g->act.top_ids, g->act.top_vals);
    if (g4g_download(g->dev, ids, g->act.top_ids, (size_t)k * sizeof *ids) ||
        g4g_download(g->dev, vals, g->act.top_vals, (size_t)k * sizeof *vals))
        return g4_error("GPU: %s", g4g_error(g->dev));
    return 0;
}
