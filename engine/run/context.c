/* context.c: g4_context: the KV caches of a set of sequences, the scratch of the
 * forward pass, the CPU threads it runs on, its share of a GPU when asked for
 * (model/gpu_model.h), and g4_decode, which checks a batch, splits it into
 * micro-batches and runs them. Also truncation, with rebuilds of forgotten
 * sliding windows, and reading logits back (whole rows or the top ones). */
#include "gemma4.h"
#include "kvcache.h"
#include "model/forward.h"
#include "model/gpu_model.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 4096

struct g4_context {
    g4_model *model;
    g4_context_params params;
    g4_kv_cache kv;
    g4k_pool *pool;     /* the threads of the forward pass, started once */
    g4_workspace ws;    /* the CPU's layers (none when every layer is on the GPU) */
    g4_gpu *gpu;        /* NULL: every layer on the CPU */
    bool logits_on_gpu; /* the last decode's logits are in gpu->act.logits ... */
    bool logits_here;   /* ... and have been copied to `logits` */
    float *logits;      /* [n_rows][vocab] */
    int *logit_row;     /* [n] row of each batch token, or -1 */
    int n_rows, cap_rows, cap_batch;
    int *ub_seq, *ub_pos; /* [n_ubatch] */
};

g4_context_params g4_context_default_params(void) {
    return (g4_context_params){.n_ctx = 0, .n_seq = 1, .n_ubatch = 512, .n_threads = 0, .n_gpu_layers = 0, .gpu_device = 0};
}

void g4_context_free(g4_context *ctx) {
    if (!ctx) return;
    g4_gpu_free(ctx->gpu);
    g4_workspace_free(&ctx->ws);
    g4k_pool_free(ctx->pool);
    g4_kv_free(&ctx->kv);
    free(ctx->logits);
    free(ctx->logit_row);
    free(ctx->ub_seq);
    free(ctx->ub_pos);
    free(ctx);
}

g4_context *g4_context_new(g4_model *model, const g4_context_params *params) {
    g4_error_clear();
    g4_context_params p = params ? *params : g4_context_default_params();
    const g4_config *c = &model->cfg;
    if (p.n_ctx <= 0 || p.n_ctx > c->n_ctx_train) p.n_ctx = c->n_ctx_train;
    if (p.n_seq < 1 || p.n_seq > 4096) { g4_error("n_seq %d is out of range [1, 4096]", p.n_seq); return NULL; }
    if (p.n_ubatch < 1) p.n_ubatch = 512;
    if (p.n_ubatch > p.n_ctx) p.n_ubatch = p.n_ctx;
    if (p.n_threads < 0 || p.n_threads > MAX_THREADS) {
        g4_error("n_threads %d is out of range [0, %d] (0: every online core)", p.n_threads, MAX_THREADS);
        return NULL;
    }
    if (p.n_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    }
    g4_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { g4_error("out of memory"); return NULL; }
    ctx->model = model;
    ctx->params = p;
    ctx->ub_seq = malloc((size_t)p.n_ubatch * sizeof(int));
    ctx->ub_pos = malloc((size_t)p.n_ubatch * sizeof(int));
    if (!ctx->ub_seq || !ctx->ub_pos) { g4_error("out of memory"); goto fail; }
    if (g4_kv_init(&ctx->kv, c, p.n_seq, p.n_ctx, p.n_ubatch)) goto fail;
    if (!(ctx->pool = g4k_pool_new(p.n_threads))) {
        g4_error("cannot start %d CPU threads; ask for fewer", p.n_threads);
        goto fail;
    }
    if (p.n_gpu_layers != 0) {
        if (!(ctx->gpu = g4_gpu_new(model, &ctx->kv, p.n_ubatch, p.n_gpu_layers, p.gpu_device))) goto fail;
        if (ctx->gpu->n_layers == 0) { /* the KV-sharing rule left none there */
            g4_gpu_free(ctx->gpu);
            ctx->gpu = NULL;
        }
        ctx->kv.first_cpu_layer = g4_context_gpu_layers(ctx);
        ctx->params.n_gpu_layers = g4_context_gpu_layers(ctx);
    }
    if ((!ctx->gpu || !ctx->gpu->whole) && g4_workspace_init(&ctx->ws, c, p.n_ubatch, p.n_ctx, ctx->pool)) goto fail;
    return ctx;
fail:
    g4_context_free(ctx);
    return NULL;
}

int g4_seq_length(const g4_context *ctx, int seq) {
    if (seq < 0 || seq >= ctx->kv.n_seq) return -1;
    return ctx->kv.seq[seq].len;
}

