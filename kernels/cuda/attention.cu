/* attention.cu: causal attention (scale 1.0) of a batch of query tokens over the
 * KV caches, as kernels/cpu/attention.c computes it, split over the keys
 * ("flash decoding") so that a single token still fills the GPU.
 *
 * The work: a block takes a tile of query rows that read the same keys, namely
 * up to ROWS_MAX (token, head) rows: the G = nq / nkv query heads of one KV head
 * for Qt = ROWS_MAX / G consecutive tokens (decoding: one token's G heads;
 * prefill: several tokens share every K and V row read), and one of n_splits
 * chunks of the keys those rows attend to. Grid: x = tile * nkv + kv head,
 * y = split. It walks its chunk in tiles of KEY_TILE keys with an online
 * softmax in f32:
 *   A  scores: each warp takes keys; its lanes read a key row (coalesced) and
 *      form the dot products with every row's query (queries in shared
 *      memory), reduced by shuffles; keys outside a row's span score -inf;
 *   B  softmax: a warp per row takes the tile's 32 scores, one per lane: the new
 *      running max, p = exp(s - max), the running sum, and the factor that
 *      rescales what was accumulated under the old max;
 *   C  values: a thread owns output columns (tid + 128 c) of every row, in
 *      registers, and adds p * v for each key of the tile, one V read serving
 *      all rows.
 * A tile's tokens may belong to different sequences: the block then walks each
 * sequence's keys in turn, its other rows masked. The grid depends only on the
 * arguments (never on positions, so a graph can replay it); each split finds its
 * chunk from the actual span, and one past the span does nothing but say so.
 * With one split the block writes the output itself; with more, each writes its
 * rows' (max, sum, accumulator) to scratch and merge_kernel combines them. */
#include "device.cuh"

#include <math.h>

#define ATT_THREADS 128         /* 4 warps; output column c of a thread: tid + 128 c */
#define ATT_WARPS (ATT_THREADS / G4G_WARP)
#define ROWS_MAX 16             /* query rows of a block (so G = nq / nkv <= 16) */
#define KEY_TILE 32             /* keys per step: one per lane in the softmax */
#define MIN_CHUNK 64            /* fewest keys a split is given */
#define MAX_SPLITS 1024
#define SPLIT_ROWS 16384        /* splits are used while rows * splits stay under this */
#define D_MAX 512
#define MERGE_THREADS 128

typedef struct {
    float *out;
    const float *q;
    int n_tok, nq, nkv, d, group, tile_tokens; /* group = nq / nkv, tile_tokens = Qt */
    const float *const *k_cache, *const *v_cache;
    const int32_t *seq, *pos;
    int window, ring, n_splits;
    float *part_ml;   /* [split][row][2]: max, sum */
    float *part_acc;  /* [split][row][d] */
} attention_args;

static __device__ float warp_sum(float v) {
    for (int o = G4G_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
    return v;
}

static __device__ float warp_max(float v) {
    for (int o = G4G_WARP / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP));
    return v;
}

/* ---- the split kernel ---------------------------------------------------------------
 * COLS = output columns per thread: d <= 128 * COLS. Dynamic shared memory: the
 * tile's queries, tile_tokens * group * d floats. */
