/* gemma4.c: the forward pass of the Gemma 4 text decoder, written to follow
 * shared/docs/gemma4-text-arch.md §2 step by step. Every op is a call into the
 * backend (kernels/backend.h); activations are f32. Matrix products and attention
 * run on the context's threads (ws->pool). */
#include "forward.h"
#include "quant.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- scratch ------------------------------------------------------------------- */

int g4_workspace_init(g4_workspace *ws, const g4_config *c, int U, int n_ctx, g4k_pool *pool) {
    memset(ws, 0, sizeof *ws);
    ws->n_ubatch = U;
    ws->n_ctx = n_ctx;
    ws->pool = pool;
    size_t H = (size_t)c->hidden, qmax = 0, kvmax = 0, ffmax = 2 * (size_t)c->expert_ff;
    int dmax = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const g4_layer_config *lc = &c->layer[l];
        if (lc->head_dim > dmax) dmax = lc->head_dim;
        size_t q = (size_t)c->n_heads * lc->head_dim, kv = (size_t)lc->n_kv_heads * lc->head_dim;
        if (q > qmax) qmax = q;
        if (kv > kvmax) kvmax = kv;
        if ((size_t)lc->n_ff > ffmax) ffmax = (size_t)lc->n_ff;
    }
    size_t LP = (size_t)c->n_layers * c->ple_dim, E = (size_t)c->n_experts, K = (size_t)c->n_experts_used;
    float **bufs[] = {&ws->x, &ws->a, &ws->q, &ws->k, &ws->v, &ws->attn, &ws->o, &ws->m,
                      &ws->gate, &ws->up, &ws->ple, &ws->ple_g, &ws->router, &ws->expert_w,
                      &ws->xe, &ws->ye, &ws->moe};
    size_t sizes[] = {H, H, qmax, kvmax, kvmax, qmax, H, H, ffmax, ffmax, LP, (size_t)c->ple_dim, E, K,
                      E ? H : 0, E ? H : 0, E ? H : 0};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (!(*bufs[i] = malloc((size_t)U * (sizes[i] ? sizes[i] : 1) * sizeof(float)))) goto oom;
    if (!(ws->ple_row = malloc((LP ? LP : 1) * sizeof(float)))) goto oom;
    ws->expert_ids = malloc((size_t)U * (K ? K : 1) * sizeof(int));
    ws->rows = malloc((size_t)U * sizeof(int));
    ws->span = malloc((size_t)U * sizeof *ws->span);
    ws->scores_len = g4k_attention_scratch_size(g4k_pool_size(pool), U, c->n_heads, dmax, n_ctx);
    ws->scores = malloc(ws->scores_len * sizeof(float));
    if (!ws->expert_ids || !ws->rows || !ws->span || !ws->scores) goto oom;
    return 0;
oom:
    g4_workspace_free(ws);
    return g4_error("out of memory for activations (%d tokens per step)", U);
}

void g4_workspace_free(g4_workspace *ws) {
    float *bufs[] = {ws->x, ws->a, ws->q, ws->k, ws->v, ws->attn, ws->o, ws->m, ws->gate, ws->up,
                     ws->ple, ws->ple_g, ws->router, ws->expert_w, ws->xe, ws->ye, ws->moe, ws->scores, ws->ple_row};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(ws->expert_ids);
    free(ws->rows);
    free(ws->span);
    memset(ws, 0, sizeof *ws);
}

/* ---- steps --------------------------------------------------------------------- */

/* §2.2: h⁰ = E[token] · √H */
static void embed_tokens(const g4_model *m, const g4_ubatch *ub, float *x) {
    const g4k_matrix *E = &m->w.embed;
    size_t H = (size_t)m->cfg.hidden;
    for (int t = 0; t < ub->n; t++) {
        g4_dequantize_row(E->type, (const char *)E->data + (size_t)ub->token[t] * E->row_bytes, x + t * H, (int64_t)H);
        g4k_scale(x + t * H, m->cfg.embed_scale, (int64_t)H);
    }
}

