/* gpu_forward.c: the decoder's layers on the GPU, step by step as gemma4.c
 * (shared/docs/gemma4-text-arch.md §2), each op a call into kernels/gpu.h on
 * the context's device buffers (gpu_model.h). Decode steps (at most
 * G4_GPU_DECODE_MAX tokens, every row's logits) are recorded once per size as
 * a graph and replayed: their inputs go through fixed buffers, and nothing in
 * them waits for the host. */
#include "gpu_model.h"
#include "quant.h"
#include "base/error.h"

#include <math.h>
#include <string.h>

#define CONST_TABLE(p) ((const float *const *)(p))

/* §2.5: attention of layer l: a → o. K/V of owning layers go to the ring first. */
static void attention(g4_gpu *g, int n, int l) {
    const g4_config *c = &g->model->cfg;
    const g4_layer_config *lc = &c->layer[l];
    const g4_gpu_layer *w = &g->layer[l], *src = &g->layer[lc->kv_source];
    g4_gpu_acts *a = &g->act;
    g4g_device *dev = g->dev;
    int nq = c->n_heads, nkv = lc->n_kv_heads, d = lc->head_dim, kv_dim = nkv * d;
    float eps = c->rms_eps;

    g4g_matmul(dev, &w->wq, a->a, n, a->q);
    g4g_norm_rope(dev, a->q, n, nq, d, w->q_norm, eps, w->rope_freq, a->pos);
    if (lc->kv_source == l) {
        g4g_matmul(dev, &w->wk, a->a, n, a->k);
        if (w->wv.data) g4g_matmul(dev, &w->wv, a->a, n, a->v);
        else g4g_copy(dev, a->v, a->k, (size_t)n * kv_dim * sizeof(float)); /* k_eq_v: V is the raw K projection */
        g4g_norm_rope(dev, a->k, n, nkv, d, w->k_norm, eps, w->rope_freq, a->pos);
        g4g_norm_rope(dev, a->v, n, nkv, d, NULL, eps, NULL, a->pos); /* weightless V norm */
        g4g_kv_store(dev, w->k_seq, w->v_seq, a->k, a->v, n, kv_dim, a->seq, a->pos, w->ring);
    }
    g4g_attention(dev, a->attn, a->q, n, nq, nkv, d, CONST_TABLE(src->k_seq), CONST_TABLE(src->v_seq), a->seq, a->pos,
                  lc->sliding ? c->window : 0, src->ring, a->attn_scratch, a->attn_scratch_bytes);
    g4g_matmul(dev, &w->wo, a->attn, n, a->o);
}

/* §2.1: MLP(a) = W_down · (gelu(W_gate·a) ⊙ W_up·a) → m */
static void mlp(g4_gpu *g, const g4_gpu_layer *w, int n) {
    g4_gpu_acts *a = &g->act;
    int I = (int)w->ffn_gate.n_out;
    g4g_matmul(g->dev, &w->ffn_gate, a->a, n, a->gate);
    g4g_matmul(g->dev, &w->ffn_up, a->a, n, a->up);
    g4g_gelu_mul(g->dev, a->gate, I, a->gate, I, a->up, I, n, I);
    g4g_matmul(g->dev, &w->ffn_down, a->gate, n, a->m);
}

static g4k_matrix expert(const g4k_matrix *w0, size_t stride, int e) {
    g4k_matrix w = *w0;
    w.data = (const char *)w0->data + (size_t)e * stride;
    return w;
}

/* One expert's MLP on rows [n] of xe → ye (gate/up into gate). */
static void expert_mlp(g4_gpu *g, const g4_gpu_layer *w, int e, int n) {
    g4_gpu_acts *a = &g->act;
    int I = g->model->cfg.expert_ff;
    if (w->exp_gate_up.data) {
        g4k_matrix gu = expert(&w->exp_gate_up, w->exp_gate_up_stride, e);
        g4g_matmul(g->dev, &gu, a->xe, n, a->up); /* [n][2I]: gate then up */
        g4g_gelu_mul(g->dev, a->gate, I, a->up, 2 * I, a->up + I, 2 * I, n, I);
    } else {
        g4k_matrix wg = expert(&w->exp_gate, w->exp_gate_stride, e), wu = expert(&w->exp_up, w->exp_up_stride, e);
        g4g_matmul(g->dev, &wg, a->xe, n, a->gate);
        g4g_matmul(g->dev, &wu, a->xe, n, a->up);
        g4g_gelu_mul(g->dev, a->gate, I, a->gate, I, a->up, I, n, I);
    }
    g4k_matrix wd = expert(&w->exp_down, w->exp_down_stride, e);
    g4g_matmul(g->dev, &wd, a->gate, n, a->ye);
}

