/* test_dot.c: the matmul's dot-product kernels (kernels/cpu/dot*.c). For every
 * weight type, several row lengths and value distributions:
 *   1. each SIMD kernel (AVX2, AVX-512) agrees with the scalar one to 1e-5 of
 *      sum|w_i*a_i| (the integer block sums are exact in all; only the order of
 *      the float accumulation differs), on quantized rows, on rows of random
 *      bytes, and on odd numbers of blocks; dot_rows agrees with dot exactly;
 *   2. the scalar kernel on the quantized activations is within the measured
 *      activation-quantization error of the exact (double) dot of the
 *      dequantized weights with the original f32 activations;
 *   3. when G4_PEER_LIB_DIR names llama.cpp's library directory, ggml's own
 *      vec_dot (libggml-cpu-haswell.so, and -sapphirerapids.so or -icelake.so
 *      where this CPU runs them) agrees with ours to the same bound as 1.
 * A Release build also prints the GB/s of weights that one thread streams in a
 * matrix-vector product (4096 x 4096, mostly cache-resident, and 262144 rows of
 * 1536, the LM head's shape, from memory), for each of our kernels row by row,
 * the fastest one's dot_rows, and ggml's vec_dot (no assertion). */
#include "testutil.h"

#include "backend.h"
#include "cpu/dot.h"
#include "model/quant.h"
#include "peerggml.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Weight types in priority order. */
static const enum g4_type k_types[] = {
    G4_TYPE_Q8_0, G4_TYPE_Q4_K, G4_TYPE_Q6_K, G4_TYPE_BF16, G4_TYPE_Q4_0, G4_TYPE_Q5_K,
    G4_TYPE_F16,  G4_TYPE_Q2_K, G4_TYPE_Q3_K, G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q5_1,
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* Our implementations; the first is the oracle. */
static const struct {
    const char *name;
    const g4k_dot_kernel *(*get)(enum g4_type);
} k_impls[] = {{"scalar", g4k_dot_scalar}, {"avx2", g4k_dot_avx2}, {"avx512", g4k_dot_avx512}};
#define N_IMPLS (sizeof k_impls / sizeof k_impls[0])

static const int k_lengths[] = {256, 768, 2048, 4096, 8192};
#define N_LENGTHS (sizeof k_lengths / sizeof k_lengths[0])
#define N_DISTS 5
#define MAX_N 8192

/* Bound of check 1 (and 3), relative to sum |w_i * a_i|. */
#define ORDER_TOL 1e-5

/* ---- data ------------------------------------------------------------------------ */

static const char *const k_dist_names[N_DISTS] = {"gauss", "uniform", "heavy-tail", "outliers", "offset"};

static void fill(float *x, int n, int dist, uint64_t seed) {
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        float g = tu_rng_gauss(&rng);
        switch (dist) {
        case 0: x[i] = g * 0.02f; break;
        case 1: x[i] = (float)(2 * tu_rng_uniform(&rng) - 1); break;
        case 2: x[i] = g * g * g; break;
        case 3: x[i] = tu_rng_uniform(&rng) < 0.01 ? g * 50 : g; break; /* activation-like outliers */
        default: x[i] = 0.5f + 0.1f * g; break;                      /* all one sign */
        }
    }
}

/* A row of random bytes whose f16 scale fields (d, dmin, m) are finite values
 * in [2^-8, 2^-4) with a random sign, so that every quant and sub-block scale
 * pattern occurs. Not for the float types. */
static void fill_random_blocks(enum g4_type type, uint8_t *row, int n, uint64_t seed) {
    const g4_type_traits *t = g4_type_info(type);
    const size_t bytes = g4_row_size(type, n);
    uint64_t rng = seed;
    for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)tu_rng_next(&rng);
    /* offsets of the f16 fields in a block (d first in the 32-element types,
     * then m in those with a minimum) */
    int f16_at[2] = {0, -1};
    switch (type) {
    case G4_TYPE_Q4_1: case G4_TYPE_Q5_1: f16_at[1] = 2; break;
    case G4_TYPE_Q2_K: f16_at[0] = offsetof(g4k_block_q2_K, d), f16_at[1] = offsetof(g4k_block_q2_K, dmin); break;
    case G4_TYPE_Q3_K: f16_at[0] = offsetof(g4k_block_q3_K, d); break;
    case G4_TYPE_Q4_K: f16_at[0] = offsetof(g4k_block_q4_K, d), f16_at[1] = offsetof(g4k_block_q4_K, dmin); break;
    case G4_TYPE_Q5_K: f16_at[0] = offsetof(g4k_block_q5_K, d), f16_at[1] = offsetof(g4k_block_q5_K, dmin); break;
    case G4_TYPE_Q6_K: f16_at[0] = offsetof(g4k_block_q6_K, d); break;
    default: break;
    }
    for (size_t b = 0; b < bytes / (size_t)t->type_size; b++)
        for (int f = 0; f < 2 && f16_at[f] >= 0; f++) {
            const uint16_t h = (uint16_t)(0x1c00 + tu_rng_next(&rng) % 0x1000) | (tu_rng_next(&rng) & 1 ? 0x8000 : 0);
            memcpy(row + b * (size_t)t->type_size + f16_at[f], &h, 2);
        }
}

