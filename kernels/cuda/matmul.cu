/* matmul.cu: weight matrix times f32 activations on the device (g4g_matmul,
 * g4g_matmul_experts, g4g_supports), for every weight type of quant.cuh.
 *
 * Decode (n_tok <= 8, and every expert product): matvec_kernel. A block of 8
 * warps covers 16 output rows, 2 per warp; the lanes of a warp walk the chunks of
 * both rows (lane l takes chunks l, l + 32, ...: consecutive lanes read
 * consecutive 16- to 34-byte pieces of a row), dequantize them in registers and
 * multiply them with the n_tok activation rows, which the block first copies
 * into shared memory (32-float groups padded to 36 floats, so that the lanes'
 * 16-byte reads of different groups fall in different banks) or, when they do
 * not fit in 48 KiB, reads from global memory through the cache. Each weight byte
 * is read from memory once; sums are f32, reduced across the warp by shuffles.
 *
 * Prefill (n_tok > 8): CUDA converts x to bf16 and the weights, in chunks of
 * rows, to bf16 (F16 weights: to f32) in dev->gemm_scratch and calls cuBLAS with
 * f32 accumulation; BF16 weights are used in place with x split into two bf16
 * parts (x = hi + lo), so that their products keep f32 accuracy; F32 weights go
 * to cublasSgemm in place. Other types see one bf16 rounding of weights and x
 * (relative error about 2^-9 per product term, below the CPU's own Q8
 * activations'). HIP, and CUDA while a graph is recorded with too little scratch
 * (or when the scratch cannot grow), use tiled_kernel: 64x64 output tiles,
 * k-steps of 32 with the weight tile dequantized into shared memory, 4x4
 * outputs per thread, exact f32 FMAs. */
#include "device.cuh"
#include "quant.cuh"

#ifndef G4_HIP
#include <cuda_bf16.h>
#endif

#include <stdint.h>

#define MV_WARPS 8                      /* warps per matvec block */
#define MV_ROWS 2                       /* output rows per warp */
#define MV_MIN_BLOCKS 2                 /* blocks per SM the registers must allow (at most 128 each) */
#define MV_MAX_TOK 8                    /* more tokens go to the tiled products */
#define MV_SHARED_MAX (48 * 1024)       /* bytes of activations a block may copy to shared memory */
#define X_GROUP 32                      /* activations in shared memory: groups of 32 floats ... */
#define X_GROUP_PADDED 36               /* ... each followed by 4 unused */

#define TILE 64                         /* tiled products: output rows x tokens per block ... */
#define TILE_K 32                       /* ... and elements of a row per step */
#define TILE_THREADS 256                /* 16 x 16 threads, 4 x 4 outputs each */

#define GEMM_CHUNK_BYTES ((size_t)256 << 20) /* dequantized weight rows per cuBLAS call, at most */

/* ---- decode: matrix-vector products ------------------------------------------------ */

/* y[p + t][o] = sum_i W[o][i] * x[t][i] for t < NT, where for expert products
 * (ids not NULL, NT = 1) pair p = blockIdx.y reads matrix ids[p] (expert_stride
 * bytes apart; a negative id gives zeros) and activation row p / x_div. */