int g4_context_gpu_layers(const g4_context *ctx) { return ctx->gpu ? ctx->gpu->n_layers : 0; }
const char *g4_context_device(const g4_context *ctx) { return ctx->gpu ? ctx->gpu->where : "CPU"; }

const float *g4_get_logits(g4_context *ctx, int i) {
    if (!ctx->logit_row || i < 0 || i >= ctx->cap_batch || ctx->logit_row[i] < 0) return NULL;
    if (ctx->logits_on_gpu && !ctx->logits_here) {
        if (g4_gpu_download_logits(ctx->gpu, 0, ctx->n_rows, ctx->logits)) return NULL;
        ctx->logits_here = true;
    }
    return ctx->logits + (size_t)ctx->logit_row[i] * ctx->model->cfg.vocab_size;
}

/* The k best of x[0, n) in rank order (higher value, then lower index; NaN never),
 * by insertion into the sorted list of the best so far; -inf and id -1 fill the
 * places of a row with fewer than k numbers. */
static void top_of_row(const float *x, int n, int k, int32_t *ids, float *vals) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (isnan(v) || (m == k && !(v > vals[k - 1]))) continue;
        int at = m < k ? m++ : k - 1;
        while (at > 0 && v > vals[at - 1]) {
            vals[at] = vals[at - 1];
            ids[at] = ids[at - 1];
            at--;
        }
        vals[at] = v;
        ids[at] = i;
    }
    for (int i = m; i < k; i++) vals[i] = -INFINITY, ids[i] = -1;
}

int g4_get_top_logits(g4_context *ctx, int i, int k, int32_t *ids, float *vals) {
    int V = ctx->model->cfg.vocab_size;
    if (k < 1 || k > 256) return g4_error("g4_get_top_logits: k = %d is out of range [1, 256]", k);
    if (!ctx->logit_row || i < 0 || i >= ctx->cap_batch || ctx->logit_row[i] < 0)
        return g4_error("g4_get_top_logits: batch row %d did not ask for logits", i);
    if (k > V) k = V;
    if (ctx->logits_on_gpu && !ctx->logits_here)
        return g4_gpu_top_logits(ctx->gpu, ctx->logit_row[i], k, ids, vals) ? -1 : k;
    top_of_row(g4_get_logits(ctx, i), V, k, ids, vals);
    return k;
}

int32_t g4_sampler_sample_row(g4_sampler *s, g4_context *ctx, int i) {
    int k = s ? g4_sampler_top_k_only(s) : 0;
    if (k > 0) {
        int32_t ids[256];
        float vals[256];
        int n = g4_get_top_logits(ctx, i, k, ids, vals);
        return n < 0 ? -1 : g4_sampler_sample_top(s, ids, vals, n);
    }
    const float *row = g4_get_logits(ctx, i);
    if (!row) {
        g4_error("batch row %d has no logits", i);
        return -1;
    }
    return g4_sampler_sample(s, row);
}

/* Runs tokens [0, n) in micro-batches; every check has been done by the caller.
 * -1 (error set) only when the GPU failed. */
static int run(g4_context *ctx, int n, const int32_t *token, const int32_t *seq, const int *logit_row) {
    const int U = ctx->params.n_ubatch;
    for (int start = 0; start < n; start += U) {
        int cnt = n - start < U ? n - start : U;
        for (int i = 0; i < cnt; i++) {
            g4_kv_seq *q = &ctx->kv.seq[seq[start + i]];
            ctx->ub_seq[i] = seq[start + i];
            ctx->ub_pos[i] = q->len;
            q->tokens[q->len] = token[start + i];
            q->len++;
            if (q->len > q->hi) q->hi = q->len;
        }
        g4_ubatch ub = {.n = cnt, .token = token + start, .seq = ctx->ub_seq, .pos = ctx->ub_pos,
                        .logit_row = logit_row + start};
        if (!ctx->gpu) {
            g4_forward(ctx->model, &ctx->kv, &ctx->ws, &ub, ctx->logits);
            continue;
        }
        if (!ctx->gpu->whole) g4_forward_embed(ctx->model, &ctx->ws, &ub);
        if (g4_gpu_forward(ctx->gpu, &ub, &ctx->ws)) return -1;
        if (ctx->gpu->whole) continue;
        for (int l = ctx->gpu->n_layers; l < ctx->model->cfg.n_layers; l++)
            g4_forward_layer(ctx->model, &ctx->kv, &ctx->ws, &ub, l);
        g4_forward_head(ctx->model, &ctx->ws, &ub, ctx->logits);
    }
    return 0;
}

