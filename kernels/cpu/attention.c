/* attention.c: causal attention of a batch of query tokens over the KV rings.
 *
 * A task takes a tile of query rows that read the same keys: a few consecutive
 * tokens of one sequence times the query heads of one KV head. Over the union of
 * their spans it computes, in blocks of 16 keys,
 *   S = Q K^T          8 rows x 16 keys at a time, the keys transposed (16x16
 *                      shuffles) so that one vector load of K serves 8 rows;
 *   P = softmax(S)     per row over its own span only, the other keys get 0;
 *   O = P V            8 rows x 32 output elements at a time.
 * Every element is a sum in one fixed order (S over the head dimension, O over the
 * keys, where a key outside a row's span adds an exact zero), so a row's result does
 * not depend on the tile, the batch or the thread that computes it: batched prompts
 * agree with token-by-token decoding to the bit. Decoding, with fewer tiles than
 * threads, spreads each tile's three steps over the threads instead. The vectors
 * are the compiler's vector extensions, 16 floats wide. */
#include "backend.h"
#include "pool.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

typedef float f32x16 __attribute__((vector_size(64)));

#define ROWS 8          /* query rows of the micro-kernels */
#define KEYS 16         /* keys of a block (one vector) */
#define TILE_ROWS 32    /* query rows a task aims for */

static inline f32x16 splat(float v) {
    return (f32x16){v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v};
}

static inline f32x16 load16(const float *p) {
    f32x16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, f32x16 v) {
    memcpy(p, &v, sizeof v);
}

/* A task: tokens [t0, t0 + n_t), heads [h0, h0 + n_h) of KV head g. */
typedef struct {
    int t0, n_t, g, h0, n_h;
    int lo, hi; /* the union of the tokens' spans */
} tile;

typedef struct {
    float *out;
    const float *q;
    int nq, nkv, d, ring;
    const g4k_kv_span *span;
    const tile *tiles;
    float *scratch;          /* per thread: thread_floats */
    size_t thread_floats;
    int max_keys;            /* keys of the longest union, rounded up to KEYS */
} attention_job;

/* S[r][j] = q_r . k_j for ROWS rows of q (d apart) and the KEYS keys of kt
 * (kt[i * KEYS + c] = element i of key c), into s (row stride s_stride). */
static void scores_block(const float *q, int d, const float *kt, float *s, int s_stride) {
    f32x16 acc[ROWS] = {0};
    for (int i = 0; i < d; i++) {
        const f32x16 k = load16(kt + (size_t)i * KEYS);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) acc[r] += splat(q[(size_t)r * d + i]) * k;
    }
    for (int r = 0; r < ROWS; r++) store16(s + (size_t)r * s_stride, acc[r]);
}

/* o_r[i0 .. i0+32) += sum_j p_r[j] v_j[i0 ..] over keys [j0, j1) whose value rows
 * are vrows[j], for ROWS rows (o_r row stride d): one fused multiply-add per key
 * and element, in key order. */
static void values_block(const float *p, int p_stride, const float *const *vrows, int j0, int j1, int i0, float *o, int d) {
    f32x16 acc[ROWS][2];
    for (int r = 0; r < ROWS; r++) acc[r][0] = load16(o + (size_t)r * d + i0), acc[r][1] = load16(o + (size_t)r * d + i0 + 16);
    for (int j = j0; j < j1; j++) {
        const f32x16 v0 = load16(vrows[j] + i0), v1 = load16(vrows[j] + i0 + 16);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) {
            const f32x16 pr = splat(p[(size_t)r * p_stride + j]);
            acc[r][0] += pr * v0;
            acc[r][1] += pr * v1;
        }
    }
    for (int r = 0; r < ROWS; r++) store16(o + (size_t)r * d + i0, acc[r][0]), store16(o + (size_t)r * d + i0 + 16, acc[r][1]);
}

/* Softmax of row s over keys [a, b] (indices into s), zero elsewhere in [0, n). */
static void softmax_span(float *s, int n, int a, int b) {
    float max = -INFINITY;
    for (int j = a; j <= b; j++) max = s[j] > max ? s[j] : max;
    float sum = 0.0f;
    for (int j = a; j <= b; j++) {
        s[j] = expf(s[j] - max);
        sum += s[j];
    }
    for (int j = 0; j < n; j++) s[j] = j >= a && j <= b ? s[j] / sum : 0.0f;
}

/* Where a tile's working arrays are: Q rows and O rows (d wide, rows padded to
 * ROWS), the value rows of its keys, S rows (keys padded to KEYS), and the K^T
 * block of the thread that computes scores. */
typedef struct {
    float *qs, *os, *s;
    const float **vrows;
    int n_keys, keys_pad, n_rows, rows_pad;
} tile_arrays;

