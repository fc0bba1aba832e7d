/* backend.h: the compute ops the forward pass calls, in order, on activations in
 * f32. Each backend (cpu/, later cuda/ and hip/) implements every function here;
 * one that lacks an op fails to link. The ops know nothing of models or caches.
 * The heavy ops (matmul, attention) take the thread pool they may spread over. */
#ifndef G4_BACKEND_H
#define G4_BACKEND_H

#include "model/tensor.h"

#include <stddef.h>
#include <stdint.h>

/* A weight matrix of n_out rows, each n_in elements of `type` (n_in is the
 * GGUF ne[0]); row r starts at data + r * row_bytes. */
typedef struct {
    enum g4_type type;
    int64_t n_in, n_out;
    size_t row_bytes;
    const void *data;
} g4k_matrix;

/* Longest matrix row (n_in) the kernels accept; the loader rejects longer ones. */
#define G4K_MAX_ROW 65536

/* Layouts faster for the matmul than the file's, which the loader may copy a
 * weight matrix into once (kernels/cpu/repack.c). Today: Q8_0 matrices of a
 * multiple of 16 rows become Q8_0_R16 (16 rows interleaved) where the CPU has
 * its AVX-512 kernel. g4k_repacked_size gives the bytes of the copy (the same
 * as the original's), 0 when w has no faster layout here. */
size_t g4k_repacked_size(const g4k_matrix *w);

/* Writes the copy of w into dst (g4k_repacked_size bytes, 64-byte aligned) and
 * returns the matrix that reads it: the same products, to the 1e-5 bound of
 * the dot kernels. */
g4k_matrix g4k_repack(const g4k_matrix *w, void *dst);

/* A pool of CPU threads, started once (per context) and kept for its lifetime.
 * An op given a pool runs on all its threads, the calling thread included; the
 * results do not depend on the number of threads, to the bit. A NULL pool or one
 * of a single thread runs the op on the calling thread alone. One thread at a
 * time may call ops with a given pool. */
typedef struct g4k_pool g4k_pool;

/* Starts n_threads - 1 worker threads (n_threads < 1 counts as 1); NULL if the
 * system refuses one. */
g4k_pool *g4k_pool_new(int n_threads);
void g4k_pool_free(g4k_pool *pool);
/* Threads that run an op: the workers plus the caller (1 for NULL). */
int g4k_pool_size(const g4k_pool *pool);

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok. x is [n_tok][n_in], y [n_tok][n_out]. */
void g4k_matmul(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y);

/* Row-wise RMSNorm of n_rows vectors of length dim (w may be NULL: no weight):
 * y = x / sqrt(mean(x^2) + eps) * w. y may alias x. */
void g4k_rmsnorm(g4k_pool *pool, float *y, const float *x, const float *w, int dim, int n_rows, float eps);

/* NeoX (half-split) rotary embedding of n_heads vectors of length d, in place,
 * at position pos; freq[i] (i < d/2) is the angle per position of pair (i, i+d/2). */
void g4k_rope(float *x, int n_heads, int d, const float *freq, int pos);

/* g[i] = gelu_tanh(g[i]) * u[i]. */
void g4k_gelu_mul(g4k_pool *pool, float *g, const float *u, int64_t n);

/* y[i] += x[i] */
void g4k_add(float *y, const float *x, int64_t n);
/* y[i] *= s */
void g4k_scale(float *y, float s, int64_t n);
/* x[i] = cap * tanh(x[i] / cap) */
void g4k_softcap(float *x, int64_t n, float cap);

/* The keys one query token attends to: positions first..last of a ring of cached
 * keys and values, where position j lives in row (j % ring) of k and of v, each
 * row nkv*d floats. */
typedef struct {
    const float *k, *v;
    int first, last;
} g4k_kv_span;

/* Attention of n_tok query tokens (scale 1.0): for token t and head h,
 * out[t][h] = sum_j softmax_j(q[t][h].k[g(h)][j]) v[g(h)][j] over j in span[t],
 * with g(h) = h / (nq / nkv). q and out are [n_tok][nq*d]. scratch holds
 * scratch_len >= g4k_attention_scratch_size(g4k_pool_size(pool), n_tok, nq, d, S)
 * floats, where no span is longer than S keys. A token's result does not depend on
 * the other tokens of the batch. */
void g4k_attention(g4k_pool *pool, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                   const g4k_kv_span *span, int ring, float *scratch, size_t scratch_len);
size_t g4k_attention_scratch_size(int n_threads, int n_tok, int nq, int d, int max_span);

#endif
