/* model.h: the Gemma 4 text decoder as the engine holds it: its configuration
 * (shared/docs/gemma4-text-arch.md §1), its weights with their shapes, and the
 * loaded-model object behind g4_model. Internal to the engine. */
#ifndef G4_MODEL_H
#define G4_MODEL_H

#include "gemma4.h"
#include "gguf.h"
#include "safetensors.h"
#include "tensor.h"
#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

#define G4_MAX_LAYERS 512

/* What differs from layer to layer (§1, §5). */
typedef struct {
    bool sliding;       /* S (sliding window) or F (full attention) */
    int head_dim;       /* d(l): head_dim for S, global_head_dim for F */
    int n_kv_heads;     /* nkv(l) */
    int n_ff;           /* dense MLP width (double on E2B's KV-shared layers) */
    int kv_source;      /* layer whose KV cache this layer reads: itself, or its donor (§5) */
    float *rope_freq;   /* [head_dim/2] angle per position of each rotary pair (0: not rotated) */
} g4_layer_config;

typedef struct {
    int vocab_size;     /* rows of the embedding / tied LM head */
    int hidden;         /* H */
    int n_layers;       /* L */
    int n_heads;        /* nq, the same on every layer */
    int n_ctx_train;    /* max_position_embeddings */
    int window;         /* sliding_window W: keys with pos_q - pos_k < W */
    int n_kv_shared;    /* the last n_kv_shared layers read a donor's cache */
    int ple_dim;        /* P = hidden_size_per_layer_input, 0 without PLE */
    int ple_vocab;      /* rows of the PLE table */
    int n_experts, n_experts_used, expert_ff;   /* MoE (0 experts: dense) */
    float rms_eps;
    float softcap;      /* final logit softcap, 0 = none */
    float embed_scale;  /* sqrt(H) */
    int bos_id, eos_id, pad_id;
    float *rope_freq_sliding;   /* [head_dim/2] and [global_head_dim/2]: owned, */
    float *rope_freq_full;      /* the layers' rope_freq point at one of them */
    g4_layer_config layer[G4_MAX_LAYERS];
} g4_config;

/* Weights of one decoder layer. Matrices are views into the mapped file, in
 * ggml shape order {n_in, n_out}; vectors are small f32 copies. */
typedef struct {
    float *attn_norm;           /* [H] input_layernorm */
    g4k_matrix wq;              /* {H, nq*d} */
    g4k_matrix wk, wv;          /* {H, nkv*d}; absent (data NULL) on KV-shared layers; wv absent on k_eq_v F layers: V := raw K */
    float *q_norm, *k_norm;     /* [d] (k_norm absent on KV-shared layers) */
    g4k_matrix wo;              /* {nq*d, H} */
    float *post_attn_norm;      /* [H] */
    float *ffn_norm;            /* [H] pre_feedforward_layernorm */
    g4k_matrix ffn_gate, ffn_up;/* {H, n_ff} */
    g4k_matrix ffn_down;        /* {n_ff, H} */
    float *post_ffn_norm;       /* [H] post_feedforward_layernorm */
    float layer_scalar;         /* multiplies the residual stream at the end of the layer */
    /* per-layer embeddings (E2B/E4B) */
    g4k_matrix ple_gate;        /* {H, P} per_layer_input_gate */
    g4k_matrix ple_proj;        /* {P, H} per_layer_projection */
    float *ple_post_norm;       /* [H] post_per_layer_input_norm */
    /* mixture of experts beside the dense MLP (26B-A4B) */
    g4k_matrix router;          /* {H, E} */
    float *router_scale;        /* [H] */
    float *expert_scale;        /* [E] per_expert_scale */
    g4k_matrix *expert_gate_up; /* [E] views {H, 2I}: gate rows then up rows (fused layout) */
    g4k_matrix *expert_gate;    /* [E] views {H, I} (split layout; then expert_up too) */
    g4k_matrix *expert_up;
    g4k_matrix *expert_down;    /* [E] views {I, H} */
    float *pre_ffn_norm_2;      /* [H] expert input norm */
    float *post_ffn_norm_1;     /* [H] dense-MLP branch norm */
    float *post_ffn_norm_2;     /* [H] expert branch norm */
} g4_layer_weights;

typedef struct {
    g4k_matrix embed;           /* {H, V} token_embd; also the tied LM head */
    g4k_matrix output;          /* {H, V} a separate LM head if the file has one, else = embed */
    bool head_tied;             /* output is embed (maybe in a repacked copy) */
    float *output_norm;         /* [H] */
    g4k_matrix ple_embed;       /* {L*P, V_pl} per_layer_token_embd */
    g4k_matrix ple_model_proj;  /* {H, L*P} per_layer_model_projection */
    float *ple_proj_norm;       /* [P] */
    g4_layer_weights *layer;    /* [L] */
} g4_weights;

struct g4_model {
    g4_config cfg;
    g4_weights w;
    const char *format;         /* "gguf" or "safetensors" */
    enum g4_type main_type;     /* type of most matrix bytes */
    uint64_t n_params, n_bytes;
    g4_gguf gguf;               /* one of these two holds the mapped files */
    g4_st_dir st;
    bool is_gguf;
    g4_vocab *vocab;            /* the tokenizer in the model's files, or NULL */
    char *chat_template;        /* the template in the model's files, or NULL */
    g4_sampler_params sampling; /* Gemma 4 defaults over the files' own */
    void **owned;               /* f32 copies and tables, freed with the model */
    size_t n_owned, cap_owned;
};

/* config.c: hyperparameters from a GGUF's metadata or an HF config.json. */
int g4_config_from_gguf(g4_config *cfg, const g4_gguf *g);
int g4_config_from_hf(g4_config *cfg, const char *config_json_path);
void g4_config_free(g4_config *cfg);

/* weights.c: binds and checks every tensor the decoder needs. */
int g4_weights_bind(g4_model *m);

/* weights_repack.c: copies the matmul's matrices into the kernels' faster layouts. */
int g4_weights_repack(g4_model *m);

/* Registers a malloc'd block to free with the model; returns it, or NULL (error set). */
void *g4_model_own(g4_model *m, void *p);

#endif