static tile_arrays arrays_at(const attention_job *J, const tile *T, float *base) {
    const int d = J->d, n_keys = T->hi - T->lo + 1, n_rows = T->n_t * T->n_h;
    tile_arrays a = {.n_keys = n_keys, .keys_pad = (n_keys + KEYS - 1) / KEYS * KEYS,
                     .n_rows = n_rows, .rows_pad = (n_rows + ROWS - 1) / ROWS * ROWS};
    a.qs = base;
    a.os = a.qs + (size_t)TILE_ROWS * d;
    a.vrows = (const float **)(a.os + (size_t)TILE_ROWS * d + (size_t)d * KEYS);
    a.s = (float *)(a.vrows + J->max_keys);
    return a;
}

static float *k_block_of(const attention_job *J, int thread) {
    return J->scratch + (size_t)thread * J->thread_floats + (size_t)TILE_ROWS * J->d * 2;
}

/* The tile's query rows into qs (zero rows to the padding) and its keys' value rows. */
static void tile_load(const attention_job *J, const tile *T, const tile_arrays *a) {
    const int d = J->d;
    const size_t row = (size_t)J->nkv * d, off = (size_t)T->g * d;
    const g4k_kv_span *sp = &J->span[T->t0];
    for (int r = 0; r < a->rows_pad; r++) {
        float *dst = a->qs + (size_t)r * d;
        if (r < a->n_rows)
            memcpy(dst, J->q + ((size_t)(T->t0 + r / T->n_h) * J->nq + T->h0 + r % T->n_h) * d, (size_t)d * sizeof *dst);
        else
            memset(dst, 0, (size_t)d * sizeof *dst);
    }
    for (int j = 0, slot = T->lo % J->ring; j < a->n_keys; j++, slot = slot + 1 == J->ring ? 0 : slot + 1)
        a->vrows[j] = sp->v + (size_t)slot * row + off;
}

/* The 16x16 transpose as butterfly stages: at stage K, rows a and a + K (a without
 * bit K) swap their off-diagonal K-wide blocks; after K = 8, 4, 2, 1 row c holds
 * what was column c. LO/HI pick the new rows a and a + K from (row a, row a + K). */
#define SWAP_STAGE(K, LO, HI)                                                     \
    _Pragma("GCC unroll 16")                                                    \
    for (int a = 0; a < 16; a++)                                                \
        if (!(a & K)) {                                                         \
            const f32x16 x = m[a], y = m[a + K];                                \
            m[a] = __builtin_shufflevector(x, y, LO);                           \
            m[a + K] = __builtin_shufflevector(x, y, HI);                       \
        }
#define LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31

/* kt[i * KEYS + c] = keys[c][i] for i in [i0, i0 + 16), for the 16 keys given
 * (NULL: a zero key). */
static void transpose16(const float *const keys[KEYS], int i0, float *kt) {
    f32x16 m[16];
    for (int c = 0; c < 16; c++) m[c] = keys[c] ? load16(keys[c] + i0) : splat(0.0f);
    SWAP_STAGE(8, LO8, HI8)
    SWAP_STAGE(4, LO4, HI4)
    SWAP_STAGE(2, LO2, HI2)
    SWAP_STAGE(1, LO1, HI1)
    for (int i = 0; i < 16; i++) store16(kt + (size_t)(i0 + i) * KEYS, m[i]);
}

/* S for the key blocks starting at keys [j_begin, j_end) (multiples of KEYS), with
 * kt the thread's K^T block. */
static void tile_scores(const attention_job *J, const tile *T, const tile_arrays *a, int j_begin, int j_end, float *kt) {
    const int d = J->d, d16 = d / 16 * 16;
    const g4k_kv_span *sp = &J->span[T->t0];
    for (int j0 = j_begin; j0 < j_end; j0 += KEYS) {
        const float *keys[KEYS]; /* the block's keys (NULL past the union: zero) */
        for (int c = 0; c < KEYS; c++) keys[c] = j0 + c < a->n_keys ? sp->k + (a->vrows[j0 + c] - sp->v) : NULL;
        for (int c = KEYS; c < 2 * KEYS && j0 + c < a->n_keys; c++) /* the next block's keys, one block ahead */
            for (int i = 0; i < d; i += 16) __builtin_prefetch(sp->k + (a->vrows[j0 + c] - sp->v) + i);
        for (int i0 = 0; i0 < d16; i0 += 16) transpose16(keys, i0, kt);
        for (int c = 0; c < KEYS; c++)
            for (int i = d16; i < d; i++) kt[(size_t)i * KEYS + c] = keys[c] ? keys[c][i] : 0.0f;
        for (int r = 0; r < a->rows_pad; r += ROWS)
            scores_block(a->qs + (size_t)r * d, d, kt, a->s + (size_t)r * a->keys_pad + j0, a->keys_pad);
    }
}