int g4_decode(g4_context *ctx, const g4_batch *b) {
    g4_error_clear();
    const g4_config *c = &ctx->model->cfg;
    if (!b || b->n_tokens < 1 || !b->token) return g4_error("empty batch");
    int n = b->n_tokens;
    /* validate everything before touching any state */
    int *added = calloc((size_t)ctx->kv.n_seq, sizeof *added);
    if (!added) return g4_error("out of memory");
    int rc = -1;
    for (int i = 0; i < n; i++) {
        int s = b->seq ? b->seq[i] : 0;
        if (s < 0 || s >= ctx->kv.n_seq) { g4_error("batch token %d: sequence %d is out of range [0, %d)", i, s, ctx->kv.n_seq); goto out; }
        if (b->token[i] < 0 || b->token[i] >= c->vocab_size) {
            g4_error("batch token %d: id %d is out of the vocabulary [0, %d)", i, b->token[i], c->vocab_size);
            goto out;
        }
        added[s]++;
    }
    for (int s = 0; s < ctx->kv.n_seq; s++) {
        if (!added[s]) continue;
        int need = ctx->kv.seq[s].len + added[s];
        if (need > ctx->kv.n_ctx) { g4_error("sequence %d would hold %d positions, more than the context size %d", s, need, ctx->kv.n_ctx); goto out; }
        if (g4_kv_reserve(&ctx->kv, s, need)) goto out;
    }
    int rows = 0;
    if (n > ctx->cap_batch) {
        int *r = realloc(ctx->logit_row, (size_t)n * sizeof *r);
        if (!r) { g4_error("out of memory"); goto out; }
        ctx->logit_row = r;
        ctx->cap_batch = n;
    }
    for (int i = 0; i < ctx->cap_batch; i++) ctx->logit_row[i] = -1;
    for (int i = 0; i < n; i++)
        if (b->logits ? b->logits[i] != 0 : i == n - 1) ctx->logit_row[i] = rows++;
    if (rows > ctx->cap_rows) {
        float *l = realloc(ctx->logits, (size_t)rows * (size_t)c->vocab_size * sizeof *l);
        if (!l) { g4_error("out of memory for %d rows of logits", rows); goto out; }
        ctx->logits = l;
        ctx->cap_rows = rows;
    }
    ctx->n_rows = rows;
    ctx->logits_on_gpu = ctx->gpu && ctx->gpu->whole;
    ctx->logits_here = false;
    if (ctx->logits_on_gpu && g4_gpu_reserve_logits(ctx->gpu, rows)) goto out;
    int32_t *seq = malloc((size_t)n * sizeof *seq);
    if (!seq) { g4_error("out of memory"); goto out; }
    for (int i = 0; i < n; i++) seq[i] = b->seq ? b->seq[i] : 0;
    rc = run(ctx, n, b->token, seq, ctx->logit_row);
    free(seq);
out:
    free(added);
    return rc;
}

int g4_seq_truncate(g4_context *ctx, int seq, int pos) {
    g4_error_clear();
    if (seq < 0 || seq >= ctx->kv.n_seq) return g4_error("sequence %d is out of range [0, %d)", seq, ctx->kv.n_seq);
    g4_kv_seq *q = &ctx->kv.seq[seq];
    if (pos < 0 || pos > q->len) return g4_error("cannot truncate sequence %d of %d positions to %d", seq, q->len, pos);
    /* Sliding rings must still hold the window that precedes pos; else rebuild from 0. */
    const g4_config *c = &ctx->model->cfg;
    int need = pos - c->window + 1 > 0 ? pos - c->window + 1 : 0;
    bool rebuild = false;
    for (int l = 0; l < c->n_layers; l++)
        if (ctx->kv.ring[l] && g4_kv_lowest_held(&ctx->kv, seq, l) > need) rebuild = true;
    q->len = pos;
    if (!rebuild || pos == 0) {
        if (pos == 0) q->hi = 0;
        return 0;
    }
    int32_t *tokens = malloc((size_t)pos * sizeof *tokens);
    int *rows = malloc((size_t)pos * sizeof *rows);
    int32_t *seqs = malloc((size_t)pos * sizeof *seqs);
    if (!tokens || !rows || !seqs) {
        free(tokens), free(rows), free(seqs);
        return g4_error("out of memory rebuilding sequence %d", seq);
    }
    memcpy(tokens, q->tokens, (size_t)pos * sizeof *tokens);
    for (int i = 0; i < pos; i++) rows[i] = -1, seqs[i] = seq;
    q->len = 0;
    q->hi = 0;
    int rc = run(ctx, pos, tokens, seqs, rows);
    free(tokens), free(rows), free(seqs);
    return rc;
}

int g4_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