template <int COLS>
static __global__ void __launch_bounds__(ATT_THREADS) attention_kernel(attention_args a) {
    extern __shared__ float q_sh[];                  /* [row][d] */
    __shared__ float s_sh[ROWS_MAX][KEY_TILE];       /* scores, then probabilities */
    __shared__ float m_sh[ROWS_MAX], l_sh[ROWS_MAX], scale_sh[ROWS_MAX];
    __shared__ int first_sh[ROWS_MAX], last_sh[ROWS_MAX], seq_sh[ROWS_MAX];
    __shared__ int key_used[KEY_TILE];

    const int d = a.d, G = a.group, kv_dim = a.nkv * d;
    const int g = blockIdx.x % a.nkv, t0 = (blockIdx.x / a.nkv) * a.tile_tokens, split = blockIdx.y;
    const int n_t = min(a.tile_tokens, a.n_tok - t0), R = n_t * G;
    const int tid = threadIdx.x, lane = tid % G4G_WARP, warp = tid / G4G_WARP;

    for (int e = tid; e < R * d; e += ATT_THREADS) {
        const int r = e / d, i = e % d;
        q_sh[e] = a.q[((size_t)(t0 + r / G) * a.nq + g * G + r % G) * d + i];
    }
    for (int r = tid; r < R; r += ATT_THREADS) {
        const int p = a.pos[t0 + r / G];
        first_sh[r] = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
        last_sh[r] = p;
        seq_sh[r] = a.seq[t0 + r / G];
        m_sh[r] = -INFINITY;
        l_sh[r] = 0.0f;
    }
    float acc[COLS][ROWS_MAX];
#pragma unroll
    for (int c = 0; c < COLS; c++)
#pragma unroll
        for (int r = 0; r < ROWS_MAX; r++) acc[c][r] = 0.0f;
    __syncthreads();

    for (int r0 = 0; r0 < R; r0 += G) { /* each sequence of the tile once, at its first token */
        const int sq = seq_sh[r0];
        bool seen = false;
        for (int r = 0; r < r0; r += G) seen |= seq_sh[r] == sq;
        if (seen) continue;
        int lo = 0x7fffffff, hi = -1; /* the union of the spans of this sequence's rows */
        for (int r = r0; r < R; r += G)
            if (seq_sh[r] == sq) lo = min(lo, first_sh[r]), hi = max(hi, last_sh[r]);
        const int len = hi - lo + 1;
        int chunk = ((len + a.n_splits - 1) / a.n_splits + KEY_TILE - 1) / KEY_TILE * KEY_TILE;
        chunk = max(chunk, MIN_CHUNK);
        const long long start_ll = (long long)lo + (long long)split * chunk;
        if (start_ll > hi) continue;
        const int start = (int)start_ll, end = (int)min((long long)hi, start_ll + chunk - 1);
        const float *k_base = a.k_cache[sq] + (size_t)g * d, *v_base = a.v_cache[sq] + (size_t)g * d;

        for (int j0 = start; j0 <= end; j0 += KEY_TILE) {
            const int n_keys = min(KEY_TILE, end - j0 + 1);
            /* A: scores */
            for (int jj = warp; jj < KEY_TILE; jj += ATT_WARPS) {
                const int j = j0 + jj;
                unsigned rows_in = 0; /* bit r: key j is in row r's span */
                if (jj < n_keys)
                    for (int r = 0; r < R; r++)
                        if (seq_sh[r] == sq && first_sh[r] <= j && j <= last_sh[r]) rows_in |= 1u << r;
                if (!rows_in) {
                    if (lane < ROWS_MAX) s_sh[lane][jj] = -INFINITY;
                    if (lane == 0) key_used[jj] = 0;
                    continue;
                }
                const float *k_row = k_base + (size_t)(j % a.ring) * kv_dim;
                float part[ROWS_MAX];
#pragma unroll
                for (int r = 0; r < ROWS_MAX; r++) part[r] = 0.0f;
                for (int i = lane; i < d; i += G4G_WARP) {
                    const float kv = k_row[i];
#pragma unroll
                    for (int r = 0; r < ROWS_MAX; r++)
                        if (rows_in >> r & 1u) part[r] += q_sh[r * d + i] * kv;
                }
#pragma unroll
                for (int r = 0; r < ROWS_MAX; r++)
                    if (r < R) { /* the same r for the whole warp */
                        const float s = warp_sum(part[r]);
                        if (lane == 0) s_sh[r][jj] = rows_in >> r & 1u ? s : -INFINITY;
                    }
                if (lane == 0) key_used[jj] = 1;
            }
            __syncthreads();
            /* B: online softmax, a warp per row, a lane per key */
            for (int r = warp; r < R; r += ATT_WARPS) {
                const float s = s_sh[r][lane];
                const float tile_max = warp_max(s);
                const float m_old = m_sh[r], m_new = fmaxf(m_old, tile_max);
                const float p = s == -INFINITY ? 0.0f : expf(s - m_new);
                const float sum = warp_sum(p); /* every lane has read m_sh[r] before lane 0 writes it */
                s_sh[r][lane] = p;
                if (lane == 0) {
                    const float scale = m_old == m_new ? 1.0f : expf(m_old - m_new);
                    m_sh[r] = m_new;
                    l_sh[r] = l_sh[r] * scale + sum;
                    scale_sh[r] = scale;
                }
            }
            __syncthreads();
            /* C: acc = acc * scale + P V */
#pragma unroll
            for (int r = 0; r < ROWS_MAX; r++)
                if (r < R)
#pragma unroll
                    for (int c = 0; c < COLS; c++) acc[c][r] *= scale_sh[r];
            for (int jj = 0; jj < n_keys; jj++) {
                if (!key_used[jj]) continue; /* no row reads it: its slot may hold anything */
                const float *v_row = v_base + (size_t)((j0 + jj) % a.ring) * kv_dim;
#pragma unroll
                for (int c = 0; c < COLS; c++) {
                    const int col = tid + c * ATT_THREADS;
                    if (col < d) {
                        const float v = v_row[col];
#pragma unroll
                        for (int r = 0; r < ROWS_MAX; r++)
                            if (r < R) acc[c][r] += s_sh[r][jj] * v;
                    }
                }
            }
            __syncthreads(); /* before the next tile's scores overwrite s_sh and key_used */
        }
    }

    /* the rows' results: final (one split) or partial */
    const long long rows_total = (long long)a.n_tok * a.nq;
#pragma unroll
    for (int r = 0; r < ROWS_MAX; r++) {
        if (r >= R) continue; /* (not break: the loop is unrolled) */
        const long long row = (long long)(t0 + r / G) * a.nq + g * G + r % G;
        const float l = l_sh[r];
        if (a.n_splits == 1) {
#pragma unroll
            for (int c = 0; c < COLS; c++) {
                const int col = tid + c * ATT_THREADS;
                if (col < d) a.out[row * d + col] = l > 0.0f ? acc[c][r] / l : 0.0f;
            }
        } else {
            const long long at = (long long)split * rows_total + row;
            if (tid == 0) a.part_ml[at * 2] = m_sh[r], a.part_ml[at * 2 + 1] = l;
            if (l > 0.0f)
#pragma unroll
                for (int c = 0; c < COLS; c++) {
                    const int col = tid + c * ATT_THREADS;
                    if (col < d) a.part_acc[at * d + col] = acc[c][r];
                }
        }
    }
}