/* §2.6: MoE(r) = Σ w_e · W_down[e]·(gelu(g) ⊙ t), [g;t] = W_gu[e]·RMSNorm(r; pre_ffn_2), r = x → moe.
 * Few tokens: every (token, expert) pair at once, experts picked on the device.
 * More: the routing is read back and tokens are grouped by expert, so that each
 * expert's weights are read once per step. */
static int moe(g4_gpu *g, const g4_gpu_layer *w, int n) {
    const g4_config *c = &g->model->cfg;
    g4_gpu_acts *a = &g->act;
    g4g_device *dev = g->dev;
    int H = c->hidden, E = c->n_experts, K = c->n_experts_used, I = c->expert_ff;

    /* router: softmax(W_r · RMSNorm(r) · s/√H), top-k, renormalised, per-expert scale */
    g4g_rmsnorm(dev, a->xe, a->x, w->router_scale, H, n, c->rms_eps);
    g4g_matmul(dev, &w->router, a->xe, n, a->router);
    g4g_moe_route(dev, a->router, n, E, K, w->expert_scale, a->expert_ids, a->expert_w);
    g4g_rmsnorm(dev, a->a, a->x, w->pre_ffn_norm_2, H, n, c->rms_eps);

    if (n <= G4_GPU_DECODE_MAX) {
        int pairs = n * K;
        if (w->exp_gate_up.data) {
            g4g_matmul_experts(dev, &w->exp_gate_up, w->exp_gate_up_stride, a->expert_ids, pairs, a->a, K, a->up);
            g4g_gelu_mul(dev, a->gate, I, a->up, 2 * I, a->up + I, 2 * I, pairs, I);
        } else {
            g4g_matmul_experts(dev, &w->exp_gate, w->exp_gate_stride, a->expert_ids, pairs, a->a, K, a->gate);
            g4g_matmul_experts(dev, &w->exp_up, w->exp_up_stride, a->expert_ids, pairs, a->a, K, a->up);
            g4g_gelu_mul(dev, a->gate, I, a->gate, I, a->up, I, pairs, I);
        }
        g4g_matmul_experts(dev, &w->exp_down, w->exp_down_stride, a->expert_ids, pairs, a->gate, 1, a->ye);
        g4g_moe_combine(dev, a->moe, a->ye, a->expert_w, n, K, H);
        return 0;
    }

    g4_gpu_staging *h = &g->host;
    int pairs = n * K;
    if (g4g_download(dev, h->ids, a->expert_ids, (size_t)pairs * sizeof *h->ids) ||
        g4g_download(dev, h->w, a->expert_w, (size_t)pairs * sizeof *h->w))
        return g4_error("GPU: %s", g4g_error(dev));
    /* counting sort of the pairs by expert: token rows and weights in expert order */
    int *first = h->expert_first;
    memset(first, 0, (size_t)(E + 1) * sizeof *first);
    for (int p = 0; p < pairs; p++) first[h->ids[p] + 1]++;
    for (int e = 0; e < E; e++) first[e + 1] += first[e];
    for (int p = 0; p < pairs; p++) {
        int at = first[h->ids[p]]++;
        h->pair_rows[at] = p / K;
        h->pair_w[at] = h->w[p];
    }
    for (int e = E; e > 0; e--) first[e] = first[e - 1]; /* the fills moved each start to the next */
    first[0] = 0;
    g4g_upload_async(dev, a->pair_rows, h->pair_rows, (size_t)pairs * sizeof *h->pair_rows);
    g4g_upload_async(dev, a->pair_w, h->pair_w, (size_t)pairs * sizeof *h->pair_w);
    g4g_zero(dev, a->moe, (size_t)n * H * sizeof(float));
    for (int e = 0; e < E; e++) {
        int cnt = first[e + 1] - first[e];
        if (!cnt) continue;
        g4g_gather_rows(dev, a->xe, a->a, a->pair_rows + first[e], cnt, H);
        expert_mlp(g, w, e, cnt);
        g4g_scatter_add_rows(dev, a->moe, a->ye, a->pair_rows + first[e], a->pair_w + first[e], cnt, H);
    }
    return 0;
}