/* §2.3: p_l = (RMSNorm(W_plmp·h⁰ / √H) + E_pl[token]·√P) / √2, for every layer l. */
static void per_layer_inputs(const g4_model *m, const g4_ubatch *ub, g4_workspace *ws) {
    const g4_config *c = &m->cfg;
    int P = c->ple_dim, L = c->n_layers;
    size_t LP = (size_t)L * P;
    g4k_matmul(ws->pool, &m->w.ple_model_proj, ws->x, ub->n, ws->ple);
    g4k_scale(ws->ple, 1.0f / sqrtf((float)c->hidden), (int64_t)(ub->n * LP));
    g4k_rmsnorm(ws->pool, ws->ple, ws->ple, m->w.ple_proj_norm, P, ub->n * L, c->rms_eps);
    const g4k_matrix *T = &m->w.ple_embed;
    for (int t = 0; t < ub->n; t++) {
        int id = ub->token[t] < c->ple_vocab ? ub->token[t] : c->pad_id; /* out-of-table ids use the pad row */
        g4_dequantize_row(T->type, (const char *)T->data + (size_t)id * T->row_bytes, ws->ple_row, (int64_t)LP);
        float *p = ws->ple + t * LP;
        for (size_t i = 0; i < LP; i++) p[i] = (p[i] + ws->ple_row[i] * sqrtf((float)P)) * (float)M_SQRT1_2;
    }
}

/* §2.5: attention of layer l: a → ws->o. K/V of owning layers go to the cache first,
 * so every query reads its keys from one place, whoever wrote them. */
static void attention(const g4_model *m, g4_kv_cache *kv, g4_workspace *ws, const g4_ubatch *ub, int l) {
    const g4_config *c = &m->cfg;
    const g4_layer_config *lc = &c->layer[l];
    const g4_layer_weights *w = &m->w.layer[l];
    int nq = c->n_heads, nkv = lc->n_kv_heads, d = lc->head_dim, src = lc->kv_source;
    size_t q_dim = (size_t)nq * d, kv_dim = (size_t)nkv * d;

    g4k_matmul(ws->pool, &w->wq, ws->a, ub->n, ws->q);
    for (int t = 0; t < ub->n; t++) {
        g4k_rmsnorm(ws->pool, ws->q + t * q_dim, ws->q + t * q_dim, w->q_norm, d, nq, c->rms_eps);
        g4k_rope(ws->q + t * q_dim, nq, d, lc->rope_freq, ub->pos[t]);
    }
    if (src == l) {
        g4k_matmul(ws->pool, &w->wk, ws->a, ub->n, ws->k);
        if (w->wv.data) g4k_matmul(ws->pool, &w->wv, ws->a, ub->n, ws->v);
        else memcpy(ws->v, ws->k, (size_t)ub->n * kv_dim * sizeof(float)); /* k_eq_v: V is the raw K projection */
        int ring = kv->ring[l];
        for (int t = 0; t < ub->n; t++) {
            float *k = ws->k + t * kv_dim, *v = ws->v + t * kv_dim;
            g4k_rmsnorm(ws->pool, k, k, w->k_norm, d, nkv, c->rms_eps);
            g4k_rope(k, nkv, d, lc->rope_freq, ub->pos[t]);
            g4k_rmsnorm(ws->pool, v, v, NULL, d, nkv, c->rms_eps); /* weightless V norm */
            g4_kv_layer *cache = &kv->seq[ub->seq[t]].layer[l];
            size_t slot = (size_t)(ub->pos[t] % ring);
            memcpy(cache->k + slot * kv_dim, k, kv_dim * sizeof(float));
            memcpy(cache->v + slot * kv_dim, v, kv_dim * sizeof(float));
        }
    }
    for (int t = 0; t < ub->n; t++) { /* each token reads its own sequence's ring, up to its own position */
        const g4_kv_layer *cache = &kv->seq[ub->seq[t]].layer[src];
        int last = ub->pos[t], first = lc->sliding ? last - c->window + 1 : 0;
        ws->span[t] = (g4k_kv_span){.k = cache->k, .v = cache->v, .first = first > 0 ? first : 0, .last = last};
    }
    g4k_attention(ws->pool, ws->attn, ws->q, ub->n, nq, nkv, d, ws->span, kv->ring[src], ws->scores, ws->scores_len);
    g4k_matmul(ws->pool, &w->wo, ws->attn, ub->n, ws->o);
}

