/* config.c: the decoder's hyperparameters, read from GGUF metadata (§4) or from
 * an HF config.json (§1), checked for sense, and completed with what follows from
 * them: KV donors (§5) and the rotary frequency tables (§2.5). */
#include "model.h"
#include "base/error.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generous bounds that reject absurd files before anything is allocated. */
#define MAX_HIDDEN 65536
#define MAX_HEADS 1024
#define MAX_HEAD_DIM 4096
#define MAX_VOCAB (1 << 24)
#define MAX_FF (1 << 20)
#define MAX_EXPERTS 4096

static int check_range(const char *what, long long v, long long lo, long long hi) {
    if (v < lo || v > hi) return g4_error("%s = %lld is out of range [%lld, %lld]", what, v, lo, hi);
    return 0;
}

/* ω_i = theta^(-2i/d) for the first n_pairs pairs, 0 after (proportional RoPE, §2.5);
 * factors, when given, divide ω_i as llama.cpp's rope_freqs does (>= 1e20: not rotated). */
static float *rope_table(int d, double theta, int n_pairs, const float *factors) {
    float *f = calloc((size_t)d / 2, sizeof *f);
    if (!f) { g4_error("out of memory"); return NULL; }
    for (int i = 0; i < d / 2; i++) {
        if (i >= n_pairs) continue;
        double w = pow(theta, -2.0 * i / d);
        if (factors) {
            if (!(factors[i] > 0.0f) || factors[i] >= 1e20f) continue;
            w /= factors[i];
        }
        f[i] = (float)w;
    }
    return f;
}

void g4_config_free(g4_config *cfg) {
    free(cfg->rope_freq_sliding);
    free(cfg->rope_freq_full);
    cfg->rope_freq_sliding = cfg->rope_freq_full = NULL;
}

/* Checks shared by both formats, then KV donors and rope pointers. */
static int finish(g4_config *c, int head_dim, int global_head_dim) {
    if (check_range("hidden_size", c->hidden, 1, MAX_HIDDEN) ||
        check_range("num_hidden_layers", c->n_layers, 1, G4_MAX_LAYERS) ||
        check_range("num_attention_heads", c->n_heads, 1, MAX_HEADS) ||
        check_range("head_dim", head_dim, 2, MAX_HEAD_DIM) ||
        check_range("global_head_dim", global_head_dim, 2, MAX_HEAD_DIM) ||
        check_range("sliding_window", c->window, 1, 1 << 30) ||
        check_range("num_kv_shared_layers", c->n_kv_shared, 0, c->n_layers - 1) ||
        check_range("hidden_size_per_layer_input", c->ple_dim, 0, MAX_HIDDEN) ||
        check_range("num_experts", c->n_experts, 0, MAX_EXPERTS))
        return -1;
    if (head_dim % 2 || global_head_dim % 2) return g4_error("head dims must be even (%d, %d)", head_dim, global_head_dim);
    if (c->n_experts && (check_range("top_k_experts", c->n_experts_used, 1, c->n_experts) ||
                         check_range("moe_intermediate_size", c->expert_ff, 1, MAX_FF)))
        return -1;
    if (!(c->rms_eps > 0.0f && c->rms_eps < 1.0f)) return g4_error("rms_norm_eps %g is not in (0, 1)", c->rms_eps);
    if (!(c->softcap >= 0.0f) || !isfinite(c->softcap)) return g4_error("final_logit_softcapping %g is invalid", c->softcap);
    if (c->n_ctx_train <= 0) c->n_ctx_train = 131072;
    c->embed_scale = sqrtf((float)c->hidden);

    int first_shared = c->n_layers - c->n_kv_shared;
    for (int l = 0; l < c->n_layers; l++) {
        g4_layer_config *lc = &c->layer[l];
        lc->head_dim = lc->sliding ? head_dim : global_head_dim;
        lc->rope_freq = lc->sliding ? c->rope_freq_sliding : c->rope_freq_full;
        if (check_range("num_key_value_heads", lc->n_kv_heads, 1, c->n_heads)) return g4_error_prefix("layer %d", l);
        if (c->n_heads % lc->n_kv_heads)
            return g4_error("layer %d: %d attention heads are not a multiple of %d KV heads", l, c->n_heads, lc->n_kv_heads);
        if (check_range("intermediate_size", lc->n_ff, 1, MAX_FF)) return g4_error_prefix("layer %d", l);
        lc->kv_source = l;
        if (l >= first_shared) { /* HF rule: the last non-shared layer of the same type */
            lc->kv_source = -1;
            for (int j = first_shared - 1; j >= 0; j--)
                if (c->layer[j].sliding == lc->sliding) { lc->kv_source = j; break; }
            if (lc->kv_source < 0)
                return g4_error("layer %d shares KV but no earlier %s layer owns a cache", l,
                                lc->sliding ? "sliding" : "full-attention");
            if (c->layer[lc->kv_source].n_kv_heads != lc->n_kv_heads) lc->n_kv_heads = c->layer[lc->kv_source].n_kv_heads;
        }
    }
    return 0;
}

