/* ops.c: the CPU's elementwise, normalisation, rotary and attention ops. */
#include "backend.h"

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

void g4k_attention(float *out, const float *q, int nq, int nkv, int d,
                   const float *k, const float *v, int ring, int first, int last,
                   float *scratch) {
    int group = nq / nkv, n = last - first + 1;
    size_t row = (size_t)nkv * d;
    for (int h = 0; h < nq; h++) {
        const float *qh = q + (size_t)h * d;
        int g = h / group;
        float max = -INFINITY;
        for (int j = 0; j < n; j++) {
            const float *kj = k + (size_t)((first + j) % ring) * row + (size_t)g * d;
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
        float *oh = out + (size_t)h * d;
        for (int i = 0; i < d; i++) oh[i] = 0.0f;
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)((first + j) % ring) * row + (size_t)g * d;
            float p = scratch[j] / sum;
            for (int i = 0; i < d; i++) oh[i] += p * vj[i];
        }
    }
}