typedef struct {
    float w[MAX_N], wd[MAX_N], x[MAX_N], xa[MAX_N];
    uint8_t wq[MAX_N * 4], act[MAX_N * 4];
} bufs;

/* Dequantized activation row, and the extra error bound of Q8_1's f16 block sums
 * for weight types with minimums (sum of |m_w * s_a| * 2^-11 over blocks). */
static double dequantize_act(const g4k_dot_kernel *k, enum g4_type wtype, const bufs *b, float *xa, int n) {
    if (k->act_type == G4_TYPE_F32) {
        memcpy(xa, b->act, (size_t)n * 4);
        return 0;
    }
    g4_dequantize_row(k->act_type, b->act, xa, n);
    double extra = 0;
    if (k->act_type == G4_TYPE_Q8_1) {
        const g4k_block_q8_1 *a = (const void *)b->act;
        for (int i = 0; i < n / 32; i++) {
            uint16_t m;
            memcpy(&m, b->wq + (size_t)i * (wtype == G4_TYPE_Q4_1 ? 20 : 24) + 2, 2);
            extra += fabs((double)g4_f16_to_f32(m) * g4_f16_to_f32(a[i].s)) * 0x1p-11;
        }
    }
    return extra;
}

/* sum |w_i * a_i| of the dequantized weight row b->wq and activations xa. */
static double sum_abs_products(enum g4_type type, bufs *b, const float *xa, int n) {
    g4_dequantize_row(type, b->wq, b->wd, n);
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs((double)b->wd[i] * xa[i]);
    return s;
}

/* Every SIMD kernel against the scalar one on the row in b->wq and the
 * activations in b->act (to ORDER_TOL * s_abs), and its dot_rows against its
 * dot; records the largest relative difference per implementation. */
static void check_simd(enum g4_type type, const bufs *b, int n, double s_abs, const char *what,
                       double worst[N_IMPLS]) {
    const double s = g4k_dot_scalar(type)->dot(b->wq, b->act, n);
    for (size_t i = 1; i < N_IMPLS; i++) {
        const g4k_dot_kernel *k = k_impls[i].get(type);
        if (!k) continue;
        const double v = k->dot(b->wq, b->act, n);
        if (!(fabs(v - s) <= ORDER_TOL * s_abs))
            fail_msg("%s %s n=%d %s: %.9g scalar %.9g (S %.3g)", k_impls[i].name, g4_type_info(type)->name, n, what,
                     v, s, s_abs);
        if (s_abs > 0) worst[i] = fmax(worst[i], fabs(v - s) / s_abs);
    }
}

/* ---- checks 1 and 2 ------------------------------------------------------------------ */

