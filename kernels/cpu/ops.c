/* ops.c: the CPU's elementwise, normalisation and rotary ops. */
#include "backend.h"
#include "pool.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float f32x4 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));

/* sum of x[i]^2 in double, in 4 lanes (element i in lane i % 4), added pairwise. */
static double sum_squares(const float *x, int n) {
    f64x4 acc = {0};
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        f32x4 v;
        memcpy(&v, x + i, sizeof v);
        f64x4 d = __builtin_convertvector(v, f64x4);
        acc += d * d;
    }
    for (int l = 0; i < n; i++, l++) acc[l] += (double)x[i] * x[i];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

static void rmsnorm_rows(float *y, const float *x, const float *w, int dim, int r0, int r1, float eps) {
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        float inv = (float)(1.0 / sqrt(sum_squares(xr, dim) / dim + eps));
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

/* ---- tanh, eight at a time ----------------------------------------------------------
 * tanh|x| = (1 - e) / (1 + e) with e = exp(-2|x|); exp by range reduction
 * (x = n ln2 + r, |r| <= ln2 / 2, n rounded by the 1.5 * 2^23 trick) and the Taylor
 * polynomial of degree 7 (relative error < 1e-8). Written with the compiler's
 * vector extensions, so it is vector code on any target. The absolute error of
 * tanh is a few 1e-8 against glibc's tanhf. */

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

static inline f32x8 splat(float v) {
    return (f32x8){v, v, v, v, v, v, v, v};
}

/* exp(x) for x <= 0 (below -87 counts as -87: the result underflows anyway). */
static inline f32x8 exp_nonpositive8(f32x8 x) {
    i32x8 low = x < splat(-87.0f);
    x = (f32x8)((low & (i32x8)splat(-87.0f)) | (~low & (i32x8)x));
    f32x8 n = (x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f);
    f32x8 r = (x - n * splat(0.693145751953125f)) - n * splat(1.42860682030941723e-6f); /* ln2 in two parts */
    f32x8 p = splat(1.0f / 5040);
    p = p * r + splat(1.0f / 720);
    p = p * r + splat(1.0f / 120);
    p = p * r + splat(1.0f / 24);
    p = p * r + splat(1.0f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    i32x8 scale = (__builtin_convertvector(n, i32x8) + 127) << 23;
    return p * (f32x8)scale;
}

static inline f32x8 tanh8(f32x8 x) {
    const i32x8 sign = (i32x8)x & (int32_t)0x80000000;
    const f32x8 a = (f32x8)((i32x8)x ^ sign), e = exp_nonpositive8(splat(-2.0f) * a);
    return (f32x8)((i32x8)((splat(1.0f) - e) / (splat(1.0f) + e)) | sign);
}

static inline f32x8 load8(const float *p) {
    f32x8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store8(float *p, f32x8 v) {
    memcpy(p, &v, sizeof v);
}

static inline f32x8 gelu_mul8(f32x8 x, f32x8 u) {
    const f32x8 k = splat(0.7978845608028654f); /* sqrt(2/pi) */
    return splat(0.5f) * x * (splat(1.0f) + tanh8(k * (x + splat(0.044715f) * x * x * x))) * u;
}

static void gelu_mul_range(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(g + i, gelu_mul8(load8(g + i), load8(u + i)));
    if (i < n) { /* the tail through zero-padded copies */
        float gt[8] = {0}, ut[8] = {0};
        memcpy(gt, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(ut, u + i, (size_t)(n - i) * sizeof(float));
        store8(gt, gelu_mul8(load8(gt), load8(ut)));
        memcpy(g + i, gt, (size_t)(n - i) * sizeof(float));
    }
}

/* ---- spread over the pool ------------------------------------------------------------
 * Large calls are cut into tasks of about TASK_ELEMS elements (whole rows for the
 * norm); every element is computed the same way whatever the cut. */

#define TASK_ELEMS 16384

typedef struct {
    float *y;
    const float *x, *w;
    int dim, n_rows, rows_per_task;
    float eps;
    int64_t n;
} elementwise_job;

static void rmsnorm_task(void *arg, int task, int thread) {
    (void)thread;
    const elementwise_job *j = arg;
    const int r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task < j->n_rows ? r0 + j->rows_per_task : j->n_rows;
    rmsnorm_rows(j->y, j->x, j->w, j->dim, r0, r1, j->eps);
}

void g4k_rmsnorm(g4k_pool *pool, float *y, const float *x, const float *w, int dim, int n_rows, float eps) {
    elementwise_job job = {.y = y, .x = x, .w = w, .dim = dim, .n_rows = n_rows, .eps = eps,
                           .rows_per_task = TASK_ELEMS / (dim > 0 ? dim : 1) + 1};
    g4k_pool_run(pool, (n_rows + job.rows_per_task - 1) / job.rows_per_task, rmsnorm_task, &job);
}

static void gelu_mul_task(void *arg, int task, int thread) {
    (void)thread;
    const elementwise_job *j = arg;
    const int64_t i = (int64_t)task * TASK_ELEMS, n = j->n - i < TASK_ELEMS ? j->n - i : TASK_ELEMS;
    gelu_mul_range(j->y + i, j->x + i, n);
}

void g4k_gelu_mul(g4k_pool *pool, float *g, const float *u, int64_t n) {
    elementwise_job job = {.y = g, .x = u, .n = n};
    g4k_pool_run(pool, (int)((n + TASK_ELEMS - 1) / TASK_ELEMS), gelu_mul_task, &job);
}

void g4k_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void g4k_scale(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

void g4k_softcap(float *x, int64_t n, float cap) {
    const f32x8 c = splat(cap);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(x + i, c * tanh8(load8(x + i) / c));
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        store8(t, c * tanh8(load8(t) / c));
        memcpy(x + i, t, (size_t)(n - i) * sizeof(float));
    }
}