/* ---- GGUF (§4) ------------------------------------------------------------------ */

static int gguf_u32(const g4_gguf *g, const char *key, int *out, bool required) {
    uint32_t v;
    int r = g4_gguf_get_u32(g, key, &v);
    if (r < 0) return -1;
    if (r == 0) return required ? g4_error("missing metadata key %s", key) : 0;
    if (v > (uint32_t)1 << 30) return g4_error("metadata %s = %u is absurd", key, v);
    *out = (int)v;
    return 0;
}

/* A u32 or a per-layer array of integers. */
static int gguf_per_layer(const g4_gguf *g, const char *key, int n_layers, int *out, bool required) {
    const g4_gguf_kv *kv = g4_gguf_find(g, key);
    if (!kv) return required ? g4_error("missing metadata key %s", key) : 0;
    if (kv->type != G4_GGUF_ARRAY) {
        int v = 0;
        if (gguf_u32(g, key, &v, true)) return -1;
        for (int l = 0; l < n_layers; l++) out[l] = v;
        return 0;
    }
    if (kv->arr_n != (uint64_t)n_layers)
        return g4_error("metadata %s has %llu entries for %d layers", key, (unsigned long long)kv->arr_n, n_layers);
    for (int l = 0; l < n_layers; l++) {
        int64_t v;
        if (g4_gguf_arr_get_i64(kv, (uint64_t)l, &v) < 0) return g4_error_prefix("metadata %s", key);
        if (v < 0 || v > (1 << 30)) return g4_error("metadata %s[%d] = %lld is out of range", key, l, (long long)v);
        out[l] = (int)v;
    }
    return 0;
}

