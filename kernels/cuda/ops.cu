/* ops.cu: the element-wise and row ops of the forward pass on the GPU: RMSNorm
 * (alone, added to the residual, or per head with the rotary embedding), the
 * gated GELU, add / scale / softcap, the per-layer inputs' combine, row gathers
 * and scatters, and the KV cache store.
 *
 * Each mirrors kernels/cpu/ops.c (or the loop of engine/model/gemma4.c it
 * replaces) operation by operation, in the same order and with the same
 * roundings: the _rn intrinsics keep nvcc from fusing a multiply and an add the
 * CPU rounds separately, tanh is the CPU's own polynomial, and the rotary angle
 * is formed and its cosine and sine taken in double as g4k_rope does. The norms
 * sum squares in f32 (a block-wide tree), where the CPU sums in double: they
 * agree to float rounding. */
#include "device.cuh"

#include <math.h>

#define ROW_THREADS 256        /* threads of a row reduction (rows up to G4K_MAX_ROW) */
#define HEAD_THREADS 128       /* threads of a (token, head) of norm_rope */
#define FLAT_THREADS 256       /* threads of an element-wise kernel */
#define FLAT_MAX_BLOCKS 65536  /* grid-stride loops beyond this many blocks */

/* Blocks of a grid-stride loop over n items. */
static unsigned flat_blocks(long long n) {
    const unsigned b = g4g_blocks(n, FLAT_THREADS);
    return b < FLAT_MAX_BLOCKS ? b : FLAT_MAX_BLOCKS;
}

/* ---- block-wide sum ---------------------------------------------------------------
 * Every thread of the block gets the sum of v over the block. blockDim.x is a
 * multiple of 32 and at most 1024; partial holds 32 floats. The order of the sum
 * is fixed by the block size, so results do not vary from run to run. */
static __device__ float block_sum(float v, float *partial) {
    for (int o = G4G_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
    const int lane = threadIdx.x % G4G_WARP, warp = threadIdx.x / G4G_WARP, n_warps = blockDim.x / G4G_WARP;
    __syncthreads(); /* partial may still be read from a previous call */
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < n_warps ? partial[lane] : 0.0f;
    for (int o = G4G_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
    return v;
}

/* 1 / sqrt(mean + eps) as the CPU forms it: the mean and the root in double. */
static __device__ float inverse_rms(float sum_squares, int dim, float eps) {
    return (float)(1.0 / sqrt((double)sum_squares / dim + (double)eps));
}

/* ---- tanh as kernels/cpu/ops.c computes it ----------------------------------------
 * tanh|x| = (1 - e) / (1 + e), e = exp(-2|x|), exp by range reduction and a degree-7
 * Taylor polynomial: the same operations in the same order as exp_nonpositive8
 * and tanh8, each rounded on its own. */
static __device__ float cpu_exp_nonpositive(float x) {
    if (x < -87.0f) x = -87.0f;
    const float n = __fsub_rn(__fadd_rn(__fmul_rn(x, 1.44269504088896341f), 12582912.0f), 12582912.0f);
    const float r = __fsub_rn(__fsub_rn(x, __fmul_rn(n, 0.693145751953125f)), __fmul_rn(n, 1.42860682030941723e-6f));
    float p = 1.0f / 5040;
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 720);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 120);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 24);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f / 6);
    p = __fadd_rn(__fmul_rn(p, r), 0.5f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f);
    p = __fadd_rn(__fmul_rn(p, r), 1.0f);
    return __fmul_rn(p, __int_as_float(((int)n + 127) << 23));
}

static __device__ float cpu_tanh(float x) {
    const int sign = __float_as_int(x) & (int)0x80000000;
    const float a = __int_as_float(__float_as_int(x) ^ sign);
    const float e = cpu_exp_nonpositive(__fmul_rn(-2.0f, a));
    return __int_as_float(__float_as_int(__fdiv_rn(__fsub_rn(1.0f, e), __fadd_rn(1.0f, e))) | sign);
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) u, as gelu_mul8. */
static __device__ float cpu_gelu_mul(float x, float u) {
    const float cube = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, x), x), x);
    const float t = cpu_tanh(__fmul_rn(0.7978845608028654f, __fadd_rn(x, cube)));
    return __fmul_rn(__fmul_rn(__fmul_rn(0.5f, x), __fadd_rn(1.0f, t)), u);
}

/* ---- RMSNorm ---------------------------------------------------------------------
 * One block per row: the block sums the row's squares, then each thread scales
 * the elements it summed. With add, the normed row is added to y (norm_add). x
 * and y may be the same row: every element is read before it is written, by the
 * thread that writes it. */
static __global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int dim, float eps, bool add) {
    __shared__ float partial[32];
    const size_t row = (size_t)blockIdx.x * dim;
    const float *xr = x + row;
    float *yr = y + row;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
    const float inv = inverse_rms(block_sum(ss, partial), dim, eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = __fmul_rn(xr[i], inv);
        if (w) v = __fmul_rn(v, w[i]);
        yr[i] = add ? __fadd_rn(yr[i], v) : v;
    }
}

