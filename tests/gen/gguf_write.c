/* gguf_write.c: writes a generated model as a GGUF v3 file (alignment 32) with
 * the gemma4 metadata of spec §4, laid out like the shared fixtures' model.gguf:
 * general.*, gemma4.* (per-layer arrays where values vary), tokenizer.*, then
 * the tensor infos in ggml ne order and the tensor data, streamed. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 32

enum { KV_U32 = 4, KV_I32 = 5, KV_F32 = 6, KV_BOOL = 7, KV_STR = 8, KV_ARR = 9 };

/* ---- little-endian output ---------------------------------------------------------- */

int gen_put(FILE *f, const void *p, size_t n) { return n && fwrite(p, 1, n, f) != n ? -1 : 0; }

int gen_put_u32(FILE *f, uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    return gen_put(f, b, 4);
}

int gen_put_u64(FILE *f, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    return gen_put(f, b, 8);
}

int gen_put_str(FILE *f, const char *s, uint64_t len) {
    return gen_put_u64(f, len) | gen_put(f, s, (size_t)len);
}

/* ---- metadata ------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    uint64_t n;
    int rc;
} kvw;

static void kv_key(kvw *w, const char *key, uint32_t type) {
    w->rc |= gen_put_str(w->f, key, strlen(key)) | gen_put_u32(w->f, type);
    w->n++;
}

static void kv_u32(kvw *w, const char *key, uint32_t v) {
    kv_key(w, key, KV_U32);
    w->rc |= gen_put_u32(w->f, v);
}

static void kv_f32(kvw *w, const char *key, float v) {
    kv_key(w, key, KV_F32);
    w->rc |= gen_put(w->f, &v, 4);
}

static void kv_str(kvw *w, const char *key, const char *s) {
    kv_key(w, key, KV_STR);
    w->rc |= gen_put_str(w->f, s, strlen(s));
}

/* A per-layer value: a u32 if it is the same in every layer, else an i32 array
 * (what llama.cpp's converter writes for Python int lists). */
static void kv_per_layer(kvw *w, const char *key, const int64_t *v, int n, bool force_array) {
    bool same = true;
    for (int i = 1; i < n; i++) same &= v[i] == v[0];
    if (same && !force_array) {
        kv_u32(w, key, (uint32_t)v[0]);
        return;
    }
    kv_key(w, key, KV_ARR);
    w->rc |= gen_put_u32(w->f, KV_I32) | gen_put_u64(w->f, (uint64_t)n);
    for (int i = 0; i < n; i++) w->rc |= gen_put_u32(w->f, (uint32_t)(int32_t)v[i]);
}

/* general.file_type: llama.cpp's LLAMA_FTYPE_* for the requested types. */
static uint32_t file_type(gen_types want) {
    if (want.q4_k_m) return 15; /* Q4_K_M */
    switch (want.type) {
    case G4_TYPE_F32: return 0;
    case G4_TYPE_F16: return 1;
    case G4_TYPE_Q4_0: return 2;
    case G4_TYPE_Q4_1: return 3;
    case G4_TYPE_Q8_0: return 7;
    case G4_TYPE_Q5_0: return 8;
    case G4_TYPE_Q5_1: return 9;
    case G4_TYPE_Q2_K: return 10;
    case G4_TYPE_Q3_K: return 11; /* Q3_K_S */
    case G4_TYPE_Q4_K: return 14; /* Q4_K_S */
    case G4_TYPE_Q5_K: return 16; /* Q5_K_S */
    case G4_TYPE_Q6_K: return 18;
    case G4_TYPE_BF16: return 32;
    default: return 0;
    }
}