static void test_kernels(void **state) {
    (void)state;
    bufs *b = malloc(sizeof *b);
    assert_non_null(b);
    printf("  type  |simd-scalar|/S: avx2      avx512    |scalar-exact|/S  |scalar-exact|/E\n"
           "  (max over %zu lengths x %d distributions and random bytes; S = sum|w*a|,\n"
           "   E = sum|w|*|a_q-a|, the measured activation-quantization error; -: no kernel)\n",
           N_LENGTHS, N_DISTS);
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        const g4k_dot_kernel *ks = g4k_dot_scalar(type), *kf = g4k_dot_for(type);
        assert_non_null(ks);
        /* g4k_dot_for picks the widest available */
        const g4k_dot_kernel *best = ks;
        for (size_t i = 1; i < N_IMPLS; i++)
            if (k_impls[i].get(type)) best = k_impls[i].get(type);
        assert_ptr_equal(kf, best);
        double worst[N_IMPLS] = {0}, worst_rel = 0, worst_vs_e = 0;
        for (size_t li = 0; li < N_LENGTHS; li++) {
            const int n = k_lengths[li];
            assert_true(ks->act_row_size(n) <= sizeof b->act);
            for (int dist = 0; dist < N_DISTS; dist++) {
                uint64_t seed = 1000 * t + 10 * li + (uint64_t)dist;
                fill(b->w, n, dist, seed);
                fill(b->x, n, (dist + 3) % N_DISTS, seed ^ 0xabcdef);
                g4_quantize_row(type, b->w, b->wq, n);
                ks->quantize_act(b->x, b->act, n);
                const double extra = dequantize_act(ks, type, b, b->xa, n);
                const double s_abs = sum_abs_products(type, b, b->xa, n);

                double exact = 0, e_act = 0;
                for (int i = 0; i < n; i++) {
                    exact += (double)b->wd[i] * b->x[i];
                    e_act += fabs((double)b->wd[i]) * fabs((double)b->xa[i] - b->x[i]);
                }
                const double s = ks->dot(b->wq, b->act, n);
                const double err = fabs(s - exact), bound = e_act + extra + ORDER_TOL * s_abs + 1e-30;
                if (err > bound)
                    fail_msg("%s n=%d %s: scalar %.9g exact %.9g err %.3g > bound %.3g", g4_type_info(type)->name,
                             n, k_dist_names[dist], s, exact, err, bound);
                if (s_abs > 0) worst_rel = fmax(worst_rel, err / s_abs);
                if (e_act + extra > 0) worst_vs_e = fmax(worst_vs_e, err / (e_act + extra));
                check_simd(type, b, n, s_abs, k_dist_names[dist], worst);

                if (ks->act_type != G4_TYPE_F32) { /* the same activations, weights of random bytes */
                    fill_random_blocks(type, b->wq, n, seed ^ 0x5eed);
                    check_simd(type, b, n, sum_abs_products(type, b, b->xa, n), "random bytes", worst);
                }
            }
        }
        printf("  %-5s                ", g4_type_info(type)->name);
        for (size_t i = 1; i < N_IMPLS; i++)
            k_impls[i].get(type) ? printf("%-9.3g ", worst[i]) : printf("%-9s ", "-");
        printf(" %-16.3g  %.3g\n", worst_rel, worst_vs_e);
    }
    free(b);
}

/* Odd numbers of blocks, float rows of any length starting anywhere (rows
 * start wherever their blocks put them in a matrix), and zero activations. */
static void test_odd_lengths_and_zeros(void **state) {
    (void)state;
    bufs *b = calloc(1, sizeof *b);
    assert_non_null(b);
    for (size_t t = 0; t < N_TYPES; t++) {
        const enum g4_type type = k_types[t];
        const g4k_dot_kernel *ks = g4k_dot_scalar(type);
        const int bs = (int)g4_type_info(type)->block_size;
        if (bs == 1) continue;
        for (int blocks = 1; blocks <= 7; blocks += 2) {
            const int n = bs * blocks;
            fill(b->w, n, 1, (uint64_t)n);
            fill(b->x, n, 0, (uint64_t)n + 7);
            g4_quantize_row(type, b->w, b->wq, n);
            ks->quantize_act(b->x, b->act, n);
            dequantize_act(ks, type, b, b->xa, n);
            double worst[N_IMPLS] = {0};
            check_simd(type, b, n, sum_abs_products(type, b, b->xa, n), "odd block count", worst);
        }
    }
    const enum g4_type ftypes[] = {G4_TYPE_BF16, G4_TYPE_F16};
    for (int t = 0; t < 2; t++) {
        const g4k_dot_kernel *ks = g4k_dot_scalar(ftypes[t]);
        for (int n = 1; n < 150; n++) {
            fill(b->w, n, 0, (uint64_t)n);
            fill(b->x, n, 1, (uint64_t)n + 7);
            g4_quantize_row(ftypes[t], b->w, b->wq + 2, n); /* offset by one element */
            ks->quantize_act(b->x, b->act, n);
            g4_dequantize_row(ftypes[t], b->wq + 2, b->wd, n);
            double s_abs = 0;
            for (int i = 0; i < n; i++) s_abs += fabs((double)b->wd[i] * b->x[i]);
            const double s = ks->dot(b->wq + 2, b->act, n);
            for (size_t i = 1; i < N_IMPLS; i++) {
                const g4k_dot_kernel *k = k_impls[i].get(ftypes[t]);
                if (k && !(fabs(k->dot(b->wq + 2, b->act, n) - s) <= ORDER_TOL * s_abs))
                    fail_msg("%s %s n=%d", k_impls[i].name, g4_type_info(ftypes[t])->name, n);
            }
        }
    }
    /* all-zero activations give 0 for every type and implementation */
    for (size_t t = 0; t < N_TYPES; t++) {
        fill(b->w, 512, 0, t);
        memset(b->x, 0, sizeof b->x);
        g4_quantize_row(k_types[t], b->w, b->wq, 512);
        for (size_t i = 0; i < N_IMPLS; i++) {
            const g4k_dot_kernel *k = k_impls[i].get(k_types[t]);
            if (!k) continue;
            k->quantize_act(b->x, b->act, 512);
            assert_true(k->dot(b->wq, b->act, 512) == 0.0f);
        }
    }
    assert_null(g4k_dot_for(G4_TYPE_F32));
    assert_null(g4k_dot_for(G4_TYPE_Q8_K));
    assert_null(g4k_dot_for((enum g4_type)99));
    for (size_t i = 0; i < N_IMPLS; i++) assert_null(k_impls[i].get((enum g4_type)-1));
    free(b);
}

