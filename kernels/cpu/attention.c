/* attention.c: causal attention of a batch of query tokens over the KV rings.
 *
 * A task takes a tile of query rows that read the same keys: a few consecutive
 * tokens of one sequence times the query heads of one KV head. Over the union of
 * their spans it computes, in blocks of 16 keys,
 *   S = Q K^T          8 rows x 16 keys at a time, the keys transposed so that one
 *                      vector load of K serves 8 rows (a small matrix product);
 *   P = softmax(S)     per row over its own span only, the other keys get 0;
 *   O = P V            8 rows x 16 output elements at a time.
 * Every element is a sum in one fixed order (S over the head dimension, O over the
 * keys, where a key outside a row's span adds an exact zero), so a row's result does
 * not depend on the tile, the batch or the thread that computes it: batched prompts
 * agree with token-by-token decoding to the bit. The vectors are the compiler's
 * vector extensions, 16 floats wide. */
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

/* o_r[i0 .. i0+16) = sum_j p_r[j] v_j[i0 ..] over the n keys whose value rows are
 * vrows[j], for ROWS rows. */
static void values_block(const float *p, int p_stride, const float *const *vrows, int n, int i0, float *o, int d) {
    f32x16 acc[ROWS] = {0};
    for (int j = 0; j < n; j++) {
        const f32x16 vj = load16(vrows[j] + i0);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) acc[r] += splat(p[(size_t)r * p_stride + j]) * vj;
    }
    for (int r = 0; r < ROWS; r++) store16(o + (size_t)r * d + i0, acc[r]);
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

static void attention_task(void *arg, int task, int thread) {
    const attention_job *J = arg;
    const tile *T = &J->tiles[task];
    const int d = J->d, n_keys = T->hi - T->lo + 1, keys_pad = (n_keys + KEYS - 1) / KEYS * KEYS;
    const int n_rows = T->n_t * T->n_h, rows_pad = (n_rows + ROWS - 1) / ROWS * ROWS;
    const size_t row = (size_t)J->nkv * d, off = (size_t)T->g * d;
    const g4k_kv_span *sp = &J->span[T->t0];

    /* per-thread scratch: Q rows, O rows (both d wide, padded), K^T block, the value
     * rows of the keys, S rows */
    float *qs = J->scratch + (size_t)thread * J->thread_floats, *os = qs + (size_t)TILE_ROWS * d;
    float *kt = os + (size_t)TILE_ROWS * d;
    const float **vrows = (const float **)(kt + (size_t)d * KEYS);
    float *s = (float *)(vrows + J->max_keys);
    for (int r = 0; r < rows_pad; r++) {
        float *dst = qs + (size_t)r * d;
        if (r < n_rows)
            memcpy(dst, J->q + ((size_t)(T->t0 + r / T->n_h) * J->nq + T->h0 + r % T->n_h) * d, (size_t)d * sizeof *dst);
        else
            memset(dst, 0, (size_t)d * sizeof *dst);
    }
    for (int j = 0, slot = T->lo % J->ring; j < n_keys; j++, slot = slot + 1 == J->ring ? 0 : slot + 1)
        vrows[j] = sp->v + (size_t)slot * row + off;

    for (int j0 = 0; j0 < keys_pad; j0 += KEYS) {
        for (int c = 0; c < KEYS; c++) { /* the block's keys, transposed (zero past the union) */
            if (j0 + c < n_keys) {
                const float *k = sp->k + (vrows[j0 + c] - sp->v);
                for (int i = 0; i < d; i++) kt[(size_t)i * KEYS + c] = k[i];
            } else {
                for (int i = 0; i < d; i++) kt[(size_t)i * KEYS + c] = 0.0f;
            }
        }
        for (int r = 0; r < rows_pad; r += ROWS) scores_block(qs + (size_t)r * d, d, kt, s + (size_t)r * keys_pad + j0, keys_pad);
    }
    for (int r = 0; r < n_rows; r++) {
        const g4k_kv_span *t = &J->span[T->t0 + r / T->n_h];
        softmax_span(s + (size_t)r * keys_pad, keys_pad, t->first - T->lo, t->last - T->lo);
    }
    for (int r = n_rows; r < rows_pad; r++) memset(s + (size_t)r * keys_pad, 0, (size_t)keys_pad * sizeof *s);

    const int d16 = d / 16 * 16;
    for (int r = 0; r < rows_pad; r += ROWS) {
        for (int i0 = 0; i0 < d16; i0 += 16) values_block(s + (size_t)r * keys_pad, keys_pad, vrows, n_keys, i0, os + (size_t)r * d, d);
        for (int rr = r; rr < r + ROWS; rr++) /* the last d % 16 elements, in the same order */
            for (int i = d16; i < d; i++) {
                float acc = 0.0f;
                for (int j = 0; j < n_keys; j++) acc += s[(size_t)rr * keys_pad + j] * vrows[j][i];
                os[(size_t)rr * d + i] = acc;
            }
    }
    for (int r = 0; r < n_rows; r++)
        memcpy(J->out + ((size_t)(T->t0 + r / T->n_h) * J->nq + T->h0 + r % T->n_h) * d, os + (size_t)r * d,
               (size_t)d * sizeof *os);
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
    g4k_pool_run(macs < MIN_PARALLEL_MACS ? NULL : pool, n_tiles, attention_task, &job);
}