/* §2.4: one decoder layer on x. */
static int layer(g4_gpu *g, int n, int l) {
    const g4_config *c = &g->model->cfg;
    const g4_gpu_layer *w = &g->layer[l];
    g4_gpu_acts *a = &g->act;
    g4g_device *dev = g->dev;
    int H = c->hidden;
    float eps = c->rms_eps;

    /* steps 1-3: h = h + RMSNorm(Attn(RMSNorm(h)); post_attn) =: r */
    g4g_rmsnorm(dev, a->a, a->x, w->attn_norm, H, n, eps);
    attention(g, n, l);
    g4g_norm_add(dev, a->x, a->o, w->post_attn_norm, H, n, eps);

    /* steps 4-6: dense MLP (+ MoE beside it), h = r + RMSNorm(m; post_ffn) */
    g4g_rmsnorm(dev, a->a, a->x, w->ffn_norm, H, n, eps);
    mlp(g, w, n);
    if (c->n_experts) {
        if (moe(g, w, n)) return -1;
        g4g_rmsnorm(dev, a->m, a->m, w->post_ffn_norm_1, H, n, eps);
        g4g_rmsnorm(dev, a->moe, a->moe, w->post_ffn_norm_2, H, n, eps);
        g4g_add(dev, a->m, a->moe, (int64_t)n * H);
    }
    g4g_norm_add(dev, a->x, a->m, w->post_ffn_norm, H, n, eps);

    /* step 7 (§2.3): h = h + RMSNorm(W_plp·(gelu(W_plg·h) ⊙ p_l); post_pl) */
    if (c->ple_dim) {
        int P = c->ple_dim;
        g4g_matmul(dev, &w->ple_gate, a->x, n, a->ple_g);
        g4g_gelu_mul(dev, a->ple_g, P, a->ple_g, P, a->ple + (size_t)l * P, c->n_layers * P, n, P);
        g4g_matmul(dev, &w->ple_proj, a->ple_g, n, a->o);
        g4g_norm_add(dev, a->x, a->o, w->ple_post_norm, H, n, eps);
    }
    /* step 8: the whole residual stream is scaled */
    g4g_scale(dev, a->x, g->model->w.layer[l].layer_scalar, (int64_t)n * H);
    return 0;
}

/* §2.2-2.3 on the device: h⁰ = E[token]·√H, and the per-layer inputs
 * p_l = (RMSNorm(W_plmp·h⁰/√H) + E_pl[token]·√P)/√2 with E_pl's rows from the host. */
static void embed(g4_gpu *g, int n) {
    const g4_config *c = &g->model->cfg;
    g4_gpu_acts *a = &g->act;
    g4g_device *dev = g->dev;
    g4g_embed(dev, &g->embed, a->token, n, c->embed_scale, a->x);
    if (!c->ple_dim) return;
    int64_t LP = (int64_t)c->n_layers * c->ple_dim;
    g4g_upload_async(dev, a->ple_row, g->host.ple_row, (size_t)n * LP * sizeof(float));
    g4g_matmul(dev, &g->ple_model_proj, a->x, n, a->ple);
    g4g_scale(dev, a->ple, 1.0f / sqrtf((float)c->hidden), n * LP);
    g4g_rmsnorm(dev, a->ple, a->ple, g->ple_proj_norm, c->ple_dim, n * c->n_layers, c->rms_eps);
    g4g_ple_combine(dev, a->ple, a->ple_row, sqrtf((float)c->ple_dim), (float)M_SQRT1_2, n * LP);
}