/* dot_rows gives exactly what dot gives, row by row, for any number of rows
 * (whole groups and the rest) and rows spaced wider than their size. */
static void test_dot_rows(void **state) {
    (void)state;
    enum { ROWS = 11, PAD = 6 };
    bufs *b = calloc(1, sizeof *b);
    uint8_t *mat = malloc((size_t)ROWS * (MAX_N * 4 + PAD));
    float out[ROWS];
    assert_true(b && mat);
    for (size_t t = 0; t < N_TYPES; t++) {
        const enum g4_type type = k_types[t];
        const int bs = (int)g4_type_info(type)->block_size;
        const int lengths[] = {bs == 1 ? 100 : 3 * bs, 2048};
        for (int li = 0; li < 2; li++) {
            const int n = lengths[li];
            const size_t row_bytes = g4_row_size(type, n) + (bs == 1 ? 2 : 0) + PAD * (li == 1);
            for (int r = 0; r < ROWS; r++) {
                fill(b->w, n, r % N_DISTS, 77 * t + (uint64_t)r);
                g4_quantize_row(type, b->w, mat + (size_t)r * row_bytes, n);
            }
            fill(b->x, n, 3, t);
            for (size_t i = 0; i < N_IMPLS; i++) {
                const g4k_dot_kernel *k = k_impls[i].get(type);
                if (!k) continue;
                k->quantize_act(b->x, b->act, n);
                for (int rows = 0; rows <= ROWS; rows++) {
                    memset(out, 0xff, sizeof out);
                    k->dot_rows(mat, row_bytes, rows, b->act, n, out);
                    for (int r = 0; r < rows; r++) {
                        const float one = k->dot(mat + (size_t)r * row_bytes, b->act, n);
                        if (memcmp(&one, &out[r], sizeof one) != 0)
                            fail_msg("%s %s n=%d: dot_rows(%d rows)[%d] = %.9g, dot %.9g", k_impls[i].name,
                                     g4_type_info(type)->name, n, rows, r, out[r], one);
                    }
                    for (int r = rows; r < ROWS; r++) assert_true(isnan(out[r])); /* untouched */
                }
            }
        }
    }
    free(mat);
    free(b);
}

/* ---- Q8_0 repacked into 16-row groups (Q8_0_R16) ------------------------------------- */

/* Row w of Q8_0 blocks with the activations a in the order dot.h gives Q8_0_R16:
 * the exact integer sum per block, then sum = fma(sum_i, d_w * d_a, sum). */
static float q8_0_fma_order(const g4k_block_q8_0 *w, const g4k_block_q8_0 *a, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += w[b].qs[j] * a[b].qs[j];
        sum = fmaf((float)sumi, g4_f16_to_f32(w[b].d) * g4_f16_to_f32(a[b].d), sum);
    }
    return sum;
}

/* dot_rows_tokens over 1 to 11 tokens (a pass and a part) gives every token the
 * bits dot_rows gives it, and writes nothing past the rows asked for. */
static void check_rows_tokens(const g4k_dot_kernel *k, const uint8_t *w, size_t row_bytes, int rows, int n,
                              const char *name) {
    enum { MAX_TOK = 11 };
    const size_t act_bytes = k->act_row_size(n), stride = (size_t)rows + 5;
    char *act = malloc(MAX_TOK * act_bytes);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc(MAX_TOK * stride * sizeof *y), one[64];
    assert_true(act && x && y && rows <= 64);
    for (int t = 0; t < MAX_TOK; t++) {
        fill(x, n, t % N_DISTS, 977 + (uint64_t)t);
        k->quantize_act(x, act + t * act_bytes, n);
    }
    for (int n_tok = 1; n_tok <= MAX_TOK; n_tok++) {
        memset(y, 0xff, MAX_TOK * stride * sizeof *y);
        k->dot_rows_tokens(w, row_bytes, rows - 3, act, act_bytes, n_tok, n, y, stride);
        for (int t = 0; t < n_tok; t++) {
            k->dot_rows(w, row_bytes, rows - 3, act + t * act_bytes, n, one);
            if (memcmp(one, y + t * stride, (size_t)(rows - 3) * sizeof *y))
                fail_msg("%s n=%d: dot_rows_tokens of %d tokens differs from dot_rows at token %d", name, n, n_tok, t);
            for (size_t r = (size_t)rows - 3; r < stride; r++) assert_true(isnan(y[t * stride + r]));
        }
    }
    free(act), free(x), free(y);
}

