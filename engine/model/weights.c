/* weights.c: finds every tensor the decoder needs by its GGUF or HF name
 * (§3.2), checks its shape and type against the configuration, and binds it:
 * matrices as views into the mapped file, vectors as small f32 copies. */
#include "model.h"
#include "quant.h"
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a role is named in each format; %d is the layer. */
typedef struct {
    const char *gguf;
    const char *hf;
} tensor_name;

/* The HF prefix of the text weights: released multimodal checkpoints use
 * model.language_model., text-only exports model. (§3.1). */
static const char *hf_prefix(const g4_model *m) {
    return g4_tensor_set_find(&m->st.tensors, "model.language_model.embed_tokens.weight") ? "model.language_model." : "model.";
}

static const g4_tensor *lookup(const g4_model *m, tensor_name n, int layer, char *name, size_t cap) {
    char part[256];
    snprintf(part, sizeof part, m->is_gguf ? n.gguf : n.hf, layer);
    if (m->is_gguf) {
        snprintf(name, cap, "%s", part);
        return g4_tensor_set_find(&m->gguf.tensors, name);
    }
    snprintf(name, cap, "%s%s", hf_prefix(m), part);
    return g4_tensor_set_find(&m->st.tensors, name);
}

static int check_shape(const g4_tensor *t, const char *name, int n_dims, const int64_t *ne) {
    for (int i = 0; i < G4_MAX_DIMS; i++) {
        int64_t want = i < n_dims ? ne[i] : 1;
        if (t->ne[i] != want) {
            char got[96], exp[96];
            snprintf(got, sizeof got, "{%lld, %lld, %lld}", (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
            snprintf(exp, sizeof exp, "{%lld, %lld, %lld}", (long long)ne[0], (long long)(n_dims > 1 ? ne[1] : 1),
                     (long long)(n_dims > 2 ? ne[2] : 1));
            return g4_error("tensor %s has shape %s (ggml order), expected %s", name, got, exp);
        }
    }
    if (t->type == G4_TYPE_UNKNOWN || !g4_type_info(t->type))
        return g4_error("tensor %s has an element type the engine cannot compute with", name);
    return 0;
}

static void account(g4_model *m, const g4_tensor *t) {
    m->n_params += (uint64_t)g4_tensor_nelements(t);
    m->n_bytes += t->nbytes;
}

/* A matrix {n_in, n_out}; absent and not required leaves dst->data NULL. */
static int bind_matrix(g4_model *m, g4k_matrix *dst, tensor_name n, int layer, int64_t n_in, int64_t n_out, bool required) {
    char name[320];
    const g4_tensor *t = lookup(m, n, layer, name, sizeof name);
    memset(dst, 0, sizeof *dst);
    if (!t) return required ? g4_error("tensor %s is missing", name) : 0;
    int64_t ne[2] = {n_in, n_out};
    if (check_shape(t, name, 2, ne)) return -1;
    if (n_in > G4K_MAX_ROW) return g4_error("tensor %s: rows of %lld elements are longer than %d", name, (long long)n_in, G4K_MAX_ROW);
    *dst = (g4k_matrix){.type = t->type, .n_in = n_in, .n_out = n_out, .row_bytes = g4_row_size(t->type, n_in), .data = t->data};
    account(m, t);
    return 0;
}

/* A vector of n values, converted to f32; absent and not required gives NULL. */
static int bind_vector(g4_model *m, float **dst, tensor_name n, int layer, int64_t len, bool required) {
    char name[320];
    const g4_tensor *t = lookup(m, n, layer, name, sizeof name);
    *dst = NULL;
    if (!t) return required ? g4_error("tensor %s is missing", name) : 0;
    int64_t ne[1] = {len};
    if (check_shape(t, name, 1, ne)) return -1;
    float *v = g4_model_own(m, malloc((size_t)len * sizeof *v));
    if (!v) return -1;
    g4_dequantize_row(t->type, t->data, v, len);
    account(m, t);
    *dst = v;
    return 0;
}

/* Expert tensors {n_in, n_out, E}: one matrix view per expert. */
static int bind_experts(g4_model *m, g4k_matrix **dst, tensor_name n, int layer, int64_t n_in, int64_t n_out, int n_exp, bool required) {
    char name[320];
    const g4_tensor *t = lookup(m, n, layer, name, sizeof name);
    *dst = NULL;
    if (!t) return required ? g4_error("tensor %s is missing", name) : 0;
    int64_t ne[3] = {n_in, n_out, n_exp};
    if (check_shape(t, name, 3, ne)) return -1;
    if (n_in > G4K_MAX_ROW) return g4_error("tensor %s: rows longer than %d", name, G4K_MAX_ROW);
    g4k_matrix *v = g4_model_own(m, malloc((size_t)n_exp * sizeof *v));
    if (!v) return -1;
    size_t row = g4_row_size(t->type, n_in);
    for (int e = 0; e < n_exp; e++)
        v[e] = (g4k_matrix){.type = t->type, .n_in = n_in, .n_out = n_out, .row_bytes = row,
                            .data = (const char *)t->data + (size_t)e * (size_t)n_out * row};
    account(m, t);
    *dst = v;
    return 0;
}

#define NAME(g, h) ((tensor_name){g, h})

static int bind_moe(g4_model *m, int l, g4_layer_weights *w) {
    const g4_config *c = &m->cfg;
    int64_t H = c->hidden, E = c->n_experts, I = c->expert_ff;
    if (bind_matrix(m, &w->router, NAME("blk.%d.ffn_gate_inp.weight", "layers.%d.router.proj.weight"), l, H, E, true) ||
        bind_vector(m, &w->router_scale, NAME("blk.%d.ffn_gate_inp.scale", "layers.%d.router.scale"), l, H, true) ||
        bind_vector(m, &w->expert_scale, NAME("blk.%d.ffn_down_exps.scale", "layers.%d.router.per_expert_scale"), l, E, true) ||
        bind_experts(m, &w->expert_gate_up, NAME("blk.%d.ffn_gate_up_exps.weight", "layers.%d.experts.gate_up_proj"), l, H, 2 * I, (int)E, false) ||
        bind_experts(m, &w->expert_down, NAME("blk.%d.ffn_down_exps.weight", "layers.%d.experts.down_proj"), l, I, H, (int)E, true) ||
        bind_vector(m, &w->pre_ffn_norm_2, NAME("blk.%d.pre_ffw_norm_2.weight", "layers.%d.pre_feedforward_layernorm_2.weight"), l, H, true) ||
        bind_vector(m, &w->post_ffn_norm_1, NAME("blk.%d.post_ffw_norm_1.weight", "layers.%d.post_feedforward_layernorm_1.weight"), l, H, true) ||
        bind_vector(m, &w->post_ffn_norm_2, NAME("blk.%d.post_ffw_norm_2.weight", "layers.%d.post_feedforward_layernorm_2.weight"), l, H, true))
        return -1;
    if (!w->expert_gate_up) { /* some GGUFs split the fused gate_up into two tensors */
        if (bind_experts(m, &w->expert_gate, NAME("blk.%d.ffn_gate_exps.weight", "layers.%d.experts.gate_proj"), l, H, I, (int)E, true) ||
            bind_experts(m, &w->expert_up, NAME("blk.%d.ffn_up_exps.weight", "layers.%d.experts.up_proj"), l, H, I, (int)E, true))
            return g4_error_prefix("no fused gate_up expert tensor either");
    }
    return 0;
}

static int bind_layer(g4_model *m, int l) {
    const g4_config *c = &m->cfg;
    const g4_layer_config *lc = &c->layer[l];
    g4_layer_weights *w = &m->w.layer[l];
    int64_t H = c->hidden, d = lc->head_dim, q_dim = (int64_t)c->n_heads * d, kv_dim = (int64_t)lc->n_kv_heads * d;
    bool owns_kv = lc->kv_source == l;

    if (bind_vector(m, &w->attn_norm, NAME("blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight"), l, H, true) ||
        bind_matrix(m, &w->wq, NAME("blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight"), l, H, q_dim, true) ||
        bind_vector(m, &w->q_norm, NAME("blk.%d.attn_q_norm.weight", "layers.%d.self_attn.q_norm.weight"), l, d, true) ||
        bind_matrix(m, &w->wo, NAME("blk.%d.attn_output.weight", "layers.%d.self_attn.o_proj.weight"), l, q_dim, H, true) ||
        bind_vector(m, &w->post_attn_norm, NAME("blk.%d.post_attention_norm.weight", "layers.%d.post_attention_layernorm.weight"), l, H, true) ||
        bind_vector(m, &w->ffn_norm, NAME("blk.%d.ffn_norm.weight", "layers.%d.pre_feedforward_layernorm.weight"), l, H, true) ||
        bind_matrix(m, &w->ffn_gate, NAME("blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight"), l, H, lc->n_ff, true) ||
        bind_matrix(m, &w->ffn_up, NAME("blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight"), l, H, lc->n_ff, true) ||
        bind_matrix(m, &w->ffn_down, NAME("blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight"), l, lc->n_ff, H, true) ||
        bind_vector(m, &w->post_ffn_norm, NAME("blk.%d.post_ffw_norm.weight", "layers.%d.post_feedforward_layernorm.weight"), l, H, true))
        return -1;
    /* KV-shared layers may still carry unused k/v weights in a file: ignored (§7). */
    if (owns_kv &&
        (bind_matrix(m, &w->wk, NAME("blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight"), l, H, kv_dim, true) ||
         bind_matrix(m, &w->wv, NAME("blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight"), l, H, kv_dim, false) ||
         bind_vector(m, &w->k_norm, NAME("blk.%d.attn_k_norm.weight", "layers.%d.self_attn.k_norm.weight"), l, d, true)))
        return -1;

    float *scalar;
    if (bind_vector(m, &scalar, NAME("blk.%d.layer_output_scale.weight", "layers.%d.layer_scalar"), l, 1, false)) return -1;
    w->layer_scalar = scalar ? scalar[0] : 1.0f;

    if (c->ple_dim &&
        (bind_matrix(m, &w->ple_gate, NAME("blk.%d.inp_gate.weight", "layers.%d.per_layer_input_gate.weight"), l, H, c->ple_dim, true) ||
         bind_matrix(m, &w->ple_proj, NAME("blk.%d.proj.weight", "layers.%d.per_layer_projection.weight"), l, c->ple_dim, H, true) ||
         bind_vector(m, &w->ple_post_norm, NAME("blk.%d.post_norm.weight", "layers.%d.post_per_layer_input_norm.weight"), l, H, true)))
        return -1;
    if (c->n_experts && bind_moe(m, l, w)) return -1;
    return 0;
}

/* Rows of the embedding table: the vocabulary, whatever the config claims. */
static int bind_embeddings(g4_model *m) {
    g4_config *c = &m->cfg;
    char name[320];
    const g4_tensor *emb = lookup(m, NAME("token_embd.weight", "embed_tokens.weight"), 0, name, sizeof name);
    if (!emb) return g4_error("tensor %s is missing", name);
    if (emb->ne[0] != c->hidden || emb->n_dims != 2)
        return g4_error("tensor %s has %lld columns, expected hidden_size %d", name, (long long)emb->ne[0], c->hidden);
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 24)) return g4_error("tensor %s has %lld rows", name, (long long)emb->ne[1]);
    if (c->vocab_size && c->vocab_size != emb->ne[1])
        return g4_error("vocab_size %d does not match the %lld rows of %s", c->vocab_size, (long long)emb->ne[1], name);
    c->vocab_size = (int)emb->ne[1];
    if (bind_matrix(m, &m->w.embed, NAME("token_embd.weight", "embed_tokens.weight"), 0, c->hidden, c->vocab_size, true) ||
        bind_vector(m, &m->w.output_norm, NAME("output_norm.weight", "norm.weight"), 0, c->hidden, true))
        return -1;
    /* A separate LM head is unusual (tied, §2.7); HF's lm_head sits outside the prefix. */
    const g4_tensor *out = m->is_gguf ? g4_tensor_set_find(&m->gguf.tensors, "output.weight")
                                      : g4_tensor_set_find(&m->st.tensors, "lm_head.weight");
    m->w.output = m->w.embed;
    m->w.head_tied = true;
    if (out && out->data != emb->data) {
        m->w.head_tied = false;
        int64_t ne[2] = {c->hidden, c->vocab_size};
        if (check_shape(out, m->is_gguf ? "output.weight" : "lm_head.weight", 2, ne)) return -1;
        m->w.output = (g4k_matrix){.type = out->type, .n_in = c->hidden, .n_out = c->vocab_size,
                                   .row_bytes = g4_row_size(out->type, c->hidden), .data = out->data};
        account(m, out);
    }
    if (c->ple_dim) {
        int64_t LP = (int64_t)c->n_layers * c->ple_dim;
        const g4_tensor *pe = lookup(m, NAME("per_layer_token_embd.weight", "embed_tokens_per_layer.weight"), 0, name, sizeof name);
        if (!pe) return g4_error("tensor %s is missing", name);
        if (pe->ne[1] < 1 || pe->ne[1] > (1 << 24)) return g4_error("tensor %s has %lld rows", name, (long long)pe->ne[1]);
        c->ple_vocab = (int)pe->ne[1];
        if (bind_matrix(m, &m->w.ple_embed, NAME("per_layer_token_embd.weight", "embed_tokens_per_layer.weight"), 0, LP, c->ple_vocab, true) ||
            bind_matrix(m, &m->w.ple_model_proj, NAME("per_layer_model_proj.weight", "per_layer_model_projection.weight"), 0, c->hidden, LP, true) ||
            bind_vector(m, &m->w.ple_proj_norm, NAME("per_layer_proj_norm.weight", "per_layer_projection_norm.weight"), 0, c->ple_dim, true))
            return -1;
    }
    return 0;
}

int g4_weights_bind(g4_model *m) {
    m->w.layer = g4_model_own(m, calloc((size_t)m->cfg.n_layers, sizeof *m->w.layer));
    if (!m->w.layer || bind_embeddings(m)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (bind_layer(m, l)) return -1;
    return 0;
}