/* §2.7: logits = softcap(E · RMSNorm(h; norm)) for `rows` rows, from row `first` of act.logits. */
static void head(g4_gpu *g, int rows, int first) {
    const g4_config *c = &g->model->cfg;
    g4_gpu_acts *a = &g->act;
    g4g_device *dev = g->dev;
    size_t V = (size_t)c->vocab_size;
    float *out = a->logits + (size_t)first * V;
    g4g_gather_rows(dev, a->head_in, a->x, a->head_rows, rows, c->hidden);
    g4g_rmsnorm(dev, a->head_in, a->head_in, g->output_norm, c->hidden, rows, c->rms_eps);
    g4g_matmul(dev, &g->output, a->head_in, rows, out);
    if (c->softcap > 0.0f) g4g_softcap(dev, out, (int64_t)rows * (int64_t)V, c->softcap);
}

/* Everything the step puts on the stream, after the host filled the staging buffers. */
static int enqueue_step(g4_gpu *g, int n, int rows, int first_row) {
    g4_gpu_acts *a = &g->act;
    g4_gpu_staging *h = &g->host;
    g4g_device *dev = g->dev;
    g4g_upload_async(dev, a->token, h->token, (size_t)n * sizeof(int32_t));
    g4g_upload_async(dev, a->seq, h->seq, (size_t)n * sizeof(int32_t));
    g4g_upload_async(dev, a->pos, h->pos, (size_t)n * sizeof(int32_t));
    if (g->whole) embed(g, n);
    for (int l = 0; l < g->n_layers; l++)
        if (layer(g, n, l)) return -1;
    if (g->whole && rows) {
        g4g_upload_async(dev, a->head_rows, h->head_rows, (size_t)rows * sizeof(int32_t));
        head(g, rows, first_row);
    }
    return 0;
}

int g4_gpu_forward(g4_gpu *g, const g4_ubatch *ub, g4_workspace *ws) {
    const g4_config *c = &g->model->cfg;
    g4g_device *dev = g->dev;
    const int n = ub->n;
    /* the previous step may still read the staging buffers */
    if (g4g_sync(dev)) return g4_error("GPU: %s", g4g_error(dev));

    g4_gpu_staging *h = &g->host;
    int rows = 0, first_row = -1;
    for (int t = 0; t < n; t++) {
        h->token[t] = ub->token[t];
        h->seq[t] = ub->seq[t];
        h->pos[t] = ub->pos[t];
        if (ub->logit_row[t] >= 0) {
            if (first_row < 0) first_row = ub->logit_row[t];
            h->head_rows[rows++] = t;
        }
    }
    if (g->whole && c->ple_dim) { /* the step's rows of the per-layer token table */
        const g4k_matrix *T = &g->model->w.ple_embed;
        int64_t LP = (int64_t)c->n_layers * c->ple_dim;
        for (int t = 0; t < n; t++) {
            int id = ub->token[t] < c->ple_vocab ? ub->token[t] : c->pad_id;
            g4_dequantize_row(T->type, (const char *)T->data + (size_t)id * T->row_bytes, h->ple_row + t * LP, LP);
        }
    }
    if (!g->whole) { /* the CPU made the embedding and the per-layer inputs */
        g4g_upload(dev, g->act.x, ws->x, (size_t)n * c->hidden * sizeof(float));
        if (c->ple_dim)
            g4g_upload(dev, g->act.ple, ws->ple, (size_t)n * c->n_layers * c->ple_dim * sizeof(float));
    }

    bool replay = g->whole && n <= G4_GPU_DECODE_MAX && rows == n && first_row == 0;
    if (replay && !g->graph[n]) {
        if (g4g_graph_begin(dev)) return g4_error("GPU: %s", g4g_error(dev));
        int rc = enqueue_step(g, n, rows, first_row);
        if (g4g_graph_end(dev, &g->graph[n]) || rc) return g4_error("GPU: recording a step: %s", g4g_error(dev));
    }
    if (replay) g4g_graph_launch(dev, g->graph[n]);
    else if (enqueue_step(g, n, rows, first_row)) return -1;

    if (!g->whole && g4g_download(dev, ws->x, g->act.x, (size_t)n * c->hidden * sizeof(float)))
        return g4_error("GPU: %s", g4g_error(dev));
    if (g4g_error(dev)) return g4_error("GPU: %s", g4g_error(dev));
    return 0;
}