/* A Q8_0 matrix repacked with g4k_repack, against the same rows unrepacked: every
 * implementation gives, for every row, the bits of q8_0_fma_order on the original
 * blocks (so the layout is right and the integer sums exact), within 1e-5 of
 * sum|w*a| of the Q8_0 kernels; the single-row dot gives the same bits; and so do
 * row ranges split at any group and a last group of fewer than 16 rows. */
static void test_q8_0_r16(void **state) {
    (void)state;
    enum { ROWS = 48 };
    static const int lengths[] = {32, 96, 1536, 2080};
    bufs *b = calloc(1, sizeof *b);
    float *out = malloc(ROWS * sizeof *out), *part = malloc(ROWS * sizeof *part), *ref = malloc(ROWS * sizeof *ref);
    assert_true(b && out && part && ref);
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
        const int n = lengths[li];
        const size_t row_bytes = g4_row_size(G4_TYPE_Q8_0, n);
        uint8_t *plain = malloc(ROWS * row_bytes), *packed = aligned_alloc(64, (ROWS * row_bytes + 63) / 64 * 64);
        double *s_abs = malloc(ROWS * sizeof *s_abs);
        assert_true(plain && packed && s_abs);
        for (int r = 0; r < ROWS; r++) {
            uint8_t *row = plain + (size_t)r * row_bytes;
            if (r % 5 == 4) {
                fill_random_blocks(G4_TYPE_Q8_0, row, n, 31 * li + (uint64_t)r);
            } else {
                fill(b->w, n, r % N_DISTS, 31 * li + (uint64_t)r);
                g4_quantize_row(G4_TYPE_Q8_0, b->w, row, n);
            }
        }
        const g4k_matrix w = {.type = G4_TYPE_Q8_0, .n_in = n, .n_out = ROWS, .row_bytes = row_bytes, .data = plain};
        const g4k_matrix wr = g4k_repack(&w, packed);
        assert_int_equal(wr.type, G4_TYPE_Q8_0_R16);
        assert_true(wr.row_bytes == row_bytes && wr.data == packed);

        fill(b->x, n, 3, li);
        const g4k_dot_kernel *ks = g4k_dot_scalar(G4_TYPE_Q8_0);
        ks->quantize_act(b->x, b->act, n);
        g4_dequantize_row(G4_TYPE_Q8_0, b->act, b->xa, n);
        for (int r = 0; r < ROWS; r++) {
            memcpy(b->wq, plain + (size_t)r * row_bytes, row_bytes);
            s_abs[r] = sum_abs_products(G4_TYPE_Q8_0, b, b->xa, n);
            ref[r] = q8_0_fma_order((const g4k_block_q8_0 *)b->wq, (const g4k_block_q8_0 *)b->act, n);
            const double q8 = ks->dot(b->wq, b->act, n);
            if (!(fabs(ref[r] - q8) <= ORDER_TOL * s_abs[r])) fail_msg("n=%d row %d: %.9g, Q8_0 %.9g", n, r, ref[r], q8);
        }
        for (size_t i = 0; i < N_IMPLS; i++) {
            const g4k_dot_kernel *k = k_impls[i].get(G4_TYPE_Q8_0_R16);
            if (!k) continue;
            assert_int_equal(k->act_type, G4_TYPE_Q8_0);
            k->dot_rows(packed, row_bytes, ROWS, b->act, n, out);
            for (int r = 0; r < ROWS; r++) {
                if (memcmp(&out[r], &ref[r], sizeof *out) != 0)
                    fail_msg("%s n=%d row %d: dot_rows %.9g, Q8_0 blocks in fma order %.9g", k_impls[i].name, n, r,
                             out[r], ref[r]);
                const float one = k->dot(g4k_q8_0_r16_row(packed, row_bytes, r), b->act, n);
                if (memcmp(&one, &out[r], sizeof one) != 0)
                    fail_msg("%s n=%d row %d: dot %.9g, dot_rows %.9g", k_impls[i].name, n, r, one, out[r]);
            }
            /* split at a group as the matmul's tasks are; the last range 8 rows short */
            memset(part, 0xff, ROWS * sizeof *part);
            k->dot_rows(packed, row_bytes, 16, b->act, n, part);
            k->dot_rows(packed + 16 * row_bytes, row_bytes, ROWS - 16 - 8, b->act, n, part + 16);
            assert_memory_equal(part, out, (ROWS - 8) * sizeof *part);
            for (int r = ROWS - 8; r < ROWS; r++) assert_true(isnan(part[r])); /* untouched */
            if (k->dot_rows_tokens) check_rows_tokens(k, packed, row_bytes, ROWS, n, k_impls[i].name);
        }
        free(plain);
        free(packed);
        free(s_abs);
    }
    assert_non_null(g4k_dot_for(G4_TYPE_Q8_0_R16));
    assert_ptr_equal(g4k_dot_for(G4_TYPE_Q8_0_R16),
                     g4k_dot_avx512(G4_TYPE_Q8_0_R16) ? g4k_dot_avx512(G4_TYPE_Q8_0_R16) : g4k_dot_scalar(G4_TYPE_Q8_0_R16));
    free(out);
    free(part);
    free(ref);
    free(b);
}