static void launch_rmsnorm(g4g_device *dev, float *y, const float *x, const float *w, int dim, int n_rows, float eps,
                           bool add, const char *what) {
    if (n_rows <= 0 || dim <= 0 || !g4g_use(dev)) return;
    rmsnorm_kernel<<<n_rows, ROW_THREADS, 0, dev->stream>>>(y, x, w, dim, eps, add);
    G4G_LAUNCHED(dev, what);
}

extern "C" void g4g_rmsnorm(g4g_device *dev, float *y, const float *x, const float *w, int dim, int n_rows, float eps) {
    launch_rmsnorm(dev, y, x, w, dim, n_rows, eps, false, "rmsnorm");
}

extern "C" void g4g_norm_add(g4g_device *dev, float *x, const float *o, const float *w, int dim, int n_rows, float eps) {
    launch_rmsnorm(dev, x, o, w, dim, n_rows, eps, true, "norm_add");
}

/* ---- per-head RMSNorm and rotary embedding -----------------------------------------
 * One block per (token, head): blockIdx.x = t * n_heads + h. A thread takes pairs
 * (i, i + d/2), sums their squares for the head's norm, then writes them normed
 * (rounded, as the CPU stores them) and rotated by pos[t] * freq[i], the angle and
 * its cosine and sine in double, as g4k_rope. Pairs with freq 0 are not rotated.
 * An odd last element (d odd, only without freq) is normed by thread 0. */
static __global__ void norm_rope_kernel(float *x, int n_heads, int d, const float *w, float eps, const float *freq,
                                        const int32_t *pos) {
    __shared__ float partial[32];
    const int t = blockIdx.x / n_heads, half = d / 2;
    float *xh = x + (size_t)blockIdx.x * d;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < half; i += blockDim.x) ss += xh[i] * xh[i] + xh[i + half] * xh[i + half];
    if ((d & 1) && threadIdx.x == 0) ss += xh[d - 1] * xh[d - 1];
    const float inv = inverse_rms(block_sum(ss, partial), d, eps);
    const double p = freq ? (double)pos[t] : 0.0;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float a = __fmul_rn(xh[i], inv), b = __fmul_rn(xh[i + half], inv);
        if (w) a = __fmul_rn(a, w[i]), b = __fmul_rn(b, w[i + half]);
        if (freq && freq[i] != 0.0f) {
            double s, c;
            sincos(p * (double)freq[i], &s, &c);
            const float cf = (float)c, sf = (float)s;
            const float ra = __fsub_rn(__fmul_rn(a, cf), __fmul_rn(b, sf));
            const float rb = __fadd_rn(__fmul_rn(b, cf), __fmul_rn(a, sf));
            a = ra, b = rb;
        }
        xh[i] = a;
        xh[i + half] = b;
    }
    if ((d & 1) && threadIdx.x == 0) xh[d - 1] = w ? __fmul_rn(__fmul_rn(xh[d - 1], inv), w[d - 1]) : __fmul_rn(xh[d - 1], inv);
}

extern "C" void g4g_norm_rope(g4g_device *dev, float *x, int n_tok, int n_heads, int d, const float *w, float eps,
                              const float *freq, const int32_t *pos) {
    if (n_tok <= 0 || n_heads <= 0 || d <= 0) return;
    if (freq && d % 2) {
        g4g_fail(dev, "norm_rope: the rotary embedding needs an even head size, not %d", d);
        return;
    }
    if ((long long)n_tok * n_heads > 0x7fffffffLL) {
        g4g_fail(dev, "norm_rope: %d tokens x %d heads is too many for one launch", n_tok, n_heads);
        return;
    }
    if (!g4g_use(dev)) return;
    norm_rope_kernel<<<n_tok * n_heads, HEAD_THREADS, 0, dev->stream>>>(x, n_heads, d, w, eps, freq, pos);
    G4G_LAUNCHED(dev, "norm_rope");
}

/* ---- element-wise ------------------------------------------------------------------
 * Grid-stride loops over flat indices; each element is read and written by one
 * thread, so an output may alias its input. */

static __global__ void gelu_mul_kernel(float *out, int out_stride, const float *g, int g_stride, const float *u,
                                       int u_stride, int dim, long long n) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n; k += (long long)gridDim.x * blockDim.x) {
        const long long r = k / dim, i = k % dim;
        out[r * out_stride + i] = cpu_gelu_mul(g[r * g_stride + i], u[r * u_stride + i]);
    }
}

extern "C" void g4g_gelu_mul(g4g_device *dev, float *out, int out_stride, const float *g, int g_stride, const float *u,
                             int u_stride, int n_rows, int dim) {
    const long long n = (long long)n_rows * dim;
    if (n_rows <= 0 || dim <= 0 || !g4g_use(dev)) return;
    gelu_mul_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(out, out_stride, g, g_stride, u, u_stride, dim, n);
    G4G_LAUNCHED(dev, "gelu_mul");
}