static void write_model_kv(kvw *w, const gen_output *o) {
    const gen_config *c = o->cfg;
    const int L = c->layers;
    int64_t ff[GEN_MAX_LAYERS], kvh[GEN_MAX_LAYERS];
    char name[64];

    kv_str(w, "general.architecture", "gemma4");
    snprintf(name, sizeof name, "g4gen-%s", c->shape);
    kv_str(w, "general.name", name);
    kv_u32(w, "general.file_type", file_type(o->type));
    kv_u32(w, "general.quantization_version", 2);
    kv_u32(w, "gemma4.context_length", (uint32_t)c->ctx);
    kv_u32(w, "gemma4.embedding_length", (uint32_t)c->hidden);
    kv_u32(w, "gemma4.block_count", (uint32_t)L);
    for (int l = 0; l < L; l++) ff[l] = gen_layer_ff(c, l), kvh[l] = gen_layer_kv_heads(c, l);
    kv_per_layer(w, "gemma4.feed_forward_length", ff, L, false);
    kv_u32(w, "gemma4.attention.head_count", (uint32_t)c->heads);
    kv_per_layer(w, "gemma4.attention.head_count_kv", kvh, L, c->global_kv_heads > 0);
    kv_u32(w, "gemma4.attention.key_length", (uint32_t)c->global_head_dim);
    kv_u32(w, "gemma4.attention.value_length", (uint32_t)c->global_head_dim);
    kv_u32(w, "gemma4.attention.key_length_swa", (uint32_t)c->head_dim);
    kv_u32(w, "gemma4.attention.value_length_swa", (uint32_t)c->head_dim);
    kv_f32(w, "gemma4.attention.layer_norm_rms_epsilon", 1e-6f);
    kv_u32(w, "gemma4.attention.sliding_window", (uint32_t)c->window);
    kv_key(w, "gemma4.attention.sliding_window_pattern", KV_ARR);
    w->rc |= gen_put_u32(w->f, KV_BOOL) | gen_put_u64(w->f, (uint64_t)L);
    for (int l = 0; l < L; l++) w->rc |= gen_put(w->f, c->full[l] ? "\0" : "\1", 1);
    kv_u32(w, "gemma4.attention.shared_kv_layers", (uint32_t)c->kv_shared);
    kv_u32(w, "gemma4.embedding_length_per_layer_input", (uint32_t)c->ple);
    kv_f32(w, "gemma4.rope.freq_base", 1e6f);
    kv_f32(w, "gemma4.rope.freq_base_swa", 1e4f);
    kv_u32(w, "gemma4.rope.dimension_count", (uint32_t)c->global_head_dim);
    kv_u32(w, "gemma4.rope.dimension_count_swa", (uint32_t)c->head_dim);
    kv_f32(w, "gemma4.final_logit_softcapping", 30.0f);
    if (c->moe) {
        kv_u32(w, "gemma4.expert_count", (uint32_t)c->experts);
        kv_u32(w, "gemma4.expert_used_count", (uint32_t)c->top_k);
        kv_u32(w, "gemma4.expert_feed_forward_length", (uint32_t)c->moe_ff);
    }
}

/* ---- the file ----------------------------------------------------------------------- */

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static int pad_to(FILE *f, uint64_t pos, uint64_t target) {
    static const unsigned char zero[ALIGN];
    return gen_put(f, zero, (size_t)(target - pos));
}

int gen_write_gguf(const gen_output *o, const char *path) {
    const gen_tensor_list *tl = o->tensors;
    char *meta = NULL;
    size_t meta_size = 0;
    FILE *mf = open_memstream(&meta, &meta_size);
    if (!mf) return -1;
    kvw w = {mf, 0, 0};
    write_model_kv(&w, o);
    if (fclose(mf) != 0 || w.rc != 0) {
        free(meta);
        return -1;
    }

    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        free(meta);
        return -1;
    }
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);

    uint64_t n_kv = w.n + (o->vocab ? gen_vocab_n_kv(o->vocab) : 0);
    uint64_t n_tensors = 0;
    for (size_t i = 0; i < tl->n; i++) n_tensors += !tl->t[i].hf_only;
    int rc = gen_put(f, "GGUF", 4) | gen_put_u32(f, 3) | gen_put_u64(f, n_tensors) | gen_put_u64(f, n_kv);
    rc |= gen_put(f, meta, meta_size);
    free(meta);
    if (o->vocab) rc |= gen_vocab_write(o->vocab, f);

    /* tensor infos: ne reversed from the HF shape, offsets aligned */
    uint64_t offset = 0;
    for (size_t i = 0; i < tl->n && rc == 0; i++) {
        const gen_tensor *t = &tl->t[i];
        if (t->hf_only) continue;
        enum g4_type type = gen_tensor_type(o->cfg, t, o->type);
        rc |= gen_put_str(f, t->gguf, strlen(t->gguf)) | gen_put_u32(f, (uint32_t)t->n_dims);
        for (int d = t->n_dims - 1; d >= 0; d--) rc |= gen_put_u64(f, (uint64_t)t->shape[d]);
        rc |= gen_put_u32(f, (uint32_t)type) | gen_put_u64(f, offset);
        offset = align_up(offset + gen_tensor_bytes(t, type));
    }
    long long pos = ftello(f);
    if (pos < 0) rc = -1;
    if (rc == 0) rc = pad_to(f, (uint64_t)pos, align_up((uint64_t)pos));

    for (size_t i = 0; i < tl->n && rc == 0; i++) {
        const gen_tensor *t = &tl->t[i];
        if (t->hf_only) continue;
        enum g4_type type = gen_tensor_type(o->cfg, t, o->type);
        /* 1-D tensors of an f16/bf16 model hold f16/bf16 values, as converted from such a checkpoint */
        enum g4_type via = gen_value_type(o->cfg, t, o->type);
        uint64_t bytes = gen_tensor_bytes(t, type);
        rc = gen_tensor_write(f, t, type, via == type ? G4_TYPE_F32 : via, o->seed, o->threads);
        if (rc == 0) rc = pad_to(f, bytes, align_up(bytes));
    }
    if (fclose(f) != 0) rc = -1;
    if (rc != 0) fprintf(stderr, "g4gen: writing %s failed\n", path);
    return rc;
}