int g4_config_from_gguf(g4_config *c, const g4_gguf *g) {
    memset(c, 0, sizeof *c);
    char arch[64];
    int r = g4_gguf_get_str(g, "general.architecture", arch, sizeof arch);
    if (r <= 0) return r < 0 ? -1 : g4_error("missing general.architecture");
    if (strcmp(arch, "gemma4") != 0) return g4_error("architecture '%s' is not gemma4", arch);

    int head_dim = 0, global_head_dim = 0, n_rot = 0, n_rot_swa = 0;
    if (gguf_u32(g, "gemma4.embedding_length", &c->hidden, true) ||
        gguf_u32(g, "gemma4.block_count", &c->n_layers, true) ||
        gguf_u32(g, "gemma4.attention.head_count", &c->n_heads, true) ||
        gguf_u32(g, "gemma4.context_length", &c->n_ctx_train, false) ||
        gguf_u32(g, "gemma4.attention.key_length", &global_head_dim, true) ||
        gguf_u32(g, "gemma4.attention.key_length_swa", &head_dim, true) ||
        gguf_u32(g, "gemma4.attention.sliding_window", &c->window, true) ||
        gguf_u32(g, "gemma4.attention.shared_kv_layers", &c->n_kv_shared, false) ||
        gguf_u32(g, "gemma4.embedding_length_per_layer_input", &c->ple_dim, false) ||
        gguf_u32(g, "gemma4.expert_count", &c->n_experts, false) ||
        gguf_u32(g, "gemma4.expert_used_count", &c->n_experts_used, false) ||
        gguf_u32(g, "gemma4.expert_feed_forward_length", &c->expert_ff, false) ||
        gguf_u32(g, "gemma4.rope.dimension_count", &n_rot, false) ||
        gguf_u32(g, "gemma4.rope.dimension_count_swa", &n_rot_swa, false))
        return -1;
    if (check_range("gemma4.block_count", c->n_layers, 1, G4_MAX_LAYERS)) return -1;
    int vlen = global_head_dim, vlen_swa = head_dim;
    if (gguf_u32(g, "gemma4.attention.value_length", &vlen, false) ||
        gguf_u32(g, "gemma4.attention.value_length_swa", &vlen_swa, false))
        return -1;
    if (vlen != global_head_dim || vlen_swa != head_dim)
        return g4_error("value_length (%d/%d) differs from key_length (%d/%d)", vlen, vlen_swa, global_head_dim, head_dim);

    int kv_heads[G4_MAX_LAYERS], n_ff[G4_MAX_LAYERS];
    if (gguf_per_layer(g, "gemma4.attention.head_count_kv", c->n_layers, kv_heads, true) ||
        gguf_per_layer(g, "gemma4.feed_forward_length", c->n_layers, n_ff, true))
        return -1;
    const g4_gguf_kv *pattern = g4_gguf_find(g, "gemma4.attention.sliding_window_pattern");
    if (pattern && (pattern->type != G4_GGUF_ARRAY || pattern->arr_n != (uint64_t)c->n_layers))
        return g4_error("gemma4.attention.sliding_window_pattern must be an array of %d booleans", c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        int64_t s = 0;
        if (pattern) {
            if (g4_gguf_arr_get_i64(pattern, (uint64_t)l, &s) < 0) return g4_error_prefix("sliding_window_pattern");
        } else {
            s = (l + 1) % 6 != 0 && l != c->n_layers - 1;
        }
        c->layer[l].sliding = s != 0;
        c->layer[l].n_kv_heads = kv_heads[l];
        c->layer[l].n_ff = n_ff[l];
    }

    c->rms_eps = 1e-6f;
    float theta = 1e6f, theta_swa = 1e4f;
    if (g4_gguf_get_f32(g, "gemma4.attention.layer_norm_rms_epsilon", &c->rms_eps) < 0 ||
        g4_gguf_get_f32(g, "gemma4.final_logit_softcapping", &c->softcap) < 0 ||
        g4_gguf_get_f32(g, "gemma4.rope.freq_base", &theta) < 0 ||
        g4_gguf_get_f32(g, "gemma4.rope.freq_base_swa", &theta_swa) < 0)
        return -1;
    c->bos_id = 2, c->eos_id = 1, c->pad_id = 0;
    uint32_t id;
    if (g4_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id) > 0) c->bos_id = (int)id;
    if (g4_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id) > 0) c->eos_id = (int)id;
    if (g4_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &id) > 0) c->pad_id = (int)id;

    /* Rotary tables: sliding layers rotate every pair; full layers use rope_freqs
     * (1e30 marks the pairs that proportional RoPE leaves alone, §2.5). */
    if (n_rot_swa && n_rot_swa != head_dim)
        return g4_error("rope.dimension_count_swa %d != key_length_swa %d (partial sliding RoPE is not Gemma 4)", n_rot_swa, head_dim);
    if (n_rot && n_rot != global_head_dim)
        return g4_error("rope.dimension_count %d != key_length %d", n_rot, global_head_dim);
    if (check_range("key_length", global_head_dim, 2, MAX_HEAD_DIM) || check_range("key_length_swa", head_dim, 2, MAX_HEAD_DIM))
        return -1;
    const g4_tensor *ff = g4_tensor_set_find(&g->tensors, "rope_freqs.weight");
    float *factors = NULL;
    if (ff) {
        if (ff->type != G4_TYPE_F32 || g4_tensor_nelements(ff) != global_head_dim / 2)
            return g4_error("rope_freqs.weight must be %d f32 values", global_head_dim / 2);
        factors = malloc((size_t)global_head_dim / 2 * sizeof *factors);
        if (!factors) return g4_error("out of memory");
        memcpy(factors, ff->data, (size_t)global_head_dim / 2 * sizeof *factors);
    }
    c->rope_freq_sliding = rope_table(head_dim, theta_swa, head_dim / 2, NULL);
    c->rope_freq_full = rope_table(global_head_dim, theta, global_head_dim / 2, factors);
    free(factors);
    if (!c->rope_freq_sliding || !c->rope_freq_full || finish(c, head_dim, global_head_dim)) {
        g4_config_free(c);
        return -1;
    }
    return 0;
}