template <int T, int NT>
__global__ void __launch_bounds__(MV_WARPS *G4G_WARP, MV_MIN_BLOCKS)
    matvec_kernel(const uint8_t *w, size_t row_bytes, size_t expert_stride, const int32_t *ids, int n_out, int n_in,
                  const float *x, int x_div, bool x_in_shared, float *y) {
    constexpr int CH = g4q_traits<T>::chunk;
    extern __shared__ float4 x_shared_raw[];
    float *xs = reinterpret_cast<float *>(x_shared_raw);
    const int p = blockIdx.y;
    const float *xrow = x + (size_t)(p / x_div) * (size_t)n_in; /* dense: p = 0, x_div = 1 */
    const int groups = (n_in + X_GROUP - 1) / X_GROUP;
    if (x_in_shared) {
        for (int i = threadIdx.x; i < NT * n_in; i += blockDim.x) {
            const int t = i / n_in, k = i - t * n_in;
            xs[t * groups * X_GROUP_PADDED + (k / X_GROUP) * X_GROUP_PADDED + k % X_GROUP] = xrow[i];
        }
        __syncthreads();
    }
    const float *xb = x_in_shared ? xs : xrow;
    const int tok_stride = x_in_shared ? groups * X_GROUP_PADDED : n_in;
    const int group_stride = x_in_shared ? X_GROUP_PADDED : X_GROUP;

    const int warp = threadIdx.x / G4G_WARP, lane = threadIdx.x % G4G_WARP;
    const int row0 = (blockIdx.x * MV_WARPS + warp) * MV_ROWS;
    if (row0 >= n_out) return; /* no barrier follows */
    const int n_rows = n_out - row0 < MV_ROWS ? n_out - row0 : MV_ROWS;
    const uint8_t *rows = w + (size_t)row0 * row_bytes;
    bool have_matrix = true;
    if (ids) {
        const int32_t e = ids[p];
        have_matrix = e >= 0;
        rows += (size_t)(e >= 0 ? e : 0) * expert_stride;
    }

    float acc[MV_ROWS][NT];
#pragma unroll
    for (int r = 0; r < MV_ROWS; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;

    const int n_chunks = have_matrix ? n_in / CH : 0;
    for (int c = lane; c < n_chunks; c += G4G_WARP) {
        float wv[MV_ROWS][CH];
#pragma unroll
        for (int r = 0; r < MV_ROWS; r++) {
            if (r < n_rows)
                g4q_dequant_chunk<T>(rows + (size_t)r * row_bytes, c, wv[r]);
            else
#pragma unroll
                for (int j = 0; j < CH; j++) wv[r][j] = 0.0f;
        }
        const int e0 = c * CH; /* a chunk never crosses a group of 32 */
        const float *xc = xb + (e0 / X_GROUP) * group_stride + e0 % X_GROUP;
#pragma unroll
        for (int t = 0; t < NT; t++) {
#pragma unroll
            for (int j = 0; j < CH; j += 4) {
                const float4 xv = *reinterpret_cast<const float4 *>(xc + t * tok_stride + j);
#pragma unroll
                for (int r = 0; r < MV_ROWS; r++) {
                    float a = acc[r][t];
                    a = fmaf(wv[r][j + 0], xv.x, a);
                    a = fmaf(wv[r][j + 1], xv.y, a);
                    a = fmaf(wv[r][j + 2], xv.z, a);
                    a = fmaf(wv[r][j + 3], xv.w, a);
                    acc[r][t] = a;
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < MV_ROWS; r++) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float v = acc[r][t];
#pragma unroll
            for (int o = G4G_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
            if (lane == 0 && r < n_rows) y[((size_t)p + t) * (size_t)n_out + row0 + r] = v;
        }
    }
}

/* Launches matvec_kernel<T, n_tok> over n_pairs blocks rows (1 for dense products). */
template <int T>
static void launch_matvec(g4g_device *dev, const g4k_matrix *w, size_t expert_stride, const int32_t *ids,
                          int n_pairs, const float *x, int x_div, int n_tok, float *y) {
    const int n_in = (int)w->n_in, n_out = (int)w->n_out;
    const size_t groups = ((size_t)n_in + X_GROUP - 1) / X_GROUP;
    const size_t shared = (size_t)n_tok * groups * X_GROUP_PADDED * sizeof(float);
    const bool in_shared = shared <= MV_SHARED_MAX;
    if (!in_shared && (uintptr_t)x % 16 != 0) {
        g4g_fail(dev, "matmul: activations must be 16-byte aligned for rows of %d values", n_in);
        return;
    }
    const dim3 grid(g4g_blocks(n_out, MV_WARPS * MV_ROWS), (unsigned)n_pairs);
    const dim3 block(MV_WARPS * G4G_WARP);
    const size_t shm = in_shared ? shared : 0;
    const uint8_t *data = (const uint8_t *)w->data;
#define MV_CASE(N)                                                                                                 \
    case N:                                                                                                        \
        matvec_kernel<T, N><<<grid, block, shm, dev->stream>>>(data, w->row_bytes, expert_stride, ids, n_out, n_in, \
                                                               x, x_div, in_shared, y);                            \
        break
    switch (n_tok) {
        MV_CASE(1);
        MV_CASE(2);
        MV_CASE(3);
        MV_CASE(4);
        MV_CASE(5);
        MV_CASE(6);
        MV_CASE(7);
        MV_CASE(8);
    default: return;
    }
#undef MV_CASE
    G4G_LAUNCHED(dev, "matmul: matrix-vector kernel");
}

/* ---- prefill: tiled products (HIP; CUDA's fallback) -------------------------------- */

/* y[t][o] for a 64 x 64 tile of outputs (blockIdx.x: rows o, blockIdx.y: tokens t).
 * Thread (tx, ty) = (tid % 16, tid / 16) computes rows o0 + tx + 16 i and tokens
 * t0 + ty + 16 j (i, j < 4): consecutive threads store consecutive y. Each step
 * stages 32 elements of the 64 rows (dequantized) and of the 64 tokens in shared
 * memory, k-major, so that the inner loop reads 16 consecutive ws floats and
 * broadcasts xs. */
template <int T>
__global__ void __launch_bounds__(TILE_THREADS)
    tiled_kernel(const uint8_t *w, size_t row_bytes, int n_out, int n_in, const float *x, int n_tok, float *y) {
    constexpr int CH = g4q_traits<T>::chunk, CHUNKS = TILE_K / CH;
    __shared__ float ws[TILE_K][TILE + 4];
    __shared__ float xs[TILE_K][TILE + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int o0 = blockIdx.x * TILE, t0 = blockIdx.y * TILE;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < n_in; k0 += TILE_K) {
        for (int i = tid; i < TILE * CHUNKS; i += TILE_THREADS) {
            const int r = i / CHUNKS, c = i % CHUNKS;
            const int o = o0 + r, e0 = k0 + c * CH; /* n_in is whole chunks: a chunk is all in or all out */
            float v[CH];
            if (o < n_out && e0 < n_in)
                g4q_dequant_chunk<T>(w + (size_t)o * row_bytes, e0 / CH, v);
            else
#pragma unroll
                for (int j = 0; j < CH; j++) v[j] = 0.0f;
#pragma unroll
            for (int j = 0; j < CH; j++) ws[c * CH + j][r] = v[j];
        }
        for (int i = tid; i < TILE * TILE_K; i += TILE_THREADS) {
            const int t = i / TILE_K, k = i % TILE_K;
            xs[k][t] = t0 + t < n_tok && k0 + k < n_in ? x[(size_t)(t0 + t) * (size_t)n_in + k0 + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < TILE_K; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = ws[k][tx + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = xs[k][ty + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int t = t0 + ty + 16 * j;
        if (t >= n_tok) continue;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int o = o0 + tx + 16 * i;
            if (o < n_out) y[(size_t)t * (size_t)n_out + o] = acc[i][j];
        }
    }
}

template <int T>
static void launch_tiled(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y) {
    const unsigned tok_tiles = g4g_blocks(n_tok, TILE);
    if (tok_tiles > 65535) {
        g4g_fail(dev, "matmul: %d tokens is more than one product takes (4194240)", n_tok);
        return;
    }
    const dim3 grid(g4g_blocks(w->n_out, TILE), tok_tiles);
    tiled_kernel<T><<<grid, TILE_THREADS, 0, dev->stream>>>((const uint8_t *)w->data, w->row_bytes, (int)w->n_out,
                                                            (int)w->n_in, x, n_tok, y);
    G4G_LAUNCHED(dev, "matmul: tiled kernel");
}

/* ---- prefill on CUDA: cuBLAS on dequantized weights -------------------------------- */

#ifndef G4_HIP

__device__ inline void store_value(float *p, float v) { *p = v; }
__device__ inline void store_value(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

/* out[r][i] = W[row0 + r][i] for r < n_rows, as OUT (bf16 rounded to nearest
 * even, or f32): one thread per chunk. */
template <int T, typename OUT>
__global__ void dequant_rows_kernel(const uint8_t *w, size_t row_bytes, int n_rows, int n_in, OUT *out) {
    constexpr int CH = g4q_traits<T>::chunk;
    const int per_row = n_in / CH;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_rows * per_row) return;
    const int r = (int)(i / per_row), c = (int)(i % per_row);
    float v[CH];
    g4q_dequant_chunk<T>(w + (size_t)r * row_bytes, c, v);
    OUT *dst = out + (size_t)r * (size_t)n_in + (size_t)c * CH;
#pragma unroll
    for (int j = 0; j < CH; j++) store_value(dst + j, v[j]);
}

/* hi[i] = bf16(x[i]); lo[i] = bf16(x[i] - hi[i]) when lo is not NULL. */
__global__ void split_bf16_kernel(const float *x, int64_t n, __nv_bfloat16 *hi, __nv_bfloat16 *lo) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = x[i];
    const __nv_bfloat16 h = __float2bfloat16_rn(v);
    hi[i] = h;
    if (lo) lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
}

static size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

/* Makes dev->gemm_scratch hold `bytes`: grows it outside graph recordings. false
 * when it cannot (recording, or out of memory: then no error is kept, the
 * caller takes the tiled kernel). */
static bool ensure_scratch(g4g_device *dev, size_t bytes) {
    if (dev->gemm_scratch_bytes >= bytes) return true;
    if (dev->capturing) return false;
    if (dev->gemm_scratch) {
        if (!g4g_ok(dev, cudaFree(dev->gemm_scratch), "matmul: freeing the product scratch")) return false;
        dev->gemm_scratch = NULL;
        dev->gemm_scratch_bytes = 0;
    }
    const size_t want = round_up(bytes, (size_t)1 << 20);
    void *p = NULL;
    if (cudaMalloc(&p, want) != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: leave no trace for the next launch check */
        return false;
    }
    dev->gemm_scratch = p;
    dev->gemm_scratch_bytes = want;
    return true;
}

static bool blas_ok(g4g_device *dev, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    g4g_fail(dev, "matmul: %s failed (cuBLAS status %d)", what, (int)st);
    return false;
}

/* cuBLAS is column-major. Row-major y [n_tok][n_out] is the column-major
 * n_out x n_tok matrix C with ldc = n_out (C(o, t) = y[t][o]); the weight rows
 * [n_out][ld_w] are the column-major n_in x n_out matrix A with lda = ld_w
 * (A(i, o) = W[o][i]); x [n_tok][n_in] is the column-major n_in x n_tok matrix B
 * with ldb = n_in (B(i, t) = x[t][i]). So C = op(A) B with op(A) = A^T (CUBLAS_OP_T),
 * m = n_out, n = n_tok, k = n_in. A chunk of rows o0 .. o0 + m' is A at row o0
 * (dequantized: its own buffer, lda = n_in) and C at y + o0, still ldc = n_out. */
static void gemm(g4g_device *dev, int m, int n_tok, int n_in, const void *a, cudaDataType a_type, int lda,
                 const void *b, int ldb, float *c, int ldc, float beta) {
    const float one = 1.0f;
    if (a_type == CUDA_R_32F) {
        blas_ok(dev, cublasSgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n_tok, n_in, &one, (const float *)a, lda,
                                 (const float *)b, ldb, &beta, c, ldc), "cublasSgemm");
        return;
    }
    blas_ok(dev, cublasGemmEx(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n_tok, n_in, &one, a, a_type, lda, b,
                              CUDA_R_16BF, ldb, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
}

/* The cuBLAS path; false (nothing enqueued) when the scratch it needs is not there. */
template <int T>
static bool matmul_cublas(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y) {
    const int n_in = (int)w->n_in, n_out = (int)w->n_out;
    if (T == G4_TYPE_F32) {
        gemm(dev, n_out, n_tok, n_in, w->data, CUDA_R_32F, (int)(w->row_bytes / sizeof(float)), x, n_in, y, n_out,
             0.0f);
        return true;
    }
    const bool weights_f32 = T == G4_TYPE_F16;  /* exact in f32: Sgemm */
    const bool in_place = T == G4_TYPE_BF16;    /* already bf16: x split into hi + lo */
    const size_t x_elems = (size_t)n_tok * (size_t)n_in;
    const size_t x_bytes = weights_f32 ? 0 : round_up(x_elems * sizeof(__nv_bfloat16), 256);
    const size_t x_parts = in_place ? 2 : 1;
    const size_t row_bytes_out = (size_t)n_in * (weights_f32 ? sizeof(float) : sizeof(__nv_bfloat16));
    size_t chunk_rows = in_place ? 0 : GEMM_CHUNK_BYTES / row_bytes_out;
    if (!in_place && chunk_rows > (size_t)n_out) chunk_rows = (size_t)n_out;
    if (!ensure_scratch(dev, x_parts * x_bytes + chunk_rows * row_bytes_out)) return false;

    char *scratch = (char *)dev->gemm_scratch;
    __nv_bfloat16 *x_hi = (__nv_bfloat16 *)scratch, *x_lo = in_place ? (__nv_bfloat16 *)(scratch + x_bytes) : NULL;
    if (!weights_f32) {
        split_bf16_kernel<<<g4g_blocks((long long)x_elems, 256), 256, 0, dev->stream>>>(x, (int64_t)x_elems, x_hi,
                                                                                          x_lo);
        if (!G4G_LAUNCHED(dev, "matmul: activations to bf16")) return true;
    }
    if (in_place) {
        const int lda = (int)(w->row_bytes / sizeof(__nv_bfloat16));
        gemm(dev, n_out, n_tok, n_in, w->data, CUDA_R_16BF, lda, x_hi, n_in, y, n_out, 0.0f);
        gemm(dev, n_out, n_tok, n_in, w->data, CUDA_R_16BF, lda, x_lo, n_in, y, n_out, 1.0f);
        return true;
    }
    void *rows_out = scratch + x_parts * x_bytes;
    const uint8_t *data = (const uint8_t *)w->data;
    constexpr int CH = g4q_traits<T>::chunk;
    for (int o0 = 0; o0 < n_out; o0 += (int)chunk_rows) {
        const int m = n_out - o0 < (int)chunk_rows ? n_out - o0 : (int)chunk_rows;
        const long long threads = (long long)m * (n_in / CH);
        const uint8_t *src = data + (size_t)o0 * w->row_bytes;
        if (weights_f32) {
            dequant_rows_kernel<T, float><<<g4g_blocks(threads, 256), 256, 0, dev->stream>>>(src, w->row_bytes, m, n_in,
                                                                                            (float *)rows_out);
            if (!G4G_LAUNCHED(dev, "matmul: weights to f32")) return true;
            gemm(dev, m, n_tok, n_in, rows_out, CUDA_R_32F, n_in, x, n_in, y + o0, n_out, 0.0f);
        } else {
            dequant_rows_kernel<T, __nv_bfloat16><<<g4g_blocks(threads, 256), 256, 0, dev->stream>>>(
                src, w->row_bytes, m, n_in, (__nv_bfloat16 *)rows_out);
            if (!G4G_LAUNCHED(dev, "matmul: weights to bf16")) return true;
            gemm(dev, m, n_tok, n_in, rows_out, CUDA_R_16BF, n_in, x_hi, n_in, y + o0, n_out, 0.0f);
        }
    }
    return true;
}

#endif

/* ---- entry points ---------------------------------------------------------------- */

template <int T>
static void matmul_typed(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y) {
    if (n_tok <= MV_MAX_TOK) {
        launch_matvec<T>(dev, w, 0, NULL, 1, x, 1, n_tok, y);
        return;
    }
#ifndef G4_HIP
    if (matmul_cublas<T>(dev, w, x, n_tok, y)) return;
#endif
    launch_tiled<T>(dev, w, x, n_tok, y);
}

bool g4g_supports(enum g4_type type) {
    g4q_info info;
    return g4q_type_info(type, &info);
}

void g4g_matmul(g4g_device *dev, const g4k_matrix *w, const float *x, int n_tok, float *y) {
    if (!dev || !w || n_tok <= 0 || w->n_out <= 0 || !g4g_use(dev)) return;
    const char *why = g4q_matrix_error(w, 0);
    if (why) {
        g4g_fail(dev, "matmul: %s (type %d, %lld x %lld)", why, (int)w->type, (long long)w->n_out,
                 (long long)w->n_in);
        return;
    }
#define MATMUL_CALL(T) matmul_typed<T>(dev, w, x, n_tok, y)
    G4Q_DISPATCH(w->type, MATMUL_CALL);
#undef MATMUL_CALL
}

void g4g_matmul_experts(g4g_device *dev, const g4k_matrix *w0, size_t expert_stride, const int32_t *ids,
                        int n_pairs, const float *x, int x_div, float *y) {
    if (!dev || !w0 || n_pairs <= 0 || w0->n_out <= 0 || !g4g_use(dev)) return;
    const char *why = g4q_matrix_error(w0, expert_stride);
    if (why) {
        g4g_fail(dev, "matmul_experts: %s (type %d, %lld x %lld)", why, (int)w0->type, (long long)w0->n_out,
                 (long long)w0->n_in);
        return;
    }
    if (x_div < 1 || n_pairs > 65535) {
        g4g_fail(dev, "matmul_experts: %d pairs with x_div %d (needs x_div >= 1 and at most 65535 pairs)", n_pairs,
                 x_div);
        return;
    }
#define EXPERTS_CALL(T) launch_matvec<T>(dev, w0, expert_stride, ids, n_pairs, x, x_div, 1, y)
    G4Q_DISPATCH(w0->type, EXPERTS_CALL);
#undef EXPERTS_CALL
}