/* ---- merging the splits ----------------------------------------------------------------
 * One block per (token, head) row: M = the largest split max, w_s = exp(m_s - M)
 * for splits that saw keys (0 for the others, whose accumulators are never
 * written), L = sum l_s w_s, out = sum w_s acc_s / L. */
static __device__ float block_reduce(float v, float *partial, bool is_max) {
    for (int o = G4G_WARP / 2; o > 0; o /= 2) {
        const float other = __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
        v = is_max ? fmaxf(v, other) : v + other;
    }
    const int lane = threadIdx.x % G4G_WARP, warp = threadIdx.x / G4G_WARP, n_warps = blockDim.x / G4G_WARP;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < n_warps ? partial[lane] : (is_max ? -INFINITY : 0.0f);
    for (int o = G4G_WARP / 2; o > 0; o /= 2) {
        const float other = __shfl_xor_sync(0xffffffffu, v, o, G4G_WARP);
        v = is_max ? fmaxf(v, other) : v + other;
    }
    return v;
}

static __global__ void merge_kernel(float *out, const float *part_ml, const float *part_acc, int d, int n_splits,
                                    long long rows_total) {
    __shared__ float weight[MAX_SPLITS];
    __shared__ float partial[32];
    const long long row = blockIdx.x;
    float m = -INFINITY;
    for (int s = threadIdx.x; s < n_splits; s += blockDim.x) {
        const float *ml = part_ml + ((long long)s * rows_total + row) * 2;
        if (ml[1] > 0.0f) m = fmaxf(m, ml[0]);
    }
    m = block_reduce(m, partial, true);
    float l = 0.0f;
    for (int s = threadIdx.x; s < n_splits; s += blockDim.x) {
        const float *ml = part_ml + ((long long)s * rows_total + row) * 2;
        const float w = ml[1] > 0.0f ? expf(ml[0] - m) : 0.0f;
        weight[s] = w;
        l += ml[1] * w;
    }
    l = block_reduce(l, partial, false); /* its barriers also publish weight[] */
    for (int col = threadIdx.x; col < d; col += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < n_splits; s++)
            if (weight[s] != 0.0f) o += weight[s] * part_acc[((long long)s * rows_total + row) * d + col];
        out[row * d + col] = l > 0.0f ? o / l : 0.0f;
    }
}

/* ---- the calls ------------------------------------------------------------------------ */

