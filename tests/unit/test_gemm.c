/* test_gemm.c: the AMX-BF16 matrix product (kernels/cpu/gemm*.c). Skips when the CPU or
 * OS offers no AMX-BF16. For every weight type:
 *   1. the bf16 unpacker gives exactly g4_f32_to_bf16 of g4_dequantize_row's floats;
 *   2. over shapes with odd token and row counts, the product agrees with a double
 *      reference from the same bf16-rounded weights and activations to 1e-5 of
 *      sum|w*x| (only the f32 accumulation differs), and with the exact product of the
 *      unrounded weights and activations within the bf16 rounding bound;
 *      Split activations (hi + lo) agree with the bf16 weights times the unrounded
 *      activations to 2^-16 + 1e-5 of sum|w*x|;
 *   3. pools of 1, 2 and 3 threads (and none) give the same bits;
 * and the product refuses rows whose length is not a multiple of 32. A Release build
 * also prints the G MAC/s on prefill-sized matrices, the share of time spent unpacking
 * weights, and where the product overtakes the per-token SIMD dot loop (no assertion). */
#include "testutil.h"

#include "cpu/dot.h"
#include "cpu/gemm.h"
#include "model/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const enum g4_type k_types[] = {
    G4_TYPE_Q4_K, G4_TYPE_Q6_K, G4_TYPE_Q8_0, G4_TYPE_BF16, G4_TYPE_F16,  G4_TYPE_F32,  G4_TYPE_Q5_K,
    G4_TYPE_Q4_0, G4_TYPE_Q4_1, G4_TYPE_Q5_0, G4_TYPE_Q5_1, G4_TYPE_Q2_K, G4_TYPE_Q3_K,
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* Bound of check 2 against the rounded reference, relative to sum |w*x|. */
#define ORDER_TOL 1e-5
/* Relative error of a product of two bf16-rounded factors (8-bit significands): (1 + 2^-8)^2 - 1. */
#define BF16_PRODUCT_TOL (0x1p-7 + 0x1p-16)
/* Split activations (hi + lo) miss at most 2^-17 of each: bound against the product of the
 * bf16 weights with the unrounded activations. */
#define SPLIT_TOL 0x1p-16

/* ---- data ---------------------------------------------------------------------------- */

/* n values of a few shapes by seed: small gaussian, heavy-tailed, outliers, one sign. */
static void fill(float *x, int64_t n, uint64_t seed) {
    uint64_t rng = seed;
    const int dist = (int)(seed % 4);
    for (int64_t i = 0; i < n; i++) {
        float g = tu_rng_gauss(&rng);
        switch (dist) {
        case 0: x[i] = g * 0.02f; break;
        case 1: x[i] = g * g * g; break;
        case 2: x[i] = tu_rng_uniform(&rng) < 0.01 ? g * 50 : g; break;
        default: x[i] = 0.5f + 0.1f * g; break;
        }
    }
}

static const char *type_name(enum g4_type type) {
    return g4_type_info(type)->name;
}

/* A matrix of n_out random rows of n_in elements of type: the quantized bytes in
 * m->data (malloc'd) and, when wd is given, its dequantized floats. Only `distinct`
 * rows are quantized and then repeated (quantizing is slow for the benchmark sizes). */
static g4k_matrix make_matrix(enum g4_type type, int64_t n_in, int64_t n_out, int64_t distinct, uint64_t seed,
                              float *wd) {
    const size_t row_bytes = g4_row_size(type, n_in);
    uint8_t *data = malloc(row_bytes * (size_t)n_out);
    float *src = malloc(sizeof(float) * (size_t)n_in);
    assert_true(data && src && row_bytes > 0);
    for (int64_t r = 0; r < n_out; r++) {
        uint8_t *row = data + (size_t)r * row_bytes;
        if (r < distinct) {
            fill(src, n_in, seed + (uint64_t)r);
            g4_quantize_row(type, src, row, n_in);
        } else {
            memcpy(row, data + (size_t)(r % distinct) * row_bytes, row_bytes);
        }
        if (wd) g4_dequantize_row(type, row, wd + (size_t)r * n_in, n_in);
    }
    free(src);
    return (g4k_matrix){.type = type, .n_in = n_in, .n_out = n_out, .row_bytes = row_bytes, .data = data};
}

static float bf16_round(float f) {
    return g4_bf16_to_f32(g4_f32_to_bf16(f));
}