/* P = softmax(S) for rows [r_begin, r_end), each over its own span; padding rows 0. */
static void tile_softmax(const attention_job *J, const tile *T, const tile_arrays *a, int r_begin, int r_end) {
    for (int r = r_begin; r < r_end; r++) {
        float *s = a->s + (size_t)r * a->keys_pad;
        if (r < a->n_rows) {
            const g4k_kv_span *t = &J->span[T->t0 + r / T->n_h];
            softmax_span(s, a->keys_pad, t->first - T->lo, t->last - T->lo);
        } else {
            memset(s, 0, (size_t)a->keys_pad * sizeof *s);
        }
    }
}

/* O = P V for the output elements [i_begin, i_end) of every row (i_begin a multiple
 * of 32), then those elements of the real rows to out. The keys go in blocks of
 * KEYS, so that a block's value rows stay in cache while all the rows of the tile
 * use them; each element is a sum in key order. */
static void tile_values(const attention_job *J, const tile *T, const tile_arrays *a, int i_begin, int i_end) {
    const int d = J->d, kp = a->keys_pad, i32 = i_begin + (i_end - i_begin) / 32 * 32;
    for (int r = 0; r < a->rows_pad; r++) memset(a->os + (size_t)r * d + i_begin, 0, (size_t)(i32 - i_begin) * sizeof *a->os);
    for (int j0 = 0; j0 < a->n_keys; j0 += KEYS) {
        const int j1 = j0 + KEYS < a->n_keys ? j0 + KEYS : a->n_keys;
        for (int r = 0; r < a->rows_pad; r += ROWS)
            for (int i0 = i_begin; i0 < i32; i0 += 32)
                values_block(a->s + (size_t)r * kp, kp, a->vrows, j0, j1, i0, a->os + (size_t)r * d, d);
    }
    for (int r = 0; r < a->rows_pad; r++) /* a last part of under 32 elements, in the same order */
        for (int i = i32; i < i_end; i++) {
            float acc = 0.0f;
            for (int j = 0; j < a->n_keys; j++) acc += a->s[(size_t)r * kp + j] * a->vrows[j][i];
            a->os[(size_t)r * d + i] = acc;
        }
    for (int r = 0; r < a->n_rows; r++)
        memcpy(J->out + ((size_t)(T->t0 + r / T->n_h) * J->nq + T->h0 + r % T->n_h) * d + i_begin,
               a->os + (size_t)r * d + i_begin, (size_t)(i_end - i_begin) * sizeof *a->os);
}

/* A whole tile on one thread. */
static void attention_task(void *arg, int task, int thread) {
    const attention_job *J = arg;
    const tile *T = &J->tiles[task];
    const tile_arrays a = arrays_at(J, T, J->scratch + (size_t)thread * J->thread_floats);
    tile_load(J, T, &a);
    tile_scores(J, T, &a, 0, a.keys_pad, k_block_of(J, thread));
    tile_softmax(J, T, &a, 0, a.rows_pad);
    tile_values(J, T, &a, 0, J->d);
}

/* One tile over all threads (decoding, where a token has fewer tiles than there
 * are threads): the steps as parallel-fors over key blocks, rows and output
 * elements, each element computed exactly as attention_task computes it. The
 * tile's arrays are thread 0's; every thread transposes keys into its own block. */
#define SPLIT_KEYS (4 * KEYS)   /* keys of a scores task */
#define SPLIT_ELEMS 64          /* output elements of a values task (a multiple of 32) */

typedef struct {
    const attention_job *J;
    const tile *T;
    tile_arrays a;
} split_job;

static void split_scores_task(void *arg, int task, int thread) {
    const split_job *S = arg;
    const int j0 = task * SPLIT_KEYS, j1 = j0 + SPLIT_KEYS < S->a.keys_pad ? j0 + SPLIT_KEYS : S->a.keys_pad;
    tile_scores(S->J, S->T, &S->a, j0, j1, k_block_of(S->J, thread));
}

static void split_softmax_task(void *arg, int task, int thread) {
    (void)thread;
    const split_job *S = arg;
    tile_softmax(S->J, S->T, &S->a, task, task + 1);
}

static void split_values_task(void *arg, int task, int thread) {
    (void)thread;
    const split_job *S = arg;
    const int i0 = task * SPLIT_ELEMS, i1 = i0 + SPLIT_ELEMS < S->J->d ? i0 + SPLIT_ELEMS : S->J->d;
    tile_values(S->J, S->T, &S->a, i0, i1);
}

