/* gen.h: shared declarations of g4gen, the random-weight Gemma 4 model generator:
 * the model config (shapes.c), the tensor list and its values (weights.c), the
 * tokenizer copied from a vocab GGUF (vocab.c), the per-tensor types of a
 * llama.cpp quantization mix (mix.c) and the two writers (gguf_write.c,
 * st_write.c). See g4gen.c for the command line. */
#ifndef G4GEN_GEN_H
#define G4GEN_GEN_H

#include "model/quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GEN_MAX_LAYERS 256

/* Text-decoder config (spec §1.1), with the derived per-layer layout. */
typedef struct {
    char shape[32];          /* shape name, e.g. "e2b", "tiny-moe" */
    bool real;               /* a real Gemma 4 shape (bf16 default), not a tiny test model */
    int64_t vocab;           /* vocab_size (= vocab_size_per_layer_input) */
    int64_t hidden;          /* hidden_size H */
    int64_t ff;              /* intermediate_size (dense / shared MLP) */
    int layers;              /* num_hidden_layers L */
    int heads;               /* num_attention_heads */
    int kv_heads;            /* num_key_value_heads (S layers) */
    int global_kv_heads;     /* num_global_key_value_heads; 0 = null */
    int head_dim;            /* S layers */
    int global_head_dim;     /* F layers */
    int window;              /* sliding_window */
    int64_t ctx;             /* max_position_embeddings */
    int ple;                 /* hidden_size_per_layer_input P (0 = no PLE) */
    int kv_shared;           /* num_kv_shared_layers */
    bool k_eq_v;             /* attention_k_eq_v */
    bool double_wide;        /* use_double_wide_mlp */
    bool moe;                /* enable_moe_block */
    int experts, top_k;      /* num_experts, top_k_experts */
    int64_t moe_ff;          /* moe_intermediate_size */
    int period;              /* layer i is full iff (i+1) % period == 0 (last forced full) */
    bool vision_bidir;       /* use_bidirectional_attention = "vision" (12B/26B/31B) */
    bool full[GEN_MAX_LAYERS]; /* layer_types: true = full_attention */
} gen_config;

/* Command-line overrides of a shape; -1 = keep the shape's value. */
typedef struct {
    int layers, kv_shared, window, experts, top_k;
    int64_t vocab, ctx, hidden, ff, moe_ff;
} gen_overrides;

/* shapes.c */
int gen_shape_load(gen_config *c, const char *name, const gen_overrides *ov);
void gen_shape_list(FILE *out);
/* Derived per-layer values. */
bool gen_layer_shared(const gen_config *c, int l);   /* reuses an earlier layer's KV */
int gen_layer_head_dim(const gen_config *c, int l);
int gen_layer_kv_heads(const gen_config *c, int l);
int64_t gen_layer_ff(const gen_config *c, int l);
bool gen_layer_has_v(const gen_config *c, int l);

/* How the values of a tensor are drawn. */
enum gen_kind {
    GEN_MATRIX,    /* uniform, std 1/sqrt(fan_in) (router: std 1) */
    GEN_EMBED,     /* uniform, std min(0.5, 4/sqrt(width)) */
    GEN_NORM,      /* 1 +- 0.3 (std 0.17): norm weights and router scales; q/k norms scaled */
    GEN_SCALAR,    /* uniform in [0.9, 1.0]: layer_scalar (lower values make deep models chaotic) */
    GEN_ROPE_FREQS /* GGUF only: [1.0] * n_rope_pairs ++ [1e30] * rest */
};

/* One tensor; the shape is in HF order (outermost first). */
typedef struct {
    char hf[96];          /* HF name without prefix ("layers.3.mlp.up_proj.weight"); "" if GGUF-only */
    char gguf[64];        /* GGUF name */
    int n_dims;
    int64_t shape[3];
    enum gen_kind kind;
    float base, amp;      /* values are uniform in base +- amp (all kinds but ROPE_FREQS) */
    int rope_pairs;       /* GEN_ROPE_FREQS: leading 1.0 entries */
    bool keep_f32;        /* GGUF: F32 whatever the type (the MoE router, like llama.cpp) */
    char key[96];         /* HF name of the value stream (usually = hf) */
    int split_part;       /* split experts: 1 = gate, 2 = up rows of the fused gate_up stream */
    bool hf_only;         /* not in GGUF files (vision/audio tower stand-ins) */
} gen_tensor;