#define SKIP_WITHOUT_AMX()                                                           \
    do {                                                                             \
        if (!g4k_amx_available()) {                                                  \
            printf("skipped: no AMX-BF16 on this CPU, or the OS refuses the tile state\n"); \
            skip();                                                                  \
        }                                                                            \
    } while (0)

/* ---- check 1: unpackers -------------------------------------------------------------------- */

static void test_unpack_exact(void **state) {
    (void)state;
    SKIP_WITHOUT_AMX();
    enum { N = 2048 };
    float *src = malloc(sizeof(float) * N), *deq = malloc(sizeof(float) * N);
    uint8_t *q = malloc(N * 4);
    uint16_t *bf = malloc(N * 2);
    assert_true(src && deq && q && bf);
    for (size_t t = 0; t < N_TYPES; t++) {
        const enum g4_type type = k_types[t];
        const g4k_bf16_unpacker unpack = g4k_bf16_unpacker_for(type);
        assert_non_null(unpack);
        for (uint64_t seed = 0; seed < 8; seed++) {
            fill(src, N, 100 * t + seed);
            if (type == G4_TYPE_F32 && seed == 0) { /* the corners of rounding */
                const uint32_t bits[] = {0x00000001, 0x80000001, 0x007fffff, 0x3f808000, 0x3f818000, 0x3f80ffff,
                                         0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00001, 0xff800001, 0x00008000};
                for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) memcpy(&src[i], &bits[i], 4);
            }
            g4_quantize_row(type, src, q, N);
            g4_dequantize_row(type, q, deq, N);
            unpack(q, bf, N);
            for (int i = 0; i < N; i++) {
                const uint16_t want = g4_f32_to_bf16(deq[i]);
                if (bf[i] != want)
                    fail_msg("%s seed %d element %d: unpacked 0x%04x, rounded dequantized 0x%04x (%.9g)",
                             type_name(type), (int)seed, i, bf[i], want, deq[i]);
            }
        }
    }
    assert_null(g4k_bf16_unpacker_for(G4_TYPE_Q8_K));
    assert_null(g4k_bf16_unpacker_for((enum g4_type)99));
    free(bf);
    free(q);
    free(deq);
    free(src);
}

/* ---- checks 2 and 3: the product ------------------------------------------------------------ */

typedef struct {
    int n_tok;
    int64_t n_in, n_out;
} shape;

/* n_in past 2048 takes the product through y in several passes (gemm_amx.c). */
static const shape k_shapes[] = {
    {1, 256, 40},   {15, 32, 16},  {16, 256, 32},   {17, 768, 40},  {100, 1536, 72}, {512, 256, 40},
    {33, 64, 300},  {512, 512, 72}, {47, 1024, 17}, {20, 4608, 40}, {70, 2304, 33},
};
#define N_SHAPES (sizeof k_shapes / sizeof k_shapes[0])