static void attention_split(g4k_pool *pool, const attention_job *J, const tile *T) {
    split_job S = {.J = J, .T = T, .a = arrays_at(J, T, J->scratch)};
    tile_load(J, T, &S.a);
    g4k_pool_run(pool, (S.a.keys_pad + SPLIT_KEYS - 1) / SPLIT_KEYS, split_scores_task, &S);
    g4k_pool_run(pool, S.a.rows_pad, split_softmax_task, &S);
    g4k_pool_run(pool, (J->d + SPLIT_ELEMS - 1) / SPLIT_ELEMS, split_values_task, &S);
}

/* Below this many multiply-adds in all, attention stays on the calling thread. */
#define MIN_PARALLEL_MACS (1 << 15)

/* Heads per task: all of a KV head's, unless that leaves threads idle on a short
 * batch and the halves still fill the ROWS rows of the micro-kernels. */
static int heads_per_task(int n_tok, int nq, int nkv, int n_threads) {
    const int per_group = nq / nkv;
    int n_h = per_group;
    while (n_h % 2 == 0 && n_h > ROWS && (int64_t)n_tok * nkv * (per_group / n_h) < 2 * n_threads) n_h /= 2;
    while (n_h > TILE_ROWS && n_h % 2 == 0) n_h /= 2;
    return n_h;
}

/* Extends run `cur` (tokens of one ring, at most max_t, their spans within ring +
 * max_t keys together) by token t if it fits; false to start a new run. */
static bool extend_run(tile *cur, const g4k_kv_span *span, int t, int max_t, int ring) {
    const int lo = span[t].first < cur->lo ? span[t].first : cur->lo;
    const int hi = span[t].last > cur->hi ? span[t].last : cur->hi;
    if (cur->n_t >= max_t || span[t].k != span[cur->t0].k || hi - lo + 1 > ring + max_t) return false;
    cur->n_t++, cur->lo = lo, cur->hi = hi;
    return true;
}

/* Floats of a thread's scratch (attention_task) for unions of up to `keys` keys. */
static size_t thread_floats(int d, size_t keys) {
    const size_t pointers = (keys * sizeof(float *) + sizeof(float) - 1) / sizeof(float);
    return (size_t)TILE_ROWS * d * 2 + (size_t)d * KEYS + pointers + (size_t)TILE_ROWS * keys;
}

size_t g4k_attention_scratch_size(int n_threads, int n_tok, int nq, int d, int max_span) {
    const size_t keys = (size_t)(max_span + TILE_ROWS + KEYS - 1) / KEYS * KEYS;
    const size_t tiles = ((size_t)n_tok * nq * sizeof(tile) + sizeof(float) - 1) / sizeof(float);
    return tiles + (size_t)n_threads * thread_floats(d, keys);
}

void g4k_attention(g4k_pool *pool, float *out, const float *q, int n_tok, int nq, int nkv, int d,
                   const g4k_kv_span *span, int ring, float *scratch, size_t scratch_len) {
    const int n_threads = g4k_pool_size(pool), per_group = nq / nkv;
    const int n_h = heads_per_task(n_tok, nq, nkv, n_threads), max_t = n_h >= TILE_ROWS ? 1 : TILE_ROWS / n_h;
    tile *tiles = (tile *)scratch;
    int n_tiles = 0, max_keys = 0;
    int64_t macs = 0;
    for (int t = 0; t < n_tok;) { /* runs of tokens, each times the head groups */
        tile run = {.t0 = t, .n_t = 1, .lo = span[t].first, .hi = span[t].last};
        for (t++; t < n_tok && extend_run(&run, span, t, max_t, ring); t++) {}
        const int keys = (run.hi - run.lo + 1 + KEYS - 1) / KEYS * KEYS;
        max_keys = keys > max_keys ? keys : max_keys;
        macs += (int64_t)keys * run.n_t * nq * d * 2;
        for (int g = 0; g < nkv; g++)
            for (int h0 = g * per_group; h0 < (g + 1) * per_group; h0 += n_h) {
                tiles[n_tiles] = run;
                tiles[n_tiles].g = g, tiles[n_tiles].h0 = h0, tiles[n_tiles].n_h = n_h;
                n_tiles++;
            }
    }
    const size_t tile_floats = ((size_t)n_tok * nq * sizeof(tile) + sizeof(float) - 1) / sizeof(float);
    (void)scratch_len; /* g4k_attention_scratch_size floats: enough by construction */
    attention_job job = {.out = out, .q = q, .nq = nq, .nkv = nkv, .d = d, .ring = ring, .span = span,
                         .tiles = tiles, .scratch = scratch + tile_floats, .thread_floats = thread_floats(d, max_keys),
                         .max_keys = max_keys};
    if (macs < MIN_PARALLEL_MACS) pool = NULL;
    if (n_tiles < g4k_pool_size(pool) && max_keys >= 2 * SPLIT_KEYS)
        for (int i = 0; i < n_tiles; i++) attention_split(pool, &job, &tiles[i]);
    else
        g4k_pool_run(pool, n_tiles, attention_task, &job);
}
