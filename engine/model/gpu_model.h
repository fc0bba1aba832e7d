/* gpu_model.h: a context's share of the GPU (kernels/gpu.h): the device, the
 * weights of the layers that run there (uploaded once), their KV rings, the
 * activations of one micro-batch, and the recorded decode steps. Layers
 * [0, n_layers) run on the GPU, the rest on the CPU; with every layer there the
 * embedding and the LM head are there too, and the logits stay on the device
 * until asked for. Internal to the engine. */
#ifndef G4_GPU_MODEL_H
#define G4_GPU_MODEL_H

#include "forward.h"
#include "gpu.h"

/* Micro-batches of at most this many tokens are decode steps: matrix-vector
 * kernels, experts through g4g_matmul_experts, and a recorded graph per size. */
#define G4_GPU_DECODE_MAX 8

/* One decoder layer's weights on the device: the same fields as g4_layer_weights
 * (vectors f32, matrices in their file's type, Q8_0 for the CPU's repacked Q8_0);
 * the experts of a kind lie one after another, expert e at e * stride bytes. */
typedef struct {
    float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm, *ple_post_norm;
    g4k_matrix wq, wk, wv, wo, ffn_gate, ffn_up, ffn_down, ple_gate, ple_proj;
    g4k_matrix router;
    float *router_scale;            /* router_scale / √H (the router's input norm weight) */
    float *expert_scale, *pre_ffn_norm_2, *post_ffn_norm_1, *post_ffn_norm_2;
    g4k_matrix exp_gate_up, exp_gate, exp_up, exp_down;   /* expert 0 (data NULL: absent) */
    size_t exp_gate_up_stride, exp_gate_stride, exp_up_stride, exp_down_stride;
    float *rope_freq;               /* [head_dim/2] */
    /* the KV ring of an owning layer: [n_seq][ring][kv_dim] each, and per-sequence
     * pointers into them (device arrays [n_seq]) for the kernels */
    float *k_ring, *v_ring;
    float **k_seq, **v_seq;
    int ring;                       /* slots per sequence (0: the layer reads a donor's) */
} g4_gpu_layer;

/* The activations of one micro-batch on the device ([U] = n_ubatch rows; the
 * expert buffers hold max(U, G4_GPU_DECODE_MAX * k) rows). */
typedef struct {
    float *x, *a, *q, *k, *v, *attn, *o, *m, *gate, *up, *ple, *ple_g, *ple_row;
    float *router, *expert_w, *xe, *ye, *moe, *head_in;
    int32_t *expert_ids;
    int32_t *token, *seq, *pos, *head_rows;   /* the step's inputs */
    int32_t *pair_rows; float *pair_w;                    /* grouped experts (prefill) */
    void *attn_scratch;
    size_t attn_scratch_bytes;
    float *logits;                  /* [cap_rows][V], allocated apart from the blocks (it grows) */
    int cap_rows;
    int32_t *top_ids; float *top_vals;  /* [256] g4_gpu_top_logits's answer */
} g4_gpu_acts;

/* Page-locked host copies of the step's inputs, uploaded inside the recording.
 * The per-layer token table (PLE, billions of values on E2B) stays in host
 * memory: the step's rows are looked up here, into ple_row, and uploaded. */
typedef struct {
    int32_t *token, *seq, *pos, *head_rows;
    float *ple_row;                 /* [U][L*P] */
    int32_t *pair_rows; float *pair_w;
    int32_t *ids; float *w;         /* routing read back for grouped experts */
    int *expert_first;              /* [E + 1] where each expert's pairs start */
} g4_gpu_staging;

typedef struct g4_gpu {
    g4g_device *dev;
    const g4_model *model;
    int n_layers;                   /* layers on the GPU */
    bool whole;                     /* every layer: embedding and head here too */
    char where[256];                /* g4_context_device's line */
    /* weights */
    g4k_matrix embed, output, ple_model_proj;   /* when whole */
    float *output_norm, *ple_proj_norm;
    g4_gpu_layer *layer;            /* [n_layers] */
    void **blocks;                  /* every device allocation, freed together */
    size_t n_blocks, cap_blocks;
    g4_gpu_acts act;
    g4_gpu_staging host;
    g4g_graph *graph[G4_GPU_DECODE_MAX + 1];  /* decode steps of n tokens, every row's logits */
} g4_gpu;

/* gpu_context.c: opens device `device`, puts layers [0, n) there (n < 0: all;
 * rounded down so KV-shared layers sit with their donors), uploads their weights
 * and allocates their rings for kv's sequences and sizes. NULL, error set. */
g4_gpu *g4_gpu_new(const g4_model *m, const g4_kv_cache *kv, int n_ubatch, int n_layers, int device);
void g4_gpu_free(g4_gpu *g);
/* Device memory for the context's own use, freed with it; NULL (error set). */
void *g4_gpu_alloc(g4_gpu *g, size_t bytes);
/* Makes act.logits hold `rows` rows (outside any recording). 0, or -1 (error set). */
int g4_gpu_reserve_logits(g4_gpu *g, int rows);
/* Logits rows [first, first + n) of the last decode into host memory. */
int g4_gpu_download_logits(g4_gpu *g, int first, int n, float *host);
/* The k largest logits of row `row`, descending. 0, or -1 (error set). */
int g4_gpu_top_logits(g4_gpu *g, int row, int k, int32_t *ids, float *vals);

/* gpu_weights.c: uploads the weights of layers [0, g->n_layers) (and the
 * embedding and head when g->whole). 0, or -1 (error set). */
int g4_gpu_upload_weights(g4_gpu *g);
/* Bytes the upload will take on the device. */
size_t g4_gpu_weight_bytes(const g4_model *m, int n_layers, bool whole);

/* gpu_forward.c: the micro-batch's layers [0, g->n_layers) on the GPU. With
 * every layer there it also fills the logits rows the batch asks for (rows of
 * act.logits numbered by ub->logit_row); else it leaves the residual stream and
 * the per-layer inputs in ws->x and ws->ple for the CPU's layers. 0, or -1
 * (error set) when the device failed. */
int g4_gpu_forward(g4_gpu *g, const g4_ubatch *ub, g4_workspace *ws);

#endif