static void test_product(void **state) {
    (void)state;
    SKIP_WITHOUT_AMX();
    g4k_pool *pools[3] = {g4k_pool_new(1), g4k_pool_new(2), g4k_pool_new(3)};
    assert_true(pools[0] && pools[1] && pools[2]);
    printf("  type  |y-ref_bf16|/S  |y-exact|/S  split: |y-ref|/S  (max over %zu shapes; S = sum|w*x|, the second "
           "bounded by %.3g)\n", N_SHAPES, BF16_PRODUCT_TOL);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const enum g4_type type = k_types[ti];
        const int block = g4_type_info(type)->block_size;
        double worst_order = 0, worst_exact = 0, worst_split = 0;
        for (size_t si = 0; si < N_SHAPES; si++) {
            const shape s = k_shapes[si];
            if (s.n_in % block) continue;
            const size_t nw = (size_t)(s.n_in * s.n_out), nx = (size_t)s.n_tok * (size_t)s.n_in;
            const size_t ny = (size_t)s.n_tok * (size_t)s.n_out;
            float *wd = malloc(sizeof(float) * nw), *x = malloc(sizeof(float) * nx), *xr = malloc(sizeof(float) * nx);
            float *y = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
            assert_true(wd && x && xr && y && y2);
            const g4k_matrix w = make_matrix(type, s.n_in, s.n_out, s.n_out, 1000 * ti + si, wd);
            fill(x, (int64_t)nx, 7 * si + 3);
            for (size_t i = 0; i < nx; i++) xr[i] = bf16_round(x[i]);

            assert_true(g4k_gemm_amx(NULL, &w, x, s.n_tok, y, false));
            assert_true(g4k_gemm_amx(NULL, &w, x, s.n_tok, y2, true));
            for (int t = 0; t < s.n_tok; t++) {
                for (int64_t o = 0; o < s.n_out; o++) {
                    const float *wr = wd + (size_t)o * s.n_in, *xt = x + (size_t)t * s.n_in, *xrt = xr + (size_t)t * s.n_in;
                    double ref = 0, ref_split = 0, exact = 0, sum_abs = 0;
                    for (int64_t i = 0; i < s.n_in; i++) {
                        ref += (double)bf16_round(wr[i]) * xrt[i];
                        ref_split += (double)bf16_round(wr[i]) * xt[i];
                        exact += (double)wr[i] * xt[i];
                        sum_abs += fabs((double)wr[i] * xt[i]);
                    }
                    const size_t at = (size_t)t * s.n_out + o;
                    const double got = y[at], e_ref = fabs(got - ref), e_exact = fabs(got - exact);
                    const double e_split = fabs(y2[at] - ref_split);
                    if (!(e_ref <= ORDER_TOL * sum_abs + 1e-30) ||
                        !(e_exact <= (BF16_PRODUCT_TOL + ORDER_TOL) * sum_abs + 1e-30))
                        fail_msg("%s %dx%ldx%ld token %d row %ld: got %.9g, bf16 reference %.9g, exact %.9g (S %.3g)",
                                 type_name(type), s.n_tok, (long)s.n_in, (long)s.n_out, t, (long)o, got, ref, exact,
                                 sum_abs);
                    if (!(e_split <= (SPLIT_TOL + ORDER_TOL) * sum_abs + 1e-30))
                        fail_msg("%s %dx%ldx%ld token %d row %ld split: got %.9g, reference %.9g (S %.3g)",
                                 type_name(type), s.n_tok, (long)s.n_in, (long)s.n_out, t, (long)o, y2[at],
                                 ref_split, sum_abs);
                    if (sum_abs > 0) {
                        worst_order = fmax(worst_order, e_ref / sum_abs);
                        worst_exact = fmax(worst_exact, e_exact / sum_abs);
                        worst_split = fmax(worst_split, e_split / sum_abs);
                    }
                }
            }
            for (int p = 0; p < 3; p++) {
                memset(y2, 0xff, sizeof(float) * ny);
                assert_true(g4k_gemm_amx(pools[p], &w, x, s.n_tok, y2, false));
                if (memcmp(y, y2, sizeof(float) * ny))
                    fail_msg("%s %dx%ldx%ld: %d threads differ from none", type_name(type), s.n_tok, (long)s.n_in,
                             (long)s.n_out, p + 1);
            }
            free((void *)w.data);
            free(y2);
            free(y);
            free(xr);
            free(x);
            free(wd);
        }
        printf("  %-5s %-14.3g %-12.3g %.3g\n", type_name(type), worst_order, worst_exact, worst_split);
    }
    for (int p = 0; p < 3; p++) g4k_pool_free(pools[p]);
}

/* Q8_0 repacked into 16-row groups (Q8_0_R16): the tile unpacker gives the Q8_0
 * unpacker's bf16 of the rows, as B tiles, from any block on; and the product of the
 * repacked matrix is the product of the Q8_0 one, to the bit, on every pool. */
