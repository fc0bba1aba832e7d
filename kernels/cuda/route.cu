/* route.cu: selection ops: MoE routing (top-k experts per token and their
 * weights), the MoE combine, and the top-k of long rows (sampling's candidates,
 * argmax).
 *
 * Every selection ranks values by a 64-bit key: the value's bits made to sort
 * as unsigned integers (NaN below every number, -0 equal to +0) above the
 * complement of its index. Keys are unique, larger values have larger keys, and
 * of equal values the lower index has the larger key: "the k largest, ties to
 * the lower index" is "the k largest keys", whatever order threads see them in. */
#include "device.cuh"

#include <math.h>

typedef unsigned long long sel_key;

#define ROUTE_THREADS 256
#define ROUTE_MAX_EXPERTS 1024
#define ROUTE_MAX_K 32
#define TOPK_THREADS 1024
#define TOPK_MAX_K 256
#define COMBINE_THREADS 256

static __device__ sel_key make_key(float v, int index) {
    unsigned u = __float_as_uint(v);
    if (v != v) u = 0;                    /* NaN: below -inf */
    else if (v == 0.0f) u = 0x80000000u;  /* -0 and +0 rank the same */
    else u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((sel_key)u << 32) | (unsigned)~(unsigned)index;
}

static __device__ int key_index(sel_key key) {
    return (int)~(unsigned)(key & 0xffffffffu);
}

static __device__ sel_key shfl_xor_key(sel_key v, int o) {
    const unsigned hi = __shfl_xor_sync(0xffffffffu, (unsigned)(v >> 32), o, G4G_WARP);
    const unsigned lo = __shfl_xor_sync(0xffffffffu, (unsigned)v, o, G4G_WARP);
    return ((sel_key)hi << 32) | lo;
}

/* The largest v over the block, in every thread. blockDim.x is a multiple of 32;
 * partial holds 32 keys. */
static __device__ sel_key block_max_key(sel_key v, sel_key *partial) {
    for (int o = G4G_WARP / 2; o > 0; o /= 2) {
        const sel_key other = shfl_xor_key(v, o);
        v = other > v ? other : v;
    }
    const int lane = threadIdx.x % G4G_WARP, warp = threadIdx.x / G4G_WARP, n_warps = blockDim.x / G4G_WARP;
    __syncthreads(); /* partial may still be read from a previous call */
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < n_warps ? partial[lane] : 0;
    for (int o = G4G_WARP / 2; o > 0; o /= 2) {
        const sel_key other = shfl_xor_key(v, o);
        v = other > v ? other : v;
    }
    return v;
}

/* ---- MoE routing -------------------------------------------------------------------
 * One block per token. Round j picks the largest key below the one picked in round
 * j - 1 (keys are unique, so that is the j-th largest), then thread 0 forms the
 * weights exactly as route() in engine/model/gemma4.c: exp of each chosen logit
 * minus the first's, summed in order, each divided by the sum and multiplied by
 * its expert's scale. (For NaN logits the CPU's pick differs: there NaN compares
 * false; here it ranks below every number.) */
static __global__ void moe_route_kernel(const float *logits, int n_experts, int k, const float *expert_scale,
                                        int32_t *ids, float *weights) {
    __shared__ sel_key partial[32];
    __shared__ int chosen[ROUTE_MAX_K];
    const float *row = logits + (size_t)blockIdx.x * n_experts;
    sel_key bound = ~(sel_key)0; /* above every key */
    for (int j = 0; j < k; j++) {
        sel_key best = 0;
        for (int e = threadIdx.x; e < n_experts; e += blockDim.x) {
            const sel_key key = make_key(row[e], e);
            if (key < bound && key > best) best = key;
        }
        bound = block_max_key(best, partial);
        if (threadIdx.x == 0) chosen[j] = key_index(bound);
    }
    if (threadIdx.x != 0) return;
    int32_t *out_ids = ids + (size_t)blockIdx.x * k;
    float *out_w = weights + (size_t)blockIdx.x * k;
    float e_of[ROUTE_MAX_K];
    const float max = row[chosen[0]];
    float sum = 0.0f;
    for (int j = 0; j < k; j++) {
        e_of[j] = expf(__fsub_rn(row[chosen[j]], max));
        sum = __fadd_rn(sum, e_of[j]);
    }
    for (int j = 0; j < k; j++) {
        out_ids[j] = chosen[j];
        out_w[j] = __fmul_rn(__fdiv_rn(e_of[j], sum), expert_scale[chosen[j]]);
    }
}

extern "C" void g4g_moe_route(g4g_device *dev, const float *logits, int n_tok, int n_experts, int k,
                              const float *expert_scale, int32_t *ids, float *weights) {
    if (n_tok <= 0) return;
    if (n_experts < 1 || n_experts > ROUTE_MAX_EXPERTS || k < 1 || k > ROUTE_MAX_K || k > n_experts) {
        g4g_fail(dev, "moe_route: %d of %d experts is not supported (1 <= k <= %d, k <= experts <= %d)", k, n_experts,
                 ROUTE_MAX_K, ROUTE_MAX_EXPERTS);
        return;
    }
    if (!g4g_use(dev)) return;
    moe_route_kernel<<<n_tok, ROUTE_THREADS, 0, dev->stream>>>(logits, n_experts, k, expert_scale, ids, weights);
    G4G_LAUNCHED(dev, "moe_route");
}

/* ---- MoE combine -------------------------------------------------------------------
 * out[t][i] = sum_j w[t][j] * y[t * k + j][i], summed from 0 in j order. */