/* §2.1: MLP(u) = W_down · (gelu(W_gate·u) ⊙ W_up·u), u = ws->a, result in out. */
static void mlp(const g4_layer_weights *w, g4_workspace *ws, int n, float *out) {
    g4k_matmul(ws->pool, &w->ffn_gate, ws->a, n, ws->gate);
    g4k_matmul(ws->pool, &w->ffn_up, ws->a, n, ws->up);
    g4k_gelu_mul(ws->pool, ws->gate, ws->up, (int64_t)n * w->ffn_gate.n_out);
    g4k_matmul(ws->pool, &w->ffn_down, ws->gate, n, out);
}

/* §2.6 step 1-2: router on the residual r; top-k experts and their weights. */
static void route(const g4_model *m, const g4_layer_weights *w, const float *r, g4_workspace *ws, int n) {
    const g4_config *c = &m->cfg;
    int H = c->hidden, E = c->n_experts, K = c->n_experts_used;
    g4k_rmsnorm(ws->pool, ws->xe, r, NULL, H, n, c->rms_eps);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < H; i++) ws->xe[(size_t)t * H + i] *= w->router_scale[i] / sqrtf((float)H);
    g4k_matmul(ws->pool, &w->router, ws->xe, n, ws->router);
    for (int t = 0; t < n; t++) {
        float *p = ws->router + (size_t)t * E;
        int *ids = ws->expert_ids + (size_t)t * K;
        float *wt = ws->expert_w + (size_t)t * K;
        /* softmax over all experts, top-k, renormalise (= softmax over the chosen logits) */
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                bool taken = false;
                for (int j = 0; j < k; j++) taken |= ids[j] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            ids[k] = best;
        }
        float max = p[ids[0]], sum = 0.0f;
        for (int k = 0; k < K; k++) sum += (wt[k] = expf(p[ids[k]] - max));
        for (int k = 0; k < K; k++) wt[k] = wt[k] / sum * w->expert_scale[ids[k]];
    }
}

/* §2.6 step 3-4: MoE(r) = Σ w_e · W_down[e]·(gelu(g) ⊙ t), [g;t] = W_gu[e]·RMSNorm(r; pre_ffn_2).
 * Tokens are grouped by expert so each expert's weights are read once per step. */
static void moe(const g4_model *m, const g4_layer_weights *w, const float *r, g4_workspace *ws, int n) {
    const g4_config *c = &m->cfg;
    size_t H = (size_t)c->hidden, I = (size_t)c->expert_ff;
    int K = c->n_experts_used;
    route(m, w, r, ws, n);
    g4k_rmsnorm(ws->pool, ws->a, r, w->pre_ffn_norm_2, (int)H, n, c->rms_eps);
    memset(ws->moe, 0, (size_t)n * H * sizeof(float));
    for (int e = 0; e < c->n_experts; e++) {
        int cnt = 0;
        for (int t = 0; t < n; t++)
            for (int k = 0; k < K; k++)
                if (ws->expert_ids[t * K + k] == e) ws->rows[cnt++] = t * K + k;
        if (!cnt) continue;
        for (int i = 0; i < cnt; i++) memcpy(ws->xe + i * H, ws->a + (size_t)(ws->rows[i] / K) * H, H * sizeof(float));
        if (w->expert_gate_up) {
            g4k_matmul(ws->pool, &w->expert_gate_up[e], ws->xe, cnt, ws->up); /* [cnt][2I]: gate then up */
            for (int i = 0; i < cnt; i++) {
                memcpy(ws->gate + i * I, ws->up + i * 2 * I, I * sizeof(float));
                g4k_gelu_mul(ws->pool, ws->gate + i * I, ws->up + i * 2 * I + I, (int64_t)I);
            }
        } else {
            g4k_matmul(ws->pool, &w->expert_gate[e], ws->xe, cnt, ws->gate);
            g4k_matmul(ws->pool, &w->expert_up[e], ws->xe, cnt, ws->up);
            g4k_gelu_mul(ws->pool, ws->gate, ws->up, (int64_t)(cnt * I));
        }
        g4k_matmul(ws->pool, &w->expert_down[e], ws->gate, cnt, ws->ye);
        for (int i = 0; i < cnt; i++) {
            int t = ws->rows[i] / K;
            float we = ws->expert_w[ws->rows[i]];
            for (size_t j = 0; j < H; j++) ws->moe[t * H + j] += we * ws->ye[i * H + j];
        }
    }
}

/* ---- the decoder ----------------------------------------------------------------- */