static void test_q8_0_r16(void **state) {
    (void)state;
    SKIP_WITHOUT_AMX();
    enum { N_IN = 2048, N_OUT = 32 };
    const g4k_matrix w = make_matrix(G4_TYPE_Q8_0, N_IN, N_OUT, N_OUT, 77, NULL);
    uint8_t *packed = aligned_alloc(64, ((size_t)N_OUT * w.row_bytes + 63) / 64 * 64);
    uint16_t *rows = malloc(sizeof(uint16_t) * N_IN * 16), *tiles = malloc(sizeof(uint16_t) * N_IN * 16);
    assert_true(packed && rows && tiles);
    assert_int_equal(g4k_repack(&w, packed).type, G4_TYPE_Q8_0_R16);
    const g4k_bf16_unpacker unpack = g4k_bf16_unpacker_for(G4_TYPE_Q8_0);
    static const int ranges[][2] = {{0, N_IN}, {512, 1024}, {N_IN - 32, 32}};
    for (int group = 0; group < N_OUT / 16; group++) {
        for (int r = 0; r < 16; r++)
            unpack((const uint8_t *)w.data + (size_t)(16 * group + r) * w.row_bytes, rows + (size_t)r * N_IN, N_IN);
        for (size_t ri = 0; ri < sizeof ranges / sizeof *ranges; ri++) {
            const int k0 = ranges[ri][0], nk = ranges[ri][1];
            g4k_unpack_tiles_q8_0_r16(packed + (size_t)16 * group * w.row_bytes, k0, nk, tiles);
            for (int i = 0; i < nk / 32; i++)
                for (int p = 0; p < 16; p++)
                    for (int r = 0; r < 16; r++)
                        for (int e = 0; e < 2; e++) {
                            const uint16_t got = tiles[512 * i + 32 * p + 2 * r + e];
                            const uint16_t want = rows[(size_t)r * N_IN + k0 + 32 * i + 2 * p + e];
                            if (got != want)
                                fail_msg("group %d row %d element %d: tile 0x%04x, Q8_0 unpacker 0x%04x", group, r,
                                         k0 + 32 * i + 2 * p + e, got, want);
                        }
        }
    }
    static const shape shapes[] = {{17, 768, 32}, {100, 1536, 32}, {20, 4608, 16}, {64, 2048, 32}};
    g4k_pool *pools[3] = {g4k_pool_new(1), g4k_pool_new(2), g4k_pool_new(3)};
    assert_true(pools[0] && pools[1] && pools[2]);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape s = shapes[si];
        const g4k_matrix m = make_matrix(G4_TYPE_Q8_0, s.n_in, s.n_out, s.n_out, 300 + si, NULL);
        uint8_t *mp = aligned_alloc(64, ((size_t)s.n_out * m.row_bytes + 63) / 64 * 64);
        const size_t nx = (size_t)s.n_tok * (size_t)s.n_in, ny = (size_t)s.n_tok * (size_t)s.n_out;
        float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        assert_true(mp && x && y && y2);
        const g4k_matrix mr = g4k_repack(&m, mp);
        fill(x, (int64_t)nx, 11 * si);
        assert_true(g4k_gemm_amx(NULL, &m, x, s.n_tok, y, false));
        for (int p = 0; p < 4; p++) {
            memset(y2, 0xff, sizeof(float) * ny);
            assert_true(g4k_gemm_amx(p < 3 ? pools[p] : NULL, &mr, x, s.n_tok, y2, false));
            if (memcmp(y, y2, sizeof(float) * ny))
                fail_msg("%dx%ldx%ld, %d threads: repacked differs from Q8_0", s.n_tok, (long)s.n_in, (long)s.n_out,
                         p < 3 ? p + 1 : 0);
        }
        free((void *)m.data);
        free(mp);
        free(x);
        free(y);
        free(y2);
    }
    for (int p = 0; p < 3; p++) g4k_pool_free(pools[p]);
    free((void *)w.data);
    free(packed);
    free(rows);
    free(tiles);
}

static void test_refusals(void **state) {
    (void)state;
    if (!g4k_amx_available()) { /* everything is refused */
        const uint16_t w_bf16[64] = {0};
        const g4k_matrix w = {.type = G4_TYPE_BF16, .n_in = 32, .n_out = 2, .row_bytes = 64, .data = w_bf16};
        float x[32] = {0}, y[2] = {5, 5};
        assert_false(g4k_gemm_amx(NULL, &w, x, 1, y, false));
        assert_true(y[0] == 5 && y[1] == 5);
        printf("skipped the rest: no AMX-BF16 on this CPU, or the OS refuses the tile state\n");
        skip();
    }
    uint16_t w_bf16[48 * 3] = {0};
    float x[48 * 2] = {0}, y[6];
    for (int i = 0; i < 6; i++) y[i] = 5;
    const g4k_matrix odd = {.type = G4_TYPE_BF16, .n_in = 48, .n_out = 3, .row_bytes = 96, .data = w_bf16};
    assert_false(g4k_gemm_amx(NULL, &odd, x, 2, y, false));
    const g4k_matrix q8k = {.type = G4_TYPE_Q8_K, .n_in = 256, .n_out = 1, .row_bytes = G4_Q8_K_SIZE, .data = w_bf16};
    assert_false(g4k_gemm_amx(NULL, &q8k, x, 1, y, true));
    for (int i = 0; i < 6; i++) assert_true(y[i] == 5);
}

/* ---- benchmark ---------------------------------------------------------------------------------- */