/* ---- Hugging Face config.json (§1.1) --------------------------------------------- */

static int json_int(json_t *o, const char *key, int *out, bool required) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return required ? g4_error("config.json: missing \"%s\"", key) : 0;
    if (!json_is_integer(v)) return g4_error("config.json: \"%s\" is not an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > (1 << 30)) return g4_error("config.json: \"%s\" = %lld is out of range", key, (long long)x);
    *out = (int)x;
    return 0;
}

static int json_num(json_t *o, const char *key, float *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return g4_error("config.json: \"%s\" is not a number", key);
    *out = (float)json_number_value(v);
    return 0;
}

static bool json_flag(json_t *o, const char *key) { return json_is_true(json_object_get(o, key)); }

/* The proportional/default rope of one layer type: theta and rotated pairs. */
static float *hf_rope(json_t *tc, const char *type, int d, double default_theta) {
    json_t *rp = json_object_get(json_object_get(tc, "rope_parameters"), type);
    double theta = default_theta, factor = 1.0;
    const char *kind = "default";
    if (json_is_object(rp)) {
        json_t *v;
        if ((v = json_object_get(rp, "rope_theta")) && json_is_number(v)) theta = json_number_value(v);
        if ((v = json_object_get(rp, "partial_rotary_factor")) && json_is_number(v)) factor = json_number_value(v);
        if ((v = json_object_get(rp, "rope_type")) && json_is_string(v)) kind = json_string_value(v);
    }
    if (!(theta > 1.0) || !(factor > 0.0 && factor <= 1.0)) {
        g4_error("config.json: rope parameters of %s are invalid", type);
        return NULL;
    }
    if (strcmp(kind, "proportional") == 0) return rope_table(d, theta, (int)(factor * d) / 2, NULL);
    if (strcmp(kind, "default") == 0 && factor == 1.0) return rope_table(d, theta, d / 2, NULL);
    g4_error("config.json: rope_type \"%s\" (partial factor %g) of %s is not supported", kind, factor, type);
    return NULL;
}