static __global__ void add_kernel(float *y, const float *x, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __fadd_rn(y[i], x[i]);
}

extern "C" void g4g_add(g4g_device *dev, float *y, const float *x, int64_t n) {
    if (n <= 0 || !g4g_use(dev)) return;
    add_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(y, x, n);
    G4G_LAUNCHED(dev, "add");
}

static __global__ void scale_kernel(float *y, float s, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __fmul_rn(y[i], s);
}

extern "C" void g4g_scale(g4g_device *dev, float *y, float s, int64_t n) {
    if (n <= 0 || !g4g_use(dev)) return;
    scale_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(y, s, n);
    G4G_LAUNCHED(dev, "scale");
}

/* x = cap * tanh(x / cap), as g4k_softcap. */
static __global__ void softcap_kernel(float *x, long long n, float cap) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] = __fmul_rn(cap, cpu_tanh(__fdiv_rn(x[i], cap)));
}

extern "C" void g4g_softcap(g4g_device *dev, float *x, int64_t n, float cap) {
    if (n <= 0 || !g4g_use(dev)) return;
    softcap_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(x, n, cap);
    G4G_LAUNCHED(dev, "softcap");
}

/* p = (p + e * e_scale) * out_scale, as per_layer_inputs in engine/model/gemma4.c. */
static __global__ void ple_combine_kernel(float *p, const float *e, float e_scale, float out_scale, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        p[i] = __fmul_rn(__fadd_rn(p[i], __fmul_rn(e[i], e_scale)), out_scale);
}

extern "C" void g4g_ple_combine(g4g_device *dev, float *p, const float *e, float e_scale, float out_scale, int64_t n) {
    if (n <= 0 || !g4g_use(dev)) return;
    ple_combine_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(p, e, e_scale, out_scale, n);
    G4G_LAUNCHED(dev, "ple_combine");
}

/* ---- rows ---------------------------------------------------------------------------- */

static __global__ void gather_rows_kernel(float *dst, const float *src, const int32_t *rows, int dim, long long n) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n; k += (long long)gridDim.x * blockDim.x) {
        const long long i = k / dim, c = k % dim;
        dst[k] = src[(long long)rows[i] * dim + c];
    }
}

extern "C" void g4g_gather_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows, int n, int dim) {
    const long long total = (long long)n * dim;
    if (n <= 0 || dim <= 0 || !g4g_use(dev)) return;
    gather_rows_kernel<<<flat_blocks(total), FLAT_THREADS, 0, dev->stream>>>(dst, src, rows, dim, total);
    G4G_LAUNCHED(dev, "gather_rows");
}

/* dst[rows[i]] += weight[i] * src[i]; rows do not repeat, so no two threads write
 * one element. */
static __global__ void scatter_add_rows_kernel(float *dst, const float *src, const int32_t *rows, const float *weight,
                                               int dim, long long n) {
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n; k += (long long)gridDim.x * blockDim.x) {
        const long long i = k / dim, c = k % dim;
        float *d = dst + (long long)rows[i] * dim + c;
        *d = __fadd_rn(*d, __fmul_rn(weight[i], src[k]));
    }
}

extern "C" void g4g_scatter_add_rows(g4g_device *dev, float *dst, const float *src, const int32_t *rows,
                                     const float *weight, int n, int dim) {
    const long long total = (long long)n * dim;
    if (n <= 0 || dim <= 0 || !g4g_use(dev)) return;
    scatter_add_rows_kernel<<<flat_blocks(total), FLAT_THREADS, 0, dev->stream>>>(dst, src, rows, weight, dim, total);
    G4G_LAUNCHED(dev, "scatter_add_rows");
}

/* ---- the KV cache ------------------------------------------------------------------
 * Element (t, c) of k and v goes to row pos[t] % ring of the caches of sequence
 * seq[t]. */
static __global__ void kv_store_kernel(float *const *k_cache, float *const *v_cache, const float *k, const float *v,
                                       int kv_dim, const int32_t *seq, const int32_t *pos, int ring, long long n) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        const long long t = e / kv_dim, c = e % kv_dim;
        const size_t at = (size_t)(pos[t] % ring) * kv_dim + c;
        k_cache[seq[t]][at] = k[e];
        v_cache[seq[t]][at] = v[e];
    }
}

extern "C" void g4g_kv_store(g4g_device *dev, float *const *k_cache, float *const *v_cache, const float *k,
                             const float *v, int n_tok, int kv_dim, const int32_t *seq, const int32_t *pos, int ring) {
    const long long n = (long long)n_tok * kv_dim;
    if (n_tok <= 0 || kv_dim <= 0) return;
    if (ring <= 0) {
        g4g_fail(dev, "kv_store: the cache ring must hold at least one position, not %d", ring);
        return;
    }
    if (!g4g_use(dev)) return;
    kv_store_kernel<<<flat_blocks(n), FLAT_THREADS, 0, dev->stream>>>(k_cache, v_cache, k, v, kv_dim, seq, pos, ring, n);
    G4G_LAUNCHED(dev, "kv_store");
}