#ifdef NDEBUG
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds of the best of `reps` products. */
static double time_gemm(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
        assert_true(g4k_gemm_amx(pool, w, x, n_tok, y, w->type == G4_TYPE_BF16));
        const double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

/* Seconds to unpack every row of w to bf16 on one thread (best of 3). */
static double time_unpack(const g4k_matrix *w, uint16_t *row) {
    const g4k_bf16_unpacker unpack = g4k_bf16_unpacker_for(w->type);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double t0 = now_s();
        for (int64_t o = 0; o < w->n_out; o++) unpack((const char *)w->data + (size_t)o * w->row_bytes, row, w->n_in);
        const double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

/* Seconds per token of the per-token path (g4k_dot_for): quantize the activation, one dot per row. */
static double time_dot_per_token(const g4k_matrix *w, const float *x, float *y) {
    const g4k_dot_kernel *k = g4k_dot_for(w->type);
    void *act = malloc(k->act_row_size(w->n_in));
    assert_non_null(act);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double t0 = now_s();
        k->quantize_act(x, act, w->n_in);
        for (int64_t o = 0; o < w->n_out; o++) y[o] = k->dot((const char *)w->data + (size_t)o * w->row_bytes, act, w->n_in);
        const double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    free(act);
    return best;
}
#endif

static void test_benchmark(void **state) {
    (void)state;
#ifndef NDEBUG
    printf("skipped: benchmark only in Release builds\n");
    skip();
#else
    SKIP_WITHOUT_AMX();
    enum { N_TOK = 512 };
    static const enum g4_type types[] = {G4_TYPE_Q4_K, G4_TYPE_Q6_K, G4_TYPE_Q8_0, G4_TYPE_BF16};
    static const int64_t shapes[][2] = {{1536, 6144}, {6144, 1536}, {1536, 2048}}; /* n_in, n_out */
    g4k_pool *pool2 = g4k_pool_new(2);
    float *x = malloc(sizeof(float) * N_TOK * 6144), *y = malloc(sizeof(float) * N_TOK * 6144);
    uint16_t *row = malloc(6144 * 2);
    assert_true(pool2 && x && y && row);
    fill(x, (int64_t)N_TOK * 6144, 5);
    printf("  n_tok x n_in x n_out: G MAC/s on 1 and 2 threads; shares of the 1-thread product's time:\n"
           "  unpack = the unpacker alone on every row; fixed = a product for 1 token (padded to 32),\n"
           "  which bounds the cost of unpacking and interleaving the weights into tiles\n");
    printf("  type  shape               1 thr   2 thr   unpack  fixed\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const g4k_matrix w = make_matrix(types[ti], shapes[si][0], shapes[si][1], 64, 77, NULL);
            const double macs = (double)N_TOK * (double)w.n_in * (double)w.n_out;
            time_gemm(pool2, &w, x, N_TOK, y, 1); /* warm up */
            const double t1 = time_gemm(NULL, &w, x, N_TOK, y, 3), t2 = time_gemm(pool2, &w, x, N_TOK, y, 3);
            const double tu = time_unpack(&w, row), tf = time_gemm(NULL, &w, x, 1, y, 3);
            printf("  %-5s %3dx%-5ldx%-5ld   %6.1f  %6.1f   %4.1f%%  %4.1f%%\n", type_name(types[ti]), N_TOK,
                   (long)w.n_in, (long)w.n_out, macs / t1 * 1e-9, macs / t2 * 1e-9, 100 * tu / t1,
                   100 * tf / t1);
            free((void *)w.data);
        }
    }
    /* where the product overtakes one SIMD dot per row and token (single thread) */
    printf("  1536x6144, one thread: ms of the product for n tokens, and n x the per-token dot loop (g4k_dot_for)\n");
    printf("  type   n=1          2            4            8            16           32           64\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const g4k_matrix w = make_matrix(types[ti], 1536, 6144, 64, 78, NULL);
        const double per_token = time_dot_per_token(&w, x, y);
        printf("  %-5s", type_name(types[ti]));
        for (int n = 1; n <= 64; n *= 2)
            printf("  %5.2f/%-5.2f", 1e3 * time_gemm(NULL, &w, x, n, y, 3), 1e3 * n * per_token);
        printf("\n");
        free((void *)w.data);
    }
    free(row);
    free(y);
    free(x);
    g4k_pool_free(pool2);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_exact),
        cmocka_unit_test(test_product),
        cmocka_unit_test(test_q8_0_r16),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
