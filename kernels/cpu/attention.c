/* attention.c: causal attention of a batch of query tokens over the KV rings.
 * Each (token, head) pair is one task for the pool: scores q.k_j for the keys in
 * the token's span, softmax, and the weighted sum of the values.
 *
 * The dot products and the value sums run over LANES independent partial sums
 * (one vector register wide), which the compiler vectorises without reordering
 * anything: every pair is computed the same way whatever the batch, the span or
 * the thread, so batched prompts agree with token-by-token decoding to the bit. */
#include "backend.h"
#include "pool.h"

#include <math.h>

#define LANES 16

/* sum_i a[i] * b[i] in LANES partial sums (element i in sum i % LANES), added pairwise. */
static inline float dot_lanes(const float *a, const float *b, int d) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= d; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i + l < d; l++) acc[l] += a[i + l] * b[i + l];
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

/* y[i] += a * x[i] */
static inline void axpy(float *restrict y, float a, const float *restrict x, int d) {
    for (int i = 0; i < d; i++) y[i] += a * x[i];
}

/* One head of one token: oh = sum_j softmax_j(qh.k_j) v_j over positions first..last,
 * reading head slot `off` of each row of k and v (row floats apart). */
static void attend(float *oh, const float *qh, int d, const float *k, const float *v, size_t row, size_t off,
                   int ring, int first, int last, float *scores) {
    int n = last - first + 1;
    float max = -INFINITY;
    for (int j = 0; j < n; j++) {
        float s = dot_lanes(qh, k + (size_t)((first + j) % ring) * row + off, d);
        scores[j] = s;
        if (s > max) max = s;
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    for (int i = 0; i < d; i++) oh[i] = 0.0f;
    for (int j = 0; j < n; j++) axpy(oh, scores[j] / sum, v + (size_t)((first + j) % ring) * row + off, d);
}

typedef struct {
    float *out;
    const float *q;
    int nq, nkv, d, ring;
    const g4k_kv_span *span;
    float *scratch;
    size_t scratch_len;
} attention_job;

/* Task t * nq + h: head h of token t, with the running thread's scratch row. */
static void attention_task(void *arg, int task, int thread) {
    const attention_job *j = arg;
    int t = task / j->nq, h = task % j->nq, g = h / (j->nq / j->nkv);
    size_t at = ((size_t)t * j->nq + h) * j->d;
    const g4k_kv_span *s = &j->span[t];
    attend(j->out + at, j->q + at, j->d, s->k, s->v, (size_t)j->nkv * j->d, (size_t)g * j->d, j->ring, s->first,
           s->last, j->scratch + (size_t)thread * j->scratch_len);
}

/* Below this many multiply-adds in all, attention stays on the calling thread. */
#define MIN_PARALLEL_MACS (1 << 15)

void g4k_attention(g4k_pool *pool, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                   const g4k_kv_span *span, int ring, float *scratch, size_t scratch_len) {
    attention_job job = {.out = out, .q = q, .nq = nq, .nkv = nkv, .d = d, .ring = ring, .span = span,
                         .scratch = scratch, .scratch_len = scratch_len};
    int64_t keys = 0;
    for (int t = 0; t < n_tok; t++) keys += span[t].last - span[t].first + 1;
    if (keys * nq * d * 2 < MIN_PARALLEL_MACS) pool = NULL;
    g4k_pool_run(pool, n_tok * nq, attention_task, &job);
}
