/* ops.c: the CPU's elementwise, normalisation, rotary and attention ops.
 * Attention spreads its (token, head) pairs over the pool's threads. */
#include "backend.h"
#include "pool.h"

#include <math.h>

void g4k_rmsnorm(float *y, const float *x, const float *w, int dim, int n_rows, float eps) {
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double sum = 0.0;
        for (int i = 0; i < dim; i++) sum += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(sum / dim + eps));
        if (w)
            for (int i = 0; i < dim; i++) yr[i] = xr[i] * inv * w[i];
        else
            for (int i = 0; i < dim; i++) yr[i] = xr[i] * inv;
    }
}

void g4k_rope(float *x, int n_heads, int d, const float *freq, int pos) {
    int half = d / 2;
    for (int i = 0; i < half; i++) {
        if (freq[i] == 0.0f) continue; /* identity pair (proportional RoPE tail) */
        double theta = (double)pos * freq[i];
        float c = (float)cos(theta), s = (float)sin(theta);
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + (size_t)h * d;
            float a = xh[i], b = xh[i + half];
            xh[i] = a * c - b * s;
            xh[i + half] = b * c + a * s;
        }
    }
}

void g4k_gelu_mul(float *g, const float *u, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * u[i];
    }
}

void g4k_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void g4k_scale(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

void g4k_softcap(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

/* One head of one token: oh = sum_j softmax_j(qh.k_j) v_j over positions first..last,
 * reading head slot `off` of each row of k and v (row floats apart). */
static void attend(float *oh, const float *qh, int d, const float *k, const float *v, size_t row, size_t off,
                   int ring, int first, int last, float *scratch) {
    int n = last - first + 1;
    float max = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)((first + j) % ring) * row + off;
        float s = 0.0f;
        for (int i = 0; i < d; i++) s += qh[i] * kj[i];
        scratch[j] = s;
        if (s > max) max = s;
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        scratch[j] = expf(scratch[j] - max);
        sum += scratch[j];
    }
    for (int i = 0; i < d; i++) oh[i] = 0.0f;
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)((first + j) % ring) * row + off;
        float p = scratch[j] / sum;
        for (int i = 0; i < d; i++) oh[i] += p * vj[i];
    }
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
