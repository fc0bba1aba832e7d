/* backend.h: the compute ops the forward pass calls, in order, on activations in
 * f32. Each backend (cpu/, later cuda/ and hip/) implements every function here;
 * one that lacks an op fails to link. The ops know nothing of models or caches. */
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

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok. x is [n_tok][n_in], y [n_tok][n_out]. */
void g4k_matmul(const g4k_matrix *w, const float *x, int n_tok, float *y);

/* Row-wise RMSNorm of n_rows vectors of length dim (w may be NULL: no weight):
 * y = x / sqrt(mean(x^2) + eps) * w. y may alias x. */
void g4k_rmsnorm(float *y, const float *x, const float *w, int dim, int n_rows, float eps);

/* NeoX (half-split) rotary embedding of n_heads vectors of length d, in place,
 * at position pos; freq[i] (i < d/2) is the angle per position of pair (i, i+d/2). */
void g4k_rope(float *x, int n_heads, int d, const float *freq, int pos);

/* g[i] = gelu_tanh(g[i]) * u[i]. */
void g4k_gelu_mul(float *g, const float *u, int64_t n);

/* y[i] += x[i] */
void g4k_add(float *y, const float *x, int64_t n);
/* y[i] *= s */
void g4k_scale(float *y, float s, int64_t n);
/* x[i] = cap * tanh(x[i] / cap) */
void g4k_softcap(float *x, int64_t n, float cap);

/* Attention of one query token (scale 1.0): out[h] = sum_j softmax_j(q[h].k[g(h)][j]) v[g(h)][j]
 * over key positions j = first..last, with g(h) = h / (nq / nkv). The key of
 * position j lives in row (j % ring) of k and v, each row nkv*d floats.
 * scratch holds at least last-first+1 floats. */
void g4k_attention(float *out, const float *q, int nq, int nkv, int d,
                   const float *k, const float *v, int ring, int first, int last,
                   float *scratch);

#endif