static __global__ void moe_combine_kernel(float *out, const float *y, const float *w, int k, int dim, long long n) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        const long long t = e / dim, i = e % dim;
        float acc = 0.0f;
        for (int j = 0; j < k; j++) acc = __fadd_rn(acc, __fmul_rn(w[t * k + j], y[(t * k + j) * dim + i]));
        out[e] = acc;
    }
}

extern "C" void g4g_moe_combine(g4g_device *dev, float *out, const float *y, const float *w, int n_tok, int k, int dim) {
    const long long n = (long long)n_tok * dim;
    if (n_tok <= 0 || dim <= 0) return;
    if (k < 1) {
        g4g_fail(dev, "moe_combine: %d experts per token (at least 1)", k);
        return;
    }
    if (!g4g_use(dev)) return;
    const unsigned blocks = g4g_blocks(n, COMBINE_THREADS);
    moe_combine_kernel<<<blocks < 65536 ? blocks : 65536, COMBINE_THREADS, 0, dev->stream>>>(out, y, w, k, dim, n);
    G4G_LAUNCHED(dev, "moe_combine");
}

/* ---- top-k of long rows --------------------------------------------------------------
 * k = 1: one block per row, one pass: each thread's largest key, then the block's. */
static __global__ void argmax_kernel(const float *x, int n, int32_t *ids, float *vals) {
    __shared__ sel_key partial[32];
    const float *row = x + (size_t)blockIdx.x * n;
    sel_key best = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const sel_key key = make_key(row[i], i);
        best = key > best ? key : best;
    }
    best = block_max_key(best, partial);
    if (threadIdx.x == 0) {
        const int i = key_index(best);
        ids[blockIdx.x] = i;
        vals[blockIdx.x] = row[i];
    }
}

/* k > 1: one block per row.
 * 1. Radix select of the k-th largest key, a byte at a time from the top: a
 *    histogram of the next byte over the keys that match the bytes chosen so far,
 *    then the byte whose bin holds the k-th largest of them. It stops early once
 *    the chosen bin holds exactly the keys still needed; then "key >= prefix"
 *    (the bytes chosen, zero below) selects exactly k keys.
 * 2. The selected keys go to shared memory in any order, padded with key 0 (below
 *    every real key) to a power of two, and a bitonic sort puts them in
 *    descending order. */
static __global__ void top_k_kernel(const float *x, int n, int k, int32_t *ids, float *vals) {
    __shared__ unsigned hist[256];
    __shared__ sel_key cand[TOPK_MAX_K];
    __shared__ sel_key s_prefix;
    __shared__ int s_remaining, s_done, s_count;
    const float *row = x + (size_t)blockIdx.x * n;

    sel_key prefix = 0, mask = 0;
    int remaining = k; /* of the keys matching prefix under mask, how many are still to select */
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const sel_key key = make_key(row[i], i);
            if ((key & mask) == prefix) atomicAdd(&hist[(unsigned)(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned above = 0; /* matching keys in the bins above b */
            int b = 255;
            while (b > 0 && above + hist[b] < (unsigned)remaining) above += hist[b--];
            s_prefix = prefix | ((sel_key)b << shift);
            s_remaining = remaining - (int)above;
            s_done = hist[b] == (unsigned)s_remaining;
        }
        __syncthreads();
        prefix = s_prefix;
        remaining = s_remaining;
        mask |= (sel_key)0xff << shift;
        if (s_done) break; /* read by every thread before thread 0 writes it again */
    }

    int size = 2;
    while (size < k) size *= 2;
    if (threadIdx.x == 0) s_count = 0;
    for (int i = threadIdx.x; i < size; i += blockDim.x) cand[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const sel_key key = make_key(row[i], i);
        if (key >= prefix) {
            const int slot = atomicAdd(&s_count, 1);
            if (slot < k) cand[slot] = key;
        }
    }
    __syncthreads();

    /* bitonic sort of cand[0 .. size), descending */
    for (int len = 2; len <= size; len *= 2)
        for (int stride = len / 2; stride > 0; stride /= 2) {
            for (int i = threadIdx.x; i < size; i += blockDim.x) {
                const int j = i ^ stride;
                if (j > i) {
                    const bool descending = (i & len) == 0;
                    const sel_key a = cand[i], b = cand[j];
                    if (descending ? a < b : a > b) cand[i] = b, cand[j] = a;
                }
            }
            __syncthreads();
        }

    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        const int i = key_index(cand[j]);
        ids[(size_t)blockIdx.x * k + j] = i;
        vals[(size_t)blockIdx.x * k + j] = row[i];
    }
}

extern "C" void g4g_top_k(g4g_device *dev, const float *x, int n_rows, int n, int k, int32_t *ids, float *vals) {
    if (n_rows <= 0) return;
    if (k < 1 || k > TOPK_MAX_K || k > n) {
        g4g_fail(dev, "top_k: k = %d is not supported for rows of %d (1 <= k <= %d, k <= n)", k, n, TOPK_MAX_K);
        return;
    }
    if (!g4g_use(dev)) return;
    if (k == 1)
        argmax_kernel<<<n_rows, TOPK_THREADS, 0, dev->stream>>>(x, n, ids, vals);
    else
        top_k_kernel<<<n_rows, TOPK_THREADS, 0, dev->stream>>>(x, n, k, ids, vals);
    G4G_LAUNCHED(dev, "top_k");
}