void g4_forward_embed(const g4_model *m, g4_workspace *ws, const g4_ubatch *ub) {
    embed_tokens(m, ub, ws->x);
    if (m->cfg.ple_dim) per_layer_inputs(m, ub, ws);
}

void g4_forward_layer(const g4_model *m, g4_kv_cache *kv, g4_workspace *ws, const g4_ubatch *ub, int l) {
    const g4_config *c = &m->cfg;
    const g4_layer_weights *w = &m->w.layer[l];
    const int n = ub->n, H = c->hidden;
    const size_t nH = (size_t)n * H;
    float eps = c->rms_eps;

    /* §2.4 steps 1-3: h = h + RMSNorm(Attn(RMSNorm(h)); post_attn) =: r */
    g4k_rmsnorm(ws->pool, ws->a, ws->x, w->attn_norm, H, n, eps);
    attention(m, kv, ws, ub, l);
    g4k_rmsnorm(ws->pool, ws->o, ws->o, w->post_attn_norm, H, n, eps);
    g4k_add(ws->x, ws->o, (int64_t)nH);

    /* steps 4-6: dense MLP (+ MoE beside it), h = r + RMSNorm(m; post_ffn) */
    g4k_rmsnorm(ws->pool, ws->a, ws->x, w->ffn_norm, H, n, eps);
    mlp(w, ws, n, ws->m);
    if (c->n_experts) {
        moe(m, w, ws->x, ws, n);
        g4k_rmsnorm(ws->pool, ws->m, ws->m, w->post_ffn_norm_1, H, n, eps);
        g4k_rmsnorm(ws->pool, ws->moe, ws->moe, w->post_ffn_norm_2, H, n, eps);
        g4k_add(ws->m, ws->moe, (int64_t)nH);
    }
    g4k_rmsnorm(ws->pool, ws->m, ws->m, w->post_ffn_norm, H, n, eps);
    g4k_add(ws->x, ws->m, (int64_t)nH);

    /* step 7 (§2.3): h = h + RMSNorm(W_plp·(gelu(W_plg·h) ⊙ p_l); post_pl) */
    if (c->ple_dim) {
        int P = c->ple_dim;
        g4k_matmul(ws->pool, &w->ple_gate, ws->x, n, ws->ple_g);
        for (int t = 0; t < n; t++) {
            const float *p = ws->ple + ((size_t)t * c->n_layers + l) * P;
            g4k_gelu_mul(ws->pool, ws->ple_g + (size_t)t * P, p, P);
        }
        g4k_matmul(ws->pool, &w->ple_proj, ws->ple_g, n, ws->o);
        g4k_rmsnorm(ws->pool, ws->o, ws->o, w->ple_post_norm, H, n, eps);
        g4k_add(ws->x, ws->o, (int64_t)nH);
    }
    /* step 8: the whole residual stream is scaled */
    g4k_scale(ws->x, w->layer_scalar, (int64_t)nH);
}

void g4_forward_head(const g4_model *m, g4_workspace *ws, const g4_ubatch *ub, float *logits) {
    const g4_config *c = &m->cfg;
    const int n = ub->n, H = c->hidden;
    /* §2.7: logits = softcap(E · RMSNorm(h; norm)) for the rows asked for */
    int rows = 0;
    for (int t = 0; t < n; t++)
        if (ub->logit_row[t] >= 0) {
            g4k_rmsnorm(ws->pool, ws->a + (size_t)rows * H, ws->x + (size_t)t * H, m->w.output_norm, H, 1, c->rms_eps);
            ws->rows[rows++] = ub->logit_row[t];
        }
    if (!rows) return;
    size_t V = (size_t)c->vocab_size;
    /* rows asked for are consecutive in `logits` (the caller numbers them in batch order) */
    float *out = logits + (size_t)ws->rows[0] * V;
    g4k_matmul(ws->pool, &m->w.output, ws->a, rows, out);
    if (c->softcap > 0.0f) g4k_softcap(out, (int64_t)rows * (int64_t)V, c->softcap);
}

void g4_forward(const g4_model *m, g4_kv_cache *kv, g4_workspace *ws, const g4_ubatch *ub, float *logits) {
    g4_forward_embed(m, ws, ub);
    for (int l = 0; l < m->cfg.n_layers; l++) g4_forward_layer(m, kv, ws, ub, l);
    g4_forward_head(m, ws, ub, logits);
}