/* What may be repacked: Q8_0 of whole 16-row groups, where the CPU has the kernel. */
static void test_repacked_size(void **state) {
    (void)state;
    const size_t row_bytes = g4_row_size(G4_TYPE_Q8_0, 256);
    g4k_matrix w = {.type = G4_TYPE_Q8_0, .n_in = 256, .n_out = 32, .row_bytes = row_bytes, .data = &w};
    const size_t expect = g4k_dot_avx512(G4_TYPE_Q8_0_R16) ? 32 * row_bytes : 0;
    assert_true(g4k_repacked_size(&w) == expect);
    w.n_out = 40;
    assert_true(g4k_repacked_size(&w) == 0);
    w = (g4k_matrix){.type = G4_TYPE_Q4_0, .n_in = 256, .n_out = 32, .row_bytes = g4_row_size(G4_TYPE_Q4_0, 256)};
    assert_true(g4k_repacked_size(&w) == 0);
}

/* ---- the peer: ggml's CPU kernels ---------------------------------------------------- */

/* ggml's AVX2 build, and its widest AVX-512 build this CPU runs. */
enum { PEER_AVX2, PEER_AVX512, N_PEERS };
typedef struct {
    peer_base base;
    peer_cpu cpu[N_PEERS];
} peers;

static int peers_setup(void **state) {
    static peers p;
    memset(&p, 0, sizeof p);
    *state = &p;
    if (peer_base_open(&p.base) != 0) return 0;
    peer_cpu_open(&p.cpu[PEER_AVX2], "haswell");
    if (peer_cpu_open(&p.cpu[PEER_AVX512], "sapphirerapids") != 0) peer_cpu_open(&p.cpu[PEER_AVX512], "icelake");
    return 0;
}

static int peers_teardown(void **state) {
    peers *p = *state;
    for (int i = 0; i < N_PEERS; i++) peer_cpu_close(&p->cpu[i]);
    peer_base_close(&p->base);
    return 0;
}

/* ggml's activation row for the weight type: our Q8_* bytes as they are, and
 * for the float types x rounded to ggml's vec_dot_type (BF16, F16) with xa
 * the values it holds, so that our kernel can be given the same activations. */
static void ggml_act(const struct ggml_type_traits_cpu *g, const g4k_dot_kernel *k, const float *x, float *xa,
                     void *gact, int n) {
    if (k->act_type == G4_TYPE_F32) {
        g4_quantize_row((enum g4_type)g->vec_dot_type, x, gact, n);
        g4_dequantize_row((enum g4_type)g->vec_dot_type, gact, xa, n);
    } else {
        k->quantize_act(x, gact, n);
        g4_dequantize_row(k->act_type, gact, xa, n);
    }
}

/* ---- check 3: ggml ------------------------------------------------------------------- */