typedef struct {
    gen_tensor *t;
    size_t n;
} gen_tensor_list;

/* The GGUF types asked for (--type, --as-type): one type for every matrix, or
 * llama.cpp's Q4_K_M mix, which picks a type per tensor (mix.c). */
typedef struct {
    enum g4_type type; /* every matrix; for the mix, its default type Q4_K */
    bool q4_k_m;
} gen_types;

/* weights.c. split_experts: GGUF ffn_gate_exps + ffn_up_exps instead of the fused
 * gate_up (same values); with_vision: HF stand-ins of the vision/audio towers. */
int gen_tensors_build(gen_tensor_list *list, const gen_config *c, bool split_experts, bool with_vision);
void gen_tensors_free(gen_tensor_list *list);
int64_t gen_tensor_nelem(const gen_tensor *t);
/* The GGUF storage type of t, a tensor of c, for the requested types. One type:
 * that type, q8_0 (else f16) for rows that are not whole blocks; 1-D tensors and
 * the MoE router always F32. The mix: gen_q4_k_m_type. */
enum g4_type gen_tensor_type(const gen_config *c, const gen_tensor *t, gen_types want);
/* Bytes of t stored as type (0 if the rows are not whole blocks). */
uint64_t gen_tensor_bytes(const gen_tensor *t, enum g4_type type);
/* The type whose rounding t's values go through before they are stored, when
 * the model is meant to hold the weights of a GGUF of types `as`: matrices their
 * type in that GGUF, 1-D tensors f16/bf16 values when as is f16/bf16 (a GGUF
 * converted from such a checkpoint), else exact f32. */
enum g4_type gen_value_type(const gen_config *c, const gen_tensor *t, gen_types as);
/* Streams t's values, first rounded through round_via, encoded as type to f.
 * 0, or -1 with a message on stderr. */
int gen_tensor_write(FILE *f, const gen_tensor *t, enum g4_type type, enum g4_type round_via, uint64_t seed,
                     int threads);

/* mix.c: the type llama.cpp's `llama-quantize ... Q4_K_M` gives t, a tensor of c. */
enum g4_type gen_q4_k_m_type(const gen_config *c, const gen_tensor *t);

/* vocab.c: the tokenizer.* keys of a vocab GGUF, cut to a vocab size. */
typedef struct gen_vocab gen_vocab;
/* Loads PATH and keeps the first n_vocab pieces (error if it has fewer). */
gen_vocab *gen_vocab_load(const char *path, int64_t n_vocab);
/* A minimal synthetic tokenizer of n_vocab pieces (no file). */
gen_vocab *gen_vocab_synthetic(int64_t n_vocab);
void gen_vocab_free(gen_vocab *v);
size_t gen_vocab_n_kv(const gen_vocab *v);
/* Writes the KV pairs in GGUF encoding. Returns 0 or -1 on a write error. */
int gen_vocab_write(const gen_vocab *v, FILE *f);

/* Options shared by the writers. */
typedef struct {
    const gen_config *cfg;
    const gen_tensor_list *tensors;
    uint64_t seed;
    int threads;
    /* GGUF */
    gen_types type;
    const char *type_name;
    const gen_vocab *vocab;
    /* HF */
    enum g4_type hf_dtype;     /* F32, F16 or BF16 */
    gen_types as_type;         /* values as a GGUF of these types would hold them (F32: exact) */
    const char *prefix;        /* "model.language_model." or "model." */
    bool multimodal;           /* config.json layout of Gemma4ForConditionalGeneration */
    int shards;
} gen_output;

int gen_write_gguf(const gen_output *o, const char *path);
int gen_write_hf(const gen_output *o, const char *dir);

/* Little-endian binary output helpers (gguf_write.c); they return 0 or -1. */
int gen_put(FILE *f, const void *p, size_t n);
int gen_put_u32(FILE *f, uint32_t v);
int gen_put_u64(FILE *f, uint64_t v);
int gen_put_str(FILE *f, const char *s, uint64_t len);

#endif
