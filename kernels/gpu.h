/* gpu.h: the GPU backend: one device, its memory, and the ops of the forward
 * pass on device memory. kernels/cuda implements it with CUDA; kernels/hip builds
 * the same sources with HIP. A build without either links kernels/gpu_none.c,
 * where no device exists and g4g_open says why.
 *
 * Every op is enqueued, in call order, on the device's one stream and returns at
 * once; pointers are device pointers unless named host_*. g4g_sync waits for the
 * stream. A failure inside an op (a launch error, an unsupported weight type) is
 * recorded and kept: g4g_error returns the first one, and later ops still
 * enqueue. Results match the CPU backend (kernels/backend.h) to float rounding:
 * every reduction accumulates in f32. */
#ifndef G4_GPU_H
#define G4_GPU_H

#include "backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct g4g_device g4g_device;
typedef struct g4g_graph g4g_graph;

/* ---- the device ---------------------------------------------------------------- */

/* GPUs this build can use (0 without a backend, without a driver, or none present). */
int g4g_device_count(void);
/* "CUDA", "HIP", or "none": what this build was compiled with. */
const char *g4g_backend_name(void);
/* Opens device `index`: a stream, and (CUDA) a cuBLAS handle. NULL with the reason
 * in err (err_len bytes) when it cannot. */
g4g_device *g4g_open(int index, char *err, size_t err_len);
void g4g_close(g4g_device *dev);
/* "NVIDIA H200 (sm_90, 139.8 GiB)" */
const char *g4g_name(const g4g_device *dev);
/* Free and total device memory in bytes. */
void g4g_memory(const g4g_device *dev, size_t *free_bytes, size_t *total_bytes);
/* Peak memory bandwidth in bytes/s from the device's clock and bus width (0 when
 * the runtime does not report them). */
double g4g_peak_bandwidth(const g4g_device *dev);

/* The first error since g4g_open (or g4g_clear_error), or NULL. */
const char *g4g_error(const g4g_device *dev);
void g4g_clear_error(g4g_device *dev);

/* ---- memory -------------------------------------------------------------------- */

/* Device memory, 256-byte aligned; NULL (error recorded) when it runs out. */
void *g4g_alloc(g4g_device *dev, size_t bytes);
void g4g_free(g4g_device *dev, void *p);
/* Page-locked host memory, for buffers copied every step (and inside graphs). */
void *g4g_host_alloc(g4g_device *dev, size_t bytes);
void g4g_host_free(g4g_device *dev, void *p);

/* Copies host → device and returns when host_src may be reused. 0, or -1 (error recorded). */
int g4g_upload(g4g_device *dev, void *dst, const void *host_src, size_t bytes);
/* Enqueues a copy host → device from page-locked host memory (g4g_host_alloc) that
 * must keep its contents until the stream reaches the copy. Graph-safe. */
void g4g_upload_async(g4g_device *dev, void *dst, const void *host_src, size_t bytes);
/* Waits for the stream, then copies device → host. 0, or -1 (error recorded). */
int g4g_download(g4g_device *dev, void *host_dst, const void *src, size_t bytes);
/* Enqueues a device → device copy, and a fill with zero bytes. */
void g4g_copy(g4g_device *dev, void *dst, const void *src, size_t bytes);
void g4g_zero(g4g_device *dev, void *dst, size_t bytes);
/* Waits for every op enqueued so far. 0, or -1 when any failed (g4g_error says which). */
int g4g_sync(g4g_device *dev);

/* ---- graphs: a recorded sequence of ops, replayed with one launch ------------------
 * Between begin and end, ops are recorded instead of run. A replay reads whatever
 * the recorded buffers hold at that time (so per-step inputs such as token ids and
 * positions must live in fixed device buffers, filled by g4g_upload_async inside
 * the recording). Ops that wait for the host (g4g_download, g4g_sync, g4g_upload)
 * are not allowed while recording. */
int g4g_graph_begin(g4g_device *dev);
/* Ends the recording; *out gets the graph (NULL and -1 when recording failed). */
int g4g_graph_end(g4g_device *dev, g4g_graph **out);
void g4g_graph_launch(g4g_device *dev, g4g_graph *graph);
void g4g_graph_free(g4g_graph *graph);

/* ---- weights ------------------------------------------------------------------- */

/* Whether matmuls take weights of this type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q2_K .. Q6_K; not the CPU's repacked layouts: upload those as plain Q8_0). */
bool g4g_supports(enum g4_type type);

/* ---- ops ----------------------------------------------------------------------- */

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok; w->data is device memory. x is
 * [n_tok][n_in], y [n_tok][n_out], both f32. Few tokens: matrix-vector kernels
 * that read each weight once for all of them; more: tiled matrix products
 * (CUDA: cuBLAS on dequantized tiles; HIP: our own tiled kernel). */
void g4g_matmul(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y);

/* Expert products for few tokens (decode): for pair p < n_pairs,
 * y[p] = W_e · x[p / x_div] with e = ids[p] and W_e = the matrix *w0 (expert 0)
 * moved by e * expert_stride bytes. y is [n_pairs][n_out]. */