static void test_ggml_cross_check(void **state) {
    const peers *p = *state;
    if (!p->cpu[PEER_AVX2].lib && !p->cpu[PEER_AVX512].lib) {
        printf("skipped: set G4_PEER_LIB_DIR to the directory of llama.cpp's libggml-cpu-*.so\n");
        skip();
    }
    bufs *b = malloc(sizeof *b);
    uint8_t *gact = malloc(MAX_N * 4);
    assert_true(b && gact);
    printf("  |ggml-ours|/S (max over lengths and distributions) for each of ggml's builds x ours\n  type ");
    for (int c = 0; c < N_PEERS; c++)
        for (size_t i = 0; i < N_IMPLS && p->cpu[c].lib; i++) printf(" %8.8s/%-6s", p->cpu[c].variant, k_impls[i].name);
    printf("\n");
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        printf("  %-5s", g4_type_info(type)->name);
        for (int c = 0; c < N_PEERS; c++) {
            if (!p->cpu[c].lib) continue;
            const struct ggml_type_traits_cpu *g = p->cpu[c].type_traits(type);
            assert_non_null(g);
            assert_non_null(g->vec_dot);
            /* ggml pairs the float types with activations of their own type; we use f32 */
            const g4k_dot_kernel *ks = g4k_dot_scalar(type);
            if (ks->act_type != G4_TYPE_F32) assert_int_equal(g->vec_dot_type, ks->act_type);
            for (size_t i = 0; i < N_IMPLS; i++) {
                const g4k_dot_kernel *k = k_impls[i].get(type);
                double worst = 0;
                for (size_t li = 0; li < N_LENGTHS && k; li++) {
                    const int n = k_lengths[li];
                    for (int dist = 0; dist < N_DISTS; dist++) {
                        uint64_t seed = 5000 + 100 * t + 10 * li + (uint64_t)dist;
                        fill(b->w, n, dist, seed);
                        fill(b->x, n, (dist + 1) % N_DISTS, seed ^ 0x1234);
                        g4_quantize_row(type, b->w, b->wq, n);
                        ggml_act(g, k, b->x, b->xa, gact, n);
                        k->quantize_act(k->act_type == G4_TYPE_F32 ? b->xa : b->x, b->act, n);
                        const double s_abs = sum_abs_products(type, b, b->xa, n);
                        float theirs = 0;
                        g->vec_dot(n, &theirs, 0, b->wq, 0, gact, 0, 1);
                        const double ours = k->dot(b->wq, b->act, n);
                        if (!(fabs(ours - theirs) <= ORDER_TOL * s_abs))
                            fail_msg("%s n=%d %s: ggml %s %.9g ours %s %.9g (S %.3g)", g4_type_info(type)->name, n,
                                     k_dist_names[dist], p->cpu[c].variant, theirs, k_impls[i].name, ours, s_abs);
                        if (s_abs > 0) worst = fmax(worst, fabs(ours - theirs) / s_abs);
                    }
                }
                k ? printf(" %-15.3g", worst) : printf(" %-15s", "-");
            }
        }
        printf("\n");
    }
    free(gact);
    free(b);
}

/* ---- benchmark ----------------------------------------------------------------------- */

#ifdef NDEBUG
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One contender in a benchmark: one of our kernels, row by row or with
 * dot_rows, or one of ggml's vec_dot, with its activation row. */
typedef struct {
    const g4k_dot_kernel *ours;
    int use_dot_rows;
    ggml_vec_dot_t ggml;
    uint8_t *act;
    double best; /* seconds per pass over the matrix */
} contender;

static double time_pass(const contender *c, const uint8_t *w, size_t row_bytes, int rows, int n, float *y) {
    const double t0 = now_s();
    if (c->ggml) {
        for (int r = 0; r < rows; r++) c->ggml(n, &y[r], 0, w + (size_t)r * row_bytes, 0, c->act, 0, 1);
    } else if (c->use_dot_rows) {
        c->ours->dot_rows(w, row_bytes, rows, c->act, n, y);
    } else {
        for (int r = 0; r < rows; r++) y[r] = c->ours->dot(w + (size_t)r * row_bytes, c->act, n);
    }
    return now_s() - t0;
}

/* The GB/s of the Q8_0 matrix w (rows x n) repacked into 16-row groups (Q8_0_R16),
 * with the fastest kernel's dot_rows, best of reps passes; 0 without such a kernel. */
static double bench_q8_0_r16(const uint8_t *w, size_t row_bytes, int rows, int n, const float *x, int reps) {
    const g4k_matrix plain = {.type = G4_TYPE_Q8_0, .n_in = n, .n_out = rows, .row_bytes = row_bytes, .data = w};
    const size_t bytes = g4k_repacked_size(&plain);
    uint8_t *packed = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL, *act = malloc(g4k_act_size_q8_0(n));
    float *y = malloc(sizeof(float) * (size_t)rows);
    double best = 1e30;
    if (packed && act && y) {
        contender c = {g4k_dot_for(G4_TYPE_Q8_0_R16), 1, NULL, act, 1e30};
        g4k_repack(&plain, packed);
        c.ours->quantize_act(x, act, n);
        for (int rep = 0; rep < reps; rep++) best = fmin(best, time_pass(&c, packed, row_bytes, rows, n, y));
    }
    free(packed);
    free(act);
    free(y);
    return best < 1e30 ? (double)bytes / best * 1e-9 : 0;
}

/* One table: every type, every implementation of ours and each ggml build,
 * the best of `reps` passes taken in turns (so that none gains from the caches
 * warmed by another; the scalar kernels, slow, get one pass). */
