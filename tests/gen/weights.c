/* weights.c: the tensor list of a config (HF and GGUF names, spec §2.8/§3.2) and
 * the tensor values. A value is a pure function of (seed, HF name without
 * prefix, flat element index), so every output format, type, shard count and
 * prefix holds the same f32 weights. Tensors are streamed in chunks of whole
 * rows, generated and encoded by a few threads; nothing is held whole. */
#include "gen.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- tensor list ---------------------------------------------------------------- */

typedef struct {
    gen_tensor_list *list;
    size_t cap;
    int failed;
} builder;

static gen_tensor *push(builder *b, enum gen_kind kind, int n_dims, int64_t d0, int64_t d1,
                        int64_t d2) {
    if (b->list->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        gen_tensor *t = realloc(b->list->t, cap * sizeof *t);
        if (!t) {
            b->failed = 1;
            return NULL;
        }
        b->list->t = t;
        b->cap = cap;
    }
    gen_tensor *t = &b->list->t[b->list->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    int64_t fan_in = t->shape[n_dims - 1];
    if (kind == GEN_MATRIX) t->amp = (float)sqrt(3.0 / (double)fan_in); /* std 1/sqrt(fan_in) */
    if (kind == GEN_NORM) t->base = 1.0f, t->amp = 0.3f;                 /* 1 +- 0.3, std 0.17 */
    if (kind == GEN_SCALAR) t->base = 0.95f, t->amp = 0.05f;             /* [0.9, 1.0] */
    return t;
}

/* Embedding rows are scaled by sqrt(width) in the forward pass (§2.2, §2.3): std
 * 4/sqrt(width), at most 0.5 (the fixtures' 0.5 at H = 64), keeps the scaled
 * stream and the tied logits at std ~4 for every width, far from the softcap. */
static float embed_amp(int64_t width) {
    double std = 4.0 / sqrt((double)width);
    return (float)(sqrt(3.0) * (std < 0.5 ? std : 0.5));
}

/* A global tensor: HF name and GGUF name given whole. */
static gen_tensor *add(builder *b, const char *hf, const char *gguf, enum gen_kind kind,
                       int n_dims, int64_t d0, int64_t d1, int64_t d2) {
    gen_tensor *t = push(b, kind, n_dims, d0, d1, d2);
    if (!t) return NULL;
    snprintf(t->hf, sizeof t->hf, "%s", hf);
    snprintf(t->key, sizeof t->key, "%s", hf);
    snprintf(t->gguf, sizeof t->gguf, "%s", gguf);
    return t;
}

/* A tensor of layer l: "layers.L.<hf>" / "blk.L.<gguf>". */
static gen_tensor *add_l(builder *b, int l, const char *hf, const char *gguf, enum gen_kind kind,
                         int n_dims, int64_t d0, int64_t d1, int64_t d2) {
    gen_tensor *t = push(b, kind, n_dims, d0, d1, d2);
    if (!t) return NULL;
    snprintf(t->hf, sizeof t->hf, "layers.%d.%s", l, hf);
    snprintf(t->key, sizeof t->key, "layers.%d.%s", l, hf);
    snprintf(t->gguf, sizeof t->gguf, "blk.%d.%s", l, gguf);
    return t;
}

/* Attention runs with scale 1 on RMS-normed q and k (§2.5), so unit norm weights
 * give scores of std sqrt(d): near-hard attention for d = 256/512, where any
 * rounding flips the attended position. Norm weights around 2^(1/2) d^(-1/4)
 * keep the scores at std ~2 for every head dim. */
static void scale_qk_norm(gen_tensor *t, int64_t d) {
    if (!t) return;
    t->base *= (float)(sqrt(2.0) / pow((double)d, 0.25));
    t->amp *= t->base;
}

/* Layer l in the order of the fixtures' GGUF files. */
static void add_layer(builder *b, const gen_config *c, int l, bool split_experts) {
    const int64_t H = c->hidden, d = gen_layer_head_dim(c, l);
    const int64_t q = c->heads * d, kv = gen_layer_kv_heads(c, l) * d, ff = gen_layer_ff(c, l);
    const bool shared = gen_layer_shared(c, l);

    add_l(b, l, "input_layernorm.weight", "attn_norm.weight", GEN_NORM, 1, H, 0, 0);
    add_l(b, l, "self_attn.q_proj.weight", "attn_q.weight", GEN_MATRIX, 2, q, H, 0);
    if (!shared) add_l(b, l, "self_attn.k_proj.weight", "attn_k.weight", GEN_MATRIX, 2, kv, H, 0);
    if (gen_layer_has_v(c, l))
        add_l(b, l, "self_attn.v_proj.weight", "attn_v.weight", GEN_MATRIX, 2, kv, H, 0);
    if (!shared)
        scale_qk_norm(add_l(b, l, "self_attn.k_norm.weight", "attn_k_norm.weight", GEN_NORM, 1, d, 0, 0), d);
    add_l(b, l, "self_attn.o_proj.weight", "attn_output.weight", GEN_MATRIX, 2, H, q, 0);
    scale_qk_norm(add_l(b, l, "self_attn.q_norm.weight", "attn_q_norm.weight", GEN_NORM, 1, d, 0, 0), d);
    add_l(b, l, "post_attention_layernorm.weight", "post_attention_norm.weight", GEN_NORM, 1, H, 0, 0);
    add_l(b, l, "pre_feedforward_layernorm.weight", "ffn_norm.weight", GEN_NORM, 1, H, 0, 0);
    add_l(b, l, "mlp.gate_proj.weight", "ffn_gate.weight", GEN_MATRIX, 2, ff, H, 0);
    add_l(b, l, "mlp.up_proj.weight", "ffn_up.weight", GEN_MATRIX, 2, ff, H, 0);
    add_l(b, l, "mlp.down_proj.weight", "ffn_down.weight", GEN_MATRIX, 2, H, ff, 0);
    add_l(b, l, "post_feedforward_layernorm.weight", "post_ffw_norm.weight", GEN_NORM, 1, H, 0, 0);
    add_l(b, l, "layer_scalar", "layer_output_scale.weight", GEN_SCALAR, 1, 1, 0, 0);
    if (c->ple) {
        const int64_t P = c->ple;
        add_l(b, l, "per_layer_input_gate.weight", "inp_gate.weight", GEN_MATRIX, 2, P, H, 0);
        add_l(b, l, "per_layer_projection.weight", "proj.weight", GEN_MATRIX, 2, H, P, 0);
        add_l(b, l, "post_per_layer_input_norm.weight", "post_norm.weight", GEN_NORM, 1, H, 0, 0);
    }
    if (c->moe) {
        const int64_t E = c->experts, I = c->moe_ff;
        /* router logits of std ~1 (its input is scaled by H^-1/2, §2.6): clear top-k
         * gaps; stored F32 in GGUF as llama.cpp's converter and quantizer keep it */
        gen_tensor *r = add_l(b, l, "router.proj.weight", "ffn_gate_inp.weight", GEN_MATRIX, 2, E, H, 0);
        if (r) {
            r->amp = (float)sqrt(3.0);
            r->keep_f32 = true;
        }
        add_l(b, l, "router.scale", "ffn_gate_inp.scale", GEN_NORM, 1, H, 0, 0);
        add_l(b, l, "router.per_expert_scale", "ffn_down_exps.scale", GEN_NORM, 1, E, 0, 0);
        if (!split_experts) {
            add_l(b, l, "experts.gate_up_proj", "ffn_gate_up_exps.weight", GEN_MATRIX, 3, E, 2 * I, H);
        } else { /* the fused stream's gate rows and up rows as two tensors */
            const char *names[2][2] = {{"experts.gate_proj", "ffn_gate_exps.weight"}, {"experts.up_proj", "ffn_up_exps.weight"}};
            for (int part = 0; part < 2; part++) {
                gen_tensor *t = add_l(b, l, names[part][0], names[part][1], GEN_MATRIX, 3, E, I, H);
                if (!t) continue;
                snprintf(t->key, sizeof t->key, "layers.%d.experts.gate_up_proj", l);
                t->split_part = part + 1;
            }
        }
        add_l(b, l, "experts.down_proj", "ffn_down_exps.weight", GEN_MATRIX, 3, E, H, I);
        add_l(b, l, "pre_feedforward_layernorm_2.weight", "pre_ffw_norm_2.weight", GEN_NORM, 1, H, 0, 0);
        add_l(b, l, "post_feedforward_layernorm_1.weight", "post_ffw_norm_1.weight", GEN_NORM, 1, H, 0, 0);
        add_l(b, l, "post_feedforward_layernorm_2.weight", "post_ffw_norm_2.weight", GEN_NORM, 1, H, 0, 0);
    }
}

int gen_tensors_build(gen_tensor_list *list, const gen_config *c, bool split_experts, bool with_vision) {
    builder b = {list, 0, 0};
    list->t = NULL;
    list->n = 0;
    const int64_t H = c->hidden, V = c->vocab;

    gen_tensor *rf = push(&b, GEN_ROPE_FREQS, 1, c->global_head_dim / 2, 0, 0);
    if (rf) {
        snprintf(rf->gguf, sizeof rf->gguf, "rope_freqs.weight");
        rf->rope_pairs = (int)(c->global_head_dim * 0.25) / 2; /* proportional RoPE, §2.5 */
    }
    gen_tensor *e = add(&b, "embed_tokens.weight", "token_embd.weight", GEN_EMBED, 2, V, H, 0);
    if (e) e->amp = embed_amp(H);
    add(&b, "norm.weight", "output_norm.weight", GEN_NORM, 1, H, 0, 0);
    if (c->ple) {
        const int64_t LP = (int64_t)c->layers * c->ple;
        e = add(&b, "embed_tokens_per_layer.weight", "per_layer_token_embd.weight", GEN_EMBED, 2, V, LP, 0);
        if (e) e->amp = embed_amp(c->ple);
        add(&b, "per_layer_model_projection.weight", "per_layer_model_proj.weight", GEN_MATRIX, 2, LP, H, 0);
        add(&b, "per_layer_projection_norm.weight", "per_layer_proj_norm.weight", GEN_NORM, 1, c->ple, 0, 0);
    }
    for (int l = 0; l < c->layers; l++) add_layer(&b, c, l, split_experts);
    if (with_vision) { /* tensors of the other towers, which a text loader skips */
        static const char *towers[] = {"model.vision_tower.encoder.layers.0.mlp.fc1.weight",
                                       "model.audio_tower.conformer.0.ffw.weight",
                                       "model.embed_vision.embedding_projection.weight"};
        for (int i = 0; i < 3; i++) {
            gen_tensor *t = add(&b, towers[i], "", GEN_MATRIX, 2, 32, 64, 0);
            if (t) t->hf_only = true;
        }
    }
    if (b.failed) {
        fprintf(stderr, "g4gen: out of memory\n");
        gen_tensors_free(list);
        return -1;
    }
    return 0;
}

void gen_tensors_free(gen_tensor_list *list) {
    free(list->t);
    list->t = NULL;
    list->n = 0;
}

int64_t gen_tensor_nelem(const gen_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

static int64_t row_len(const gen_tensor *t) { return t->shape[t->n_dims - 1]; }

enum g4_type gen_value_type(const gen_config *c, const gen_tensor *t, gen_types as) {
    if (t->kind == GEN_ROPE_FREQS) return G4_TYPE_F32;
    if (t->n_dims < 2 || t->keep_f32)
        return (as.type == G4_TYPE_F16 || as.type == G4_TYPE_BF16) ? as.type : G4_TYPE_F32;
    return gen_tensor_type(c, t, as);
}

enum g4_type gen_tensor_type(const gen_config *c, const gen_tensor *t, gen_types want) {
    if (want.q4_k_m) return gen_q4_k_m_type(c, t);
    if (t->n_dims < 2 || t->keep_f32) return G4_TYPE_F32;
    const int64_t ne0 = row_len(t);
    const g4_type_traits *tr = g4_type_info(want.type);
    if (tr && ne0 % tr->block_size == 0) return want.type;
    return ne0 % 32 == 0 ? G4_TYPE_Q8_0 : G4_TYPE_F16;
}

uint64_t gen_tensor_bytes(const gen_tensor *t, enum g4_type type) {
    const int64_t ne0 = row_len(t);
    return (uint64_t)g4_row_size(type, ne0) * (uint64_t)(gen_tensor_nelem(t) / ne0);
}

/* ---- values ----------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t z) { /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name) {
    uint64_t h = 0xCBF29CE484222325ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001B3ULL;
    return mix64(seed ^ mix64(h));
}

/* Values of elements [first, first+n) of tensor t (key = name_key(seed, t->hf)). */
static void fill(const gen_tensor *t, uint64_t key, int64_t first, float *out, int64_t n) {
    if (t->kind == GEN_ROPE_FREQS) {
        for (int64_t i = 0; i < n; i++) out[i] = first + i < t->rope_pairs ? 1.0f : 1e30f;
        return;
    }
    const float base = t->base, amp = t->amp;
    const uint64_t golden = 0x9E3779B97F4A7C15ULL;
    /* split experts read their rows of the fused [E, 2I, H] stream */
    const int64_t part = (int64_t)t->shape[1] * t->shape[2];
    for (int64_t i = 0; i < n; i++) {
        int64_t idx = first + i;
        if (t->split_part) idx = (idx / part) * 2 * part + (t->split_part - 1) * part + idx % part;
        /* 24 random bits -> uniform in (-1, 1), symmetric */
        int32_t r = (int32_t)(mix64(key + (uint64_t)(idx + 1) * golden) >> 40) - (1 << 23);
        out[i] = base + amp * (((float)r + 0.5f) * 0x1p-23f);
    }
}

/* ---- streaming writer --------------------------------------------------------------- */

#define CHUNK_ELEMS ((int64_t)1 << 22)
#define MAX_THREADS 16

typedef struct {
    const gen_tensor *t;
    enum g4_type type, round_via;
    uint64_t key;
    int64_t ne0, row0, nrows; /* rows [row0, row0+nrows) of the tensor */
    size_t row_bytes;
    unsigned char *dst;       /* where row row0 goes */
    float *scratch;           /* ne0 floats */
    unsigned char *rounded;   /* one row encoded as round_via */
} job;

static void encode_row(enum g4_type type, const float *src, void *dst, int64_t n) {
    switch (type) {
    case G4_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case G4_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = g4_f32_to_f16(src[i]);
        break;
    case G4_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = g4_f32_to_bf16(src[i]);
        break;
    default: g4_quantize_row(type, src, dst, n); break;
    }
}

static void *run_job(void *arg) {
    job *j = arg;
    for (int64_t r = 0; r < j->nrows; r++) {
        unsigned char *dst = j->dst + (size_t)r * j->row_bytes;
        int64_t first = (j->row0 + r) * j->ne0;
        fill(j->t, j->key, first, j->scratch, j->ne0);
        if (j->round_via != G4_TYPE_F32) {
            encode_row(j->round_via, j->scratch, j->rounded, j->ne0);
            g4_dequantize_row(j->round_via, j->rounded, j->scratch, j->ne0);
        }
        encode_row(j->type, j->scratch, dst, j->ne0);
    }
    return NULL;
}

int gen_tensor_write(FILE *f, const gen_tensor *t, enum g4_type type, enum g4_type round_via, uint64_t seed,
                     int threads) {
    const int64_t ne0 = row_len(t), nrows = gen_tensor_nelem(t) / ne0;
    const size_t row_bytes = g4_row_size(type, ne0);
    if (row_bytes == 0) {
        fprintf(stderr, "g4gen: %s: rows of %lld cannot be stored as type %d\n", t->gguf,
                (long long)ne0, (int)type);
        return -1;
    }
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t chunk_rows = CHUNK_ELEMS / ne0;
    if (chunk_rows < 1) chunk_rows = 1;
    if (chunk_rows > nrows) chunk_rows = nrows;
    if (threads > chunk_rows) threads = (int)chunk_rows;

    unsigned char *buf = malloc((size_t)chunk_rows * row_bytes);
    float *scratch = malloc((size_t)threads * (size_t)ne0 * sizeof(float));
    const size_t round_bytes = round_via == G4_TYPE_F32 ? 0 : g4_row_size(round_via, ne0);
    unsigned char *rounded = malloc((size_t)threads * round_bytes + 1);
    int rc = (buf && scratch && rounded) ? 0 : -1;
    if (rc) fprintf(stderr, "g4gen: out of memory\n");
    const uint64_t key = name_key(seed, t->key);
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];

    for (int64_t row = 0; rc == 0 && row < nrows; row += chunk_rows) {
        const int64_t n = nrows - row < chunk_rows ? nrows - row : chunk_rows;
        int started = 0;
        for (int i = 0; i < threads; i++) {
            int64_t a = n * i / threads, z = n * (i + 1) / threads;
            jobs[i] = (job){t, type, round_via, key, ne0, row + a, z - a, row_bytes,
                            buf + (size_t)a * row_bytes, scratch + (size_t)i * (size_t)ne0,
                            rounded + (size_t)i * round_bytes};
        }
        /* threads 1..T-1 in the background, thread 0's share here */
        for (int i = 1; i < threads; i++) {
            if (pthread_create(&tid[i], NULL, run_job, &jobs[i]) != 0) break;
            started = i;
        }
        for (int i = started + 1; i < threads; i++) run_job(&jobs[i]); /* if a create failed */
        run_job(&jobs[0]);
        for (int i = 1; i <= started; i++) pthread_join(tid[i], NULL);
        rc = gen_put(f, buf, (size_t)n * row_bytes);
    }
    free(rounded);
    free(scratch);
    free(buf);
    return rc;
}