int g4_config_from_hf(g4_config *c, const char *path) {
    memset(c, 0, sizeof *c);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return g4_error("%s: line %d: %s", path, jerr.line, jerr.text);
    int rc = -1;
    json_t *tc = json_object_get(root, "text_config");
    if (!tc) tc = root;
    if (!json_is_object(tc)) { g4_error("%s: not a JSON object", path); goto out; }
    const char *mt = json_string_value(json_object_get(tc, "model_type"));
    if (mt && strncmp(mt, "gemma4", 6) != 0) { g4_error("%s: model_type \"%s\" is not a Gemma 4 text model", path, mt); goto out; }

    int head_dim = 256, global_head_dim = 512, n_kv = 0, n_kv_global = 0, n_ff = 0;
    if (json_int(tc, "hidden_size", &c->hidden, true) || json_int(tc, "num_hidden_layers", &c->n_layers, true) ||
        json_int(tc, "num_attention_heads", &c->n_heads, true) || json_int(tc, "num_key_value_heads", &n_kv, true) ||
        json_int(tc, "intermediate_size", &n_ff, true) || json_int(tc, "head_dim", &head_dim, false) ||
        json_int(tc, "global_head_dim", &global_head_dim, false) ||
        json_int(tc, "num_global_key_value_heads", &n_kv_global, false) ||
        json_int(tc, "vocab_size", &c->vocab_size, false) ||
        json_int(tc, "max_position_embeddings", &c->n_ctx_train, false) ||
        json_int(tc, "sliding_window", &c->window, true) ||
        json_int(tc, "num_kv_shared_layers", &c->n_kv_shared, false) ||
        json_int(tc, "hidden_size_per_layer_input", &c->ple_dim, false) ||
        json_int(tc, "vocab_size_per_layer_input", &c->ple_vocab, false))
        goto out;
    if (check_range("num_hidden_layers", c->n_layers, 1, G4_MAX_LAYERS)) goto out;
    if (json_flag(tc, "enable_moe_block") &&
        (json_int(tc, "num_experts", &c->n_experts, true) || json_int(tc, "top_k_experts", &c->n_experts_used, true) ||
         json_int(tc, "moe_intermediate_size", &c->expert_ff, true)))
        goto out;
    c->rms_eps = 1e-6f;
    if (json_num(tc, "rms_norm_eps", &c->rms_eps) || json_num(tc, "final_logit_softcapping", &c->softcap)) goto out;
    c->bos_id = 2, c->eos_id = 1, c->pad_id = 0;
    json_int(tc, "bos_token_id", &c->bos_id, false);
    json_int(tc, "pad_token_id", &c->pad_id, false);
    json_t *eos = json_object_get(tc, "eos_token_id");
    if (json_is_array(eos) && json_array_size(eos) > 0) eos = json_array_get(eos, 0);
    if (json_is_integer(eos)) c->eos_id = (int)json_integer_value(eos);

    json_t *types = json_object_get(tc, "layer_types");
    if (types && (!json_is_array(types) || json_array_size(types) != (size_t)c->n_layers)) {
        g4_error("config.json: layer_types must list %d layers", c->n_layers);
        goto out;
    }
    bool k_eq_v = json_flag(tc, "attention_k_eq_v"), double_wide = json_flag(tc, "use_double_wide_mlp");
    int first_shared = c->n_layers - c->n_kv_shared;
    for (int l = 0; l < c->n_layers; l++) {
        bool sliding;
        if (types) {
            const char *t = json_string_value(json_array_get(types, (size_t)l));
            if (!t || (strcmp(t, "sliding_attention") && strcmp(t, "full_attention"))) {
                g4_error("config.json: layer_types[%d] is not sliding_attention or full_attention", l);
                goto out;
            }
            sliding = strcmp(t, "sliding_attention") == 0;
        } else {
            sliding = (l + 1) % 6 != 0 && l != c->n_layers - 1;
        }
        g4_layer_config *lc = &c->layer[l];
        lc->sliding = sliding;
        lc->n_kv_heads = (!sliding && k_eq_v && n_kv_global) ? n_kv_global : n_kv;
        lc->n_ff = (double_wide && l >= first_shared) ? 2 * n_ff : n_ff;
    }
    if (check_range("head_dim", head_dim, 2, MAX_HEAD_DIM) || check_range("global_head_dim", global_head_dim, 2, MAX_HEAD_DIM))
        goto out;
    c->rope_freq_sliding = hf_rope(tc, "sliding_attention", head_dim, 1e4);
    c->rope_freq_full = c->rope_freq_sliding ? hf_rope(tc, "full_attention", global_head_dim, 1e6) : NULL;
    if (!c->rope_freq_full || finish(c, head_dim, global_head_dim)) goto out;
    rc = 0;
out:
    if (rc) g4_config_free(c);
    json_decref(root);
    return rc;
}