/* Most splits worth having for n_tok * nq rows: enough blocks to fill a large GPU
 * for a single token, none for a long prompt. */
static int split_cap(int n_tok, int nq) {
    const long long rows = (long long)n_tok * nq;
    const long long cap = SPLIT_ROWS / (rows > 0 ? rows : 1);
    return (int)(cap < 1 ? 1 : cap > MAX_SPLITS ? MAX_SPLITS : cap);
}

static size_t split_bytes(int n_tok, int nq, int d) {
    return (size_t)n_tok * nq * ((size_t)d + 2) * sizeof(float);
}

extern "C" size_t g4g_attention_scratch_size(int n_tok, int nq, int d, int max_span) {
    if (n_tok <= 0 || nq <= 0 || d <= 0 || max_span <= 0) return 0;
    const int by_keys = (max_span + MIN_CHUNK - 1) / MIN_CHUNK, cap = split_cap(n_tok, nq);
    const int n_splits = by_keys < cap ? by_keys : cap;
    return n_splits >= 2 ? (size_t)n_splits * split_bytes(n_tok, nq, d) : 0;
}

template <int COLS>
static void launch(g4g_device *dev, const attention_args *a, dim3 grid, size_t shared) {
    attention_kernel<COLS><<<grid, ATT_THREADS, shared, dev->stream>>>(*a);
}

extern "C" void g4g_attention(g4g_device *dev, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                              const float *const *k_cache, const float *const *v_cache, const int32_t *seq,
                              const int32_t *pos, int window, int ring, void *scratch, size_t scratch_bytes) {
    if (n_tok <= 0) return;
    if (nq < 1 || nkv < 1 || nq % nkv || nq / nkv > ROWS_MAX) {
        g4g_fail(dev, "attention: %d query heads over %d KV heads is not supported (a whole group of at most %d)", nq,
                 nkv, ROWS_MAX);
        return;
    }
    if (d < 1 || d > D_MAX) { /* lanes and columns past d idle: any size up to D_MAX */
        g4g_fail(dev, "attention: head size %d is not supported (1 to %d)", d, D_MAX);
        return;
    }
    if (ring < 1 || window < 0) {
        g4g_fail(dev, "attention: ring %d / window %d (the ring must hold a position, the window be >= 0)", ring, window);
        return;
    }
    const int group = nq / nkv, tile_tokens = ROWS_MAX / group;
    const long long n_tiles = (n_tok + tile_tokens - 1) / tile_tokens;
    if (n_tiles * nkv > 0x7fffffffLL) {
        g4g_fail(dev, "attention: %d tokens x %d KV heads is too many for one launch", n_tok, nkv);
        return;
    }
    /* as many splits as the scratch holds, up to the cap */
    const size_t per_split = split_bytes(n_tok, nq, d);
    const size_t fit = scratch ? scratch_bytes / per_split : 0;
    const int cap = split_cap(n_tok, nq);
    const int n_splits = fit >= 2 ? (fit < (size_t)cap ? (int)fit : cap) : 1;
    if (!g4g_use(dev)) return;

    float *part = (float *)scratch;
    const long long rows_total = (long long)n_tok * nq;
    attention_args a = {out, q, n_tok, nq, nkv, d, group, tile_tokens, k_cache, v_cache, seq, pos, window, ring,
                        n_splits, part, part ? part + (size_t)n_splits * rows_total * 2 : NULL};
    const dim3 grid((unsigned)(n_tiles * nkv), (unsigned)n_splits);
    const size_t shared = (size_t)tile_tokens * group * d * sizeof(float); /* <= 16 * 512 * 4 = 32 KiB */
    switch ((d + ATT_THREADS - 1) / ATT_THREADS) {
    case 1: launch<1>(dev, &a, grid, shared); break;
    case 2: launch<2>(dev, &a, grid, shared); break;
    case 3: launch<3>(dev, &a, grid, shared); break;
    default: launch<4>(dev, &a, grid, shared); break;
    }
    if (!G4G_LAUNCHED(dev, "attention") || n_splits == 1) return;
    merge_kernel<<<(unsigned)rows_total, MERGE_THREADS, 0, dev->stream>>>(out, a.part_ml, a.part_acc, d, n_splits,
                                                                           rows_total);
    G4G_LAUNCHED(dev, "attention (merging the splits)");
}
