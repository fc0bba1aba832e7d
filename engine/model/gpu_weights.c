/* gpu_weights.c: uploads a model's weights to the GPU once per context: the
 * matrices of the layers that run there in their file's type (the CPU's
 * repacked Q8_0 goes back to plain Q8_0 rows), each kind of expert matrix as
 * one block with a fixed stride, and the norm vectors as f32. The per-layer
 * token table stays in host memory (gpu_model.h). */
#include "gpu_model.h"
#include "quant.h"
#include "base/error.h"
#include "cpu/dot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t matrix_bytes(const g4k_matrix *w) {
    return w->data ? w->row_bytes * (size_t)w->n_out : 0;
}

/* Rows [r0, r0 + n) of a Q8_0_R16 matrix (r0 a multiple of 16) as Q8_0 rows. */
static void unpack_r16(const g4k_matrix *w, int64_t r0, int64_t n, g4k_block_q8_0 *out) {
    int64_t nb = w->n_in / 32;
    for (int64_t r = r0; r < r0 + n; r++) {
        const g4k_block_q8_0x16 *group = (const g4k_block_q8_0x16 *)((const char *)w->data + (size_t)(r - r % 16) * w->row_bytes);
        int lane = (int)(r % 16);
        for (int64_t b = 0; b < nb; b++) {
            g4k_block_q8_0 *o = &out[(r - r0) * nb + b];
            o->d = group[b].d[lane];
            for (int j = 0; j < 32; j++)
                o->qs[j] = (int8_t)(group[b].qs[64 * (j / 4) + 4 * lane + j % 4] ^ 0x80);
        }
    }
}

/* Copies w's bytes to dst on the device, in its upload type. */
static int put_matrix(g4_gpu *g, const g4k_matrix *w, char *dst) {
    if (w->type != G4_TYPE_Q8_0_R16)
        return g4g_upload(g->dev, dst, w->data, matrix_bytes(w)) ? g4_error("GPU upload: %s", g4g_error(g->dev)) : 0;
    enum { ROWS = 1024 }; /* a multiple of 16 */
    g4k_block_q8_0 *buf = malloc((size_t)ROWS * w->row_bytes);
    if (!buf) return g4_error("out of memory");
    int rc = 0;
    for (int64_t r = 0; r < w->n_out && !rc; r += ROWS) {
        int64_t n = w->n_out - r < ROWS ? w->n_out - r : ROWS;
        unpack_r16(w, r, n, buf);
        if (g4g_upload(g->dev, dst + (size_t)r * w->row_bytes, buf, (size_t)n * w->row_bytes))
            rc = g4_error("GPU upload: %s", g4g_error(g->dev));
    }
    free(buf);
    return rc;
}

static enum g4_type upload_type(enum g4_type t) {
    return t == G4_TYPE_Q8_0_R16 ? G4_TYPE_Q8_0 : t;
}

static int check_type(const g4k_matrix *w, const char *what) {
    if (!g4g_supports(upload_type(w->type))) {
        const g4_type_traits *t = g4_type_info(w->type);
        return g4_error("%s is %s, which the GPU kernels do not take", what, t ? t->name : "an unknown type");
    }
    return 0;
}

static int upload_matrix(g4_gpu *g, const g4k_matrix *w, g4k_matrix *out, const char *what) {
    *out = (g4k_matrix){0};
    if (!w->data) return 0;
    if (check_type(w, what)) return -1;
    char *d = g4_gpu_alloc(g, matrix_bytes(w));
    if (!d || put_matrix(g, w, d)) return -1;
    *out = (g4k_matrix){.type = upload_type(w->type), .n_in = w->n_in, .n_out = w->n_out, .row_bytes = w->row_bytes, .data = d};
    return 0;
}

/* E experts' matrices, one after another: expert e at e * *stride bytes. */
static int upload_experts(g4_gpu *g, const g4k_matrix *w, int E, g4k_matrix *out, size_t *stride, const char *what) {
    *out = (g4k_matrix){0};
    *stride = 0;
    if (!w) return 0;
    if (check_type(&w[0], what)) return -1;
    size_t each = matrix_bytes(&w[0]);
    for (int e = 1; e < E; e++)
        if (w[e].type != w[0].type || w[e].n_in != w[0].n_in || w[e].n_out != w[0].n_out)
            return g4_error("%s: expert %d differs in type or shape from expert 0", what, e);
    char *d = g4_gpu_alloc(g, each * (size_t)E);
    if (!d) return -1;
    for (int e = 0; e < E; e++)
        if (put_matrix(g, &w[e], d + (size_t)e * each)) return -1;
    *out = (g4k_matrix){.type = upload_type(w[0].type), .n_in = w[0].n_in, .n_out = w[0].n_out, .row_bytes = w[0].row_bytes, .data = d};
    *stride = each;
    return 0;
}

/* n floats (host) to the device; *out NULL when src is. */
static int upload_vector(g4_gpu *g, const float *src, size_t n, float **out) {
    *out = NULL;
    if (!src) return 0;
    float *d = g4_gpu_alloc(g, n * sizeof(float));
    if (!d) return -1;
    if (g4g_upload(g->dev, d, src, n * sizeof(float))) return g4_error("GPU upload: %s", g4g_error(g->dev));
    *out = d;
    return 0;
}

