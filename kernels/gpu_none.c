/* gpu_none.c: kernels/gpu.h in a build without a GPU backend (neither G4_CUDA
 * nor G4_HIP). No device exists, g4g_open says how to build one in, and since no
 * g4g_device can be had, the memory and op functions are never reached with one;
 * they keep the link whole and do nothing. */
#include "gpu.h"

#include <stdio.h>

int g4g_device_count(void) { return 0; }
const char *g4g_backend_name(void) { return "none"; }

g4g_device *g4g_open(int index, char *err, size_t err_len) {
    snprintf(err, err_len, "this gemma4 was built without a GPU backend (rebuild with nvcc installed, "
                           "or cmake -DG4_CUDA=ON / -DG4_HIP=ON)");
    return NULL;
}

void g4g_close(g4g_device *dev) {}
const char *g4g_name(const g4g_device *dev) { return "none"; }
void g4g_memory(const g4g_device *dev, size_t *free_bytes, size_t *total_bytes) { *free_bytes = *total_bytes = 0; }
double g4g_peak_bandwidth(const g4g_device *dev) { return 0.0; }
const char *g4g_error(const g4g_device *dev) { return "no GPU backend"; }
void g4g_clear_error(g4g_device *dev) {}

void *g4g_alloc(g4g_device *dev, size_t bytes) { return NULL; }
void g4g_free(g4g_device *dev, void *p) {}
void *g4g_host_alloc(g4g_device *dev, size_t bytes) { return NULL; }
void g4g_host_free(g4g_device *dev, void *p) {}
int g4g_upload(g4g_device *dev, void *dst, const void *host_src, size_t bytes) { return -1; }
void g4g_upload_async(g4g_device *dev, void *dst, const void *host_src, size_t bytes) {}
int g4g_download(g4g_device *dev, void *host_dst, const void *src, size_t bytes) { return -1; }
void g4g_copy(g4g_device *dev, void *dst, const void *src, size_t bytes) {}
void g4g_zero(g4g_device *dev, void *dst, size_t bytes) {}
int g4g_sync(g4g_device *dev) { return -1; }

int g4g_graph_begin(g4g_device *dev) { return -1; }
int g4g_graph_end(g4g_device *dev, g4g_graph **out) { *out = NULL; return -1; }
void g4g_graph_launch(g4g_device *dev, g4g_graph *graph) {}
void g4g_graph_free(g4g_graph *graph) {}

bool g4g_supports(enum g4_type type) { return false; }

void g4g_matmul(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y) {}
void g4g_matmul_experts(g4g_device *dev, const g4k_matrix *w0, size_t expert_stride, const int32_t *ids,
                        int n_pairs, const float *x, int x_div, float *y) {}
void g4g_rmsnorm(g4g_device *dev, float *y, const float *x, const float *w, int dim, int n_rows, float eps) {}
void g4g_norm_add(g4g_device *dev, float *x, const float *o, const float *w, int dim, int n_rows, float eps) {}
void g4g_norm_rope(g4g_device *dev, float *x, int n_tok, int n_heads, int d, const float *w, float eps,
                   const float *freq, const int32_t *pos) {}
void g4g_kv_store(g4g_device *dev, float *const *k_cache, float *const *v_cache, const float *k, const float *v,
                  int n_tok, int kv_dim, const int32_t *seq, const int32_t *pos, int ring) {}
void g4g_attention(g4g_device *dev, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                   const float *const *k_cache, const float *const *v_cache, const int32_t *seq,
                   const int32_t *pos, int window, int ring, void *scratch, size_t scratch_bytes) {}
size_t g4g_attention_scratch_size(int n_tok, int nq, int d, int max_span) { return 0; }
void g4g_gelu_mul(g4g_device *dev, float *out, int out_stride, const float *g, int g_stride, const float *u,
                  int u_stride, int n_rows, int dim) {}
void g4g_add(g4g_device *dev, float *y, const float *x, int64_t n) {}
void g4g_scale(g4g_device *dev, float *y, float s, int64_t n) {}
void g4g_softcap(g4g_device *dev, float *x, int64_t n, float cap) {}
void g4g_embed(g4g_device *dev, const g4k_matrix *table, const int32_t *ids, int n, float scale, float *out) {}
void g4g_ple_combine(g4g_device *dev, float *p, const float *e, float e_scale, float out_scale, int64_t n) {}
void g4g_gather_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows, int n, int dim) {}
void g4g_scatter_add_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows,
                          const float *weight, int n, int dim) {}
void g4g_moe_route(g4g_device *dev, const float *logits, int n_tok, int n_experts, int k,
                   const float *expert_scale, int32_t *ids, float *weights) {}
void g4g_moe_combine(g4g_device *dev, float *out, const float *y, const float *w, int n_tok, int k, int dim) {}
void g4g_top_k(g4g_device *dev, const float *x, int n_rows, int n, int k, int32_t *ids, float *vals) {}