void g4g_matmul_experts(g4g_device *dev, const g4k_matrix *w0, size_t expert_stride, const int32_t *ids,
                        int n_pairs, const float *x, int x_div, float *y);

/* Row-wise RMSNorm of n_rows vectors of length dim: y = x / sqrt(mean(x^2) + eps) * w
 * (w may be NULL: no weight). y may alias x. */
void g4g_rmsnorm(g4g_device *dev, float *y, const float *x, const float *w, int dim, int n_rows, float eps);

/* x += RMSNorm(o; w): the residual update after a block. */
void g4g_norm_add(g4g_device *dev, float *x, const float *o, const float *w, int dim, int n_rows, float eps);

/* Per head, in place, for x [n_tok][n_heads * d]: RMSNorm over the head's d values
 * (weight w, or none when NULL), then (when freq is not NULL) the NeoX rotation of
 * pair (i, i + d/2) by angle pos[t] * freq[i] (i < d/2), as g4k_rope. pos is device memory. */
void g4g_norm_rope(g4g_device *dev, float *x, int n_tok, int n_heads, int d, const float *w, float eps,
                   const float *freq, const int32_t *pos);

/* Writes K and V rows [n_tok][kv_dim] into the caches: token t's rows go to slot
 * pos[t] % ring of k_cache[seq[t]] and v_cache[seq[t]] (device arrays of device
 * pointers, one per sequence; each cache is [ring][kv_dim]). */
void g4g_kv_store(g4g_device *dev, float *const *k_cache, float *const *v_cache, const float *k, const float *v,
                  int n_tok, int kv_dim, const int32_t *seq, const int32_t *pos, int ring);

/* Attention (scale 1.0) of n_tok query tokens over the caches, as g4k_attention:
 * token t, head h attends to positions first..pos[t] of sequence seq[t], where
 * first = max(0, pos[t] - window + 1) (window 0: from position 0), reading position
 * j from slot j % ring of k_cache[seq[t]] / v_cache[seq[t]], kv head h / (nq / nkv).
 * q and out are [n_tok][nq * d]; d is 256 or 512 for Gemma 4 (any size up to 512
 * works; the test models have 16 and 32). scratch holds g4g_attention_scratch_size(n_tok, nq, d, max_span)
 * bytes, where no span is longer than max_span keys. The launch shape depends only
 * on the arguments, never on the positions, so a graph can replay it. */
void g4g_attention(g4g_device *dev, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                   const float *const *k_cache, const float *const *v_cache, const int32_t *seq,
                   const int32_t *pos, int window, int ring, void *scratch, size_t scratch_bytes);
size_t g4g_attention_scratch_size(int n_tok, int nq, int d, int max_span);

/* out[r][i] = gelu_tanh(g[r][i]) * u[r][i] for r < n_rows, i < dim, where row r of
 * out, g and u starts at r * out_stride, r * g_stride, r * u_stride floats. out may
 * alias g. (The dense MLP, the fused expert gate/up layout, and the per-layer inputs.) */
void g4g_gelu_mul(g4g_device *dev, float *out, int out_stride, const float *g, int g_stride, const float *u,
                  int u_stride, int n_rows, int dim);

/* y[i] += x[i];  y[i] *= s;  x[i] = cap * tanh(x[i] / cap) */
void g4g_add(g4g_device *dev, float *y, const float *x, int64_t n);
void g4g_scale(g4g_device *dev, float *y, float s, int64_t n);
void g4g_softcap(g4g_device *dev, float *x, int64_t n, float cap);

/* out[t] = row ids[t] of the table (any matmul type), dequantized, times scale. */
void g4g_embed(g4g_device *dev, const g4k_matrix *table, const int32_t *ids, int n, float scale, float *out);

/* The per-layer inputs' last step (§2.3): p[i] = (p[i] + e[i] * e_scale) * out_scale
 * over n values. */
void g4g_ple_combine(g4g_device *dev, float *p, const float *e, float e_scale, float out_scale, int64_t n);

/* dst[i] = src[rows[i]] for i < n (rows of dim floats). */
void g4g_gather_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows, int n, int dim);
/* dst[rows[i]] += weight[i] * src[i] for i < n; rows must not repeat within a call. */
void g4g_scatter_add_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows,
                          const float *weight, int n, int dim);

/* MoE routing (§2.6): for each of n_tok router logit rows [E], the k largest (ties
 * to the lower index, as the CPU), ids[t][j] in descending order, and weights
 * w[t][j] = softmax over the chosen logits * expert_scale[id]. */
void g4g_moe_route(g4g_device *dev, const float *logits, int n_tok, int n_experts, int k,
                   const float *expert_scale, int32_t *ids, float *weights);
/* out[t] = sum_j w[t][j] * y[t * k + j] for t < n_tok (rows of dim floats). */
void g4g_moe_combine(g4g_device *dev, float *out, const float *y, const float *w, int n_tok, int k, int dim);

/* For each of n_rows rows of x [n_rows][n]: the k largest values (k <= 256) in
 * descending order (ties to the lower index) and their indices. k = 1 is argmax. */
void g4g_top_k(g4g_device *dev, const float *x, int n_rows, int n, int k, int32_t *ids, float *vals);

#ifdef __cplusplus
}
#endif

#endif