static void bench_shape(const peers *p, int n, int rows, int reps) {
    enum { DISTINCT = 32, MAX_CONTENDERS = N_IMPLS + 1 + N_PEERS };
    float *x = malloc(sizeof(float) * (size_t)n), *xa = malloc(sizeof(float) * (size_t)n);
    float *src = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)rows);
    uint8_t *acts = malloc((size_t)MAX_CONTENDERS * (size_t)n * 4);
    assert_true(x && xa && src && y && acts);
    fill(x, n, 0, 42);
    printf("  %d rows x %d, one thread, GB/s of weights streamed (dot row by row; rows: dot_rows)\n"
           "  type    MB     ", rows, n);
    for (size_t i = 0; i < N_IMPLS; i++) printf("%-8s", k_impls[i].name);
    printf("%-8s", "rows");
    for (int c = 0; c < N_PEERS; c++)
        if (p->cpu[c].lib) printf("ggml-%-10.10s", p->cpu[c].variant);
    printf("\n");
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        const size_t row_bytes = g4_row_size(type, n);
        uint8_t *w = malloc(row_bytes * (size_t)rows);
        assert_non_null(w);
        for (int r = 0; r < DISTINCT; r++) { /* quantize a few rows, repeat them */
            fill(src, n, r % N_DISTS, 100 + (uint64_t)r);
            g4_quantize_row(type, src, w + (size_t)r * row_bytes, n);
        }
        for (int r = DISTINCT; r < rows; r++)
            memcpy(w + (size_t)r * row_bytes, w + (size_t)(r % DISTINCT) * row_bytes, row_bytes);

        /* ours (NULL: no kernel), the fastest one's dot_rows, then ggml's */
        contender cs[MAX_CONTENDERS];
        int nc = 0;
        for (size_t i = 0; i < N_IMPLS; i++) cs[nc++] = (contender){k_impls[i].get(type), 0, NULL, NULL, 1e30};
        cs[nc++] = (contender){g4k_dot_for(type), 1, NULL, NULL, 1e30};
        for (int c = 0; c < N_PEERS; c++)
            if (p->cpu[c].lib) cs[nc++] = (contender){NULL, 0, p->cpu[c].type_traits(type)->vec_dot, NULL, 1e30};
        for (int i = 0; i < nc; i++) {
            cs[i].act = acts + (size_t)i * (size_t)n * 4;
            if (cs[i].ours) cs[i].ours->quantize_act(x, cs[i].act, n);
            for (int c = 0; c < N_PEERS && cs[i].ggml; c++)
                if (p->cpu[c].lib && p->cpu[c].type_traits(type)->vec_dot == cs[i].ggml)
                    ggml_act(p->cpu[c].type_traits(type), g4k_dot_scalar(type), x, xa, cs[i].act, n);
        }
        for (int rep = 0; rep < reps; rep++)
            for (int i = 0; i < nc; i++) {
                if (!cs[i].ours && !cs[i].ggml) continue;
                if (i == 0 && rep > 0) continue; /* scalar: one pass */
                const double dt = time_pass(&cs[i], w, row_bytes, rows, n, y);
                if (dt < cs[i].best) cs[i].best = dt;
            }
        printf("  %-5s %7.1f  ", g4_type_info(type)->name, row_bytes * (double)rows / 1e6);
        for (int i = 0; i < nc; i++) {
            const int width = i <= (int)N_IMPLS ? 8 : 15;
            if (cs[i].ours || cs[i].ggml)
                printf("%-*.2f", width, (double)row_bytes * rows / cs[i].best * 1e-9);
            else
                printf("%-*s", width, "-");
        }
        printf("\n");
        if (type == G4_TYPE_Q8_0) printf("  Q8_0 repacked (16 rows interleaved), dot_rows: %.2f\n",
                                         bench_q8_0_r16(w, row_bytes, rows, n, x, reps));
        free(w);
    }
    free(acts);
    free(y);
    free(src);
    free(xa);
    free(x);
}
#endif

static void test_benchmark(void **state) {
#ifndef NDEBUG
    (void)state;
    printf("skipped: benchmark only in Release builds\n");
    skip();
#else
    const peers *p = *state;
    bench_shape(p, 4096, 4096, 10);
    bench_shape(p, 1536, 262144, 3);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_odd_lengths_and_zeros),
        cmocka_unit_test(test_dot_rows),
        cmocka_unit_test(test_q8_0_r16),
        cmocka_unit_test(test_repacked_size),
        cmocka_unit_test(test_ggml_cross_check),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, peers_setup, peers_teardown);
}