static size_t experts_bytes(const g4k_matrix *w, int E) {
    return w ? matrix_bytes(&w[0]) * (size_t)E : 0;
}

size_t g4_gpu_weight_bytes(const g4_model *m, int n_layers, bool whole) {
    const g4_config *c = &m->cfg;
    size_t bytes = 0;
    for (int l = 0; l < n_layers; l++) {
        const g4_layer_weights *w = &m->w.layer[l];
        const g4k_matrix *mats[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->ffn_gate, &w->ffn_up, &w->ffn_down,
                                    &w->ple_gate, &w->ple_proj, &w->router};
        for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) bytes += matrix_bytes(mats[i]);
        bytes += experts_bytes(w->expert_gate_up, c->n_experts) + experts_bytes(w->expert_gate, c->n_experts) +
                 experts_bytes(w->expert_up, c->n_experts) + experts_bytes(w->expert_down, c->n_experts);
    }
    if (whole) {
        bytes += matrix_bytes(&m->w.embed) + matrix_bytes(&m->w.ple_model_proj);
        if (!m->w.head_tied) bytes += matrix_bytes(&m->w.output);
    }
    return bytes;
}

static int upload_layer(g4_gpu *g, int l) {
    const g4_model *m = g->model;
    const g4_config *c = &m->cfg;
    const g4_layer_config *lc = &c->layer[l];
    const g4_layer_weights *w = &m->w.layer[l];
    g4_gpu_layer *d = &g->layer[l];
    size_t H = (size_t)c->hidden, hd = (size_t)lc->head_dim, E = (size_t)c->n_experts;
    char what[64];
    snprintf(what, sizeof what, "layer %d's weights", l);
    if (upload_matrix(g, &w->wq, &d->wq, what) || upload_matrix(g, &w->wk, &d->wk, what) ||
        upload_matrix(g, &w->wv, &d->wv, what) || upload_matrix(g, &w->wo, &d->wo, what) ||
        upload_matrix(g, &w->ffn_gate, &d->ffn_gate, what) || upload_matrix(g, &w->ffn_up, &d->ffn_up, what) ||
        upload_matrix(g, &w->ffn_down, &d->ffn_down, what) || upload_matrix(g, &w->ple_gate, &d->ple_gate, what) ||
        upload_matrix(g, &w->ple_proj, &d->ple_proj, what) || upload_matrix(g, &w->router, &d->router, what))
        return -1;
    if (upload_experts(g, w->expert_gate_up, c->n_experts, &d->exp_gate_up, &d->exp_gate_up_stride, what) ||
        upload_experts(g, w->expert_gate, c->n_experts, &d->exp_gate, &d->exp_gate_stride, what) ||
        upload_experts(g, w->expert_up, c->n_experts, &d->exp_up, &d->exp_up_stride, what) ||
        upload_experts(g, w->expert_down, c->n_experts, &d->exp_down, &d->exp_down_stride, what))
        return -1;
    if (upload_vector(g, w->attn_norm, H, &d->attn_norm) || upload_vector(g, w->q_norm, hd, &d->q_norm) ||
        upload_vector(g, w->k_norm, hd, &d->k_norm) || upload_vector(g, w->post_attn_norm, H, &d->post_attn_norm) ||
        upload_vector(g, w->ffn_norm, H, &d->ffn_norm) || upload_vector(g, w->post_ffn_norm, H, &d->post_ffn_norm) ||
        upload_vector(g, w->ple_post_norm, H, &d->ple_post_norm) ||
        upload_vector(g, w->expert_scale, E, &d->expert_scale) ||
        upload_vector(g, w->pre_ffn_norm_2, H, &d->pre_ffn_norm_2) ||
        upload_vector(g, w->post_ffn_norm_1, H, &d->post_ffn_norm_1) ||
        upload_vector(g, w->post_ffn_norm_2, H, &d->post_ffn_norm_2) ||
        upload_vector(g, lc->rope_freq, hd / 2, &d->rope_freq))
        return -1;
    if (w->router_scale) { /* the router's input: RMSNorm(r) · router_scale / √H, as one norm weight */
        float *s = malloc(H * sizeof *s);
        if (!s) return g4_error("out of memory");
        for (size_t i = 0; i < H; i++) s[i] = w->router_scale[i] / sqrtf((float)H);
        int rc = upload_vector(g, s, H, &d->router_scale);
        free(s);
        if (rc) return -1;
    }
    return 0;
}

int g4_gpu_upload_weights(g4_gpu *g) {
    const g4_model *m = g->model;
    for (int l = 0; l < g->n_layers; l++)
        if (upload_layer(g, l)) return -1;
    if (!g->whole) return 0;
    if (upload_matrix(g, &m->w.embed, &g->embed, "the token embedding") ||
        upload_matrix(g, &m->w.ple_model_proj, &g->ple_model_proj, "the per-layer projection") ||
        upload_vector(g, m->w.output_norm, (size_t)m->cfg.hidden, &g->output_norm) ||
        upload_vector(g, m->w.ple_proj_norm, (size_t)m->cfg.ple_dim, &g->ple_proj_norm))
        return -1;
    if (m->w.head_tied) g->output = g->embed; /* one copy for the lookup and the head */
    else if (upload_matrix(g, &m->w.output, &g->output, "the LM head")) return -1;
    return 0;
}
