/* test_dot.c: the matmul's dot-product kernels (kernels/cpu/dot*.c). For every
 * weight type, several row lengths and value distributions:
 *   1. the AVX2 kernel agrees with the scalar one to 1e-5 of sum|w_i*a_i| (the
 *      integer block sums are exact in both; only the order of the float
 *      accumulation differs);
 *   2. the scalar kernel on the quantized activations is within the measured
 *      activation-quantization error of the exact (double) dot of the
 *      dequantized weights with the original f32 activations;
 *   3. when G4_PEER_LIB_DIR names llama.cpp's library directory, ggml's own
 *      vec_dot (libggml-cpu-haswell.so) agrees to the same bound as 1.
 * A Release build also prints the GB/s of weights a 4096x4096 matrix-vector
 * product streams, scalar against AVX2 (no assertion). */
#include "testutil.h"

#include "cpu/dot.h"
#include "model/quant.h"

#include <dlfcn.h>
#include <math.h>
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

static const int k_lengths[] = {256, 768, 2048, 4096, 8192};
#define N_LENGTHS (sizeof k_lengths / sizeof k_lengths[0])
#define N_DISTS 5
#define MAX_N 8192

/* Bound of check 1 (and 3), relative to sum |w_i * a_i|. */
#define ORDER_TOL 1e-5

/* ---- data ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { /* in (0, 1) */
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_gauss(uint64_t *s) {
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static const char *const k_dist_names[N_DISTS] = {"gauss", "uniform", "heavy-tail", "outliers", "offset"};

static void fill(float *x, int n, int dist, uint64_t seed) {
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        float g = rng_gauss(&rng);
        switch (dist) {
        case 0: x[i] = g * 0.02f; break;
        case 1: x[i] = (float)(2 * rng_uniform(&rng) - 1); break;
        case 2: x[i] = g * g * g; break;
        case 3: x[i] = rng_uniform(&rng) < 0.01 ? g * 50 : g; break; /* activation-like outliers */
        default: x[i] = 0.5f + 0.1f * g; break;                      /* all one sign */
        }
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

/* ---- checks 1 and 2 ------------------------------------------------------------------ */

static void test_kernels(void **state) {
    (void)state;
    bufs *b = malloc(sizeof *b);
    assert_non_null(b);
    printf("  type  |avx2-scalar|/S  |scalar-exact|/S  |scalar-exact|/E  (max over %zu lengths x %d dists;\n"
           "         S = sum|w*a|, E = sum|w|*|a_q-a|, the measured activation-quantization error)\n",
           N_LENGTHS, N_DISTS);
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        const g4k_dot_kernel *ks = g4k_dot_scalar(type), *kv = g4k_dot_avx2(type), *kf = g4k_dot_for(type);
        assert_non_null(ks);
        assert_non_null(kf);
        if (kv) assert_ptr_equal(kf, kv);
        double worst_order = 0, worst_rel = 0, worst_vs_e = 0;
        for (size_t li = 0; li < N_LENGTHS; li++) {
            const int n = k_lengths[li];
            assert_true(ks->act_row_size(n) <= sizeof b->act);
            for (int dist = 0; dist < N_DISTS; dist++) {
                uint64_t seed = 1000 * t + 10 * li + (uint64_t)dist;
                fill(b->w, n, dist, seed);
                fill(b->x, n, (dist + 3) % N_DISTS, seed ^ 0xabcdef);
                g4_quantize_row(type, b->w, b->wq, n);
                g4_dequantize_row(type, b->wq, b->wd, n);
                ks->quantize_act(b->x, b->act, n);
                const double extra = dequantize_act(ks, type, b, b->xa, n);

                double exact = 0, s_abs = 0, e_act = 0;
                for (int i = 0; i < n; i++) {
                    exact += (double)b->wd[i] * b->x[i];
                    s_abs += fabs((double)b->wd[i] * b->xa[i]);
                    e_act += fabs((double)b->wd[i]) * fabs((double)b->xa[i] - b->x[i]);
                }
                const double s = ks->dot(b->wq, b->act, n);
                const double err = fabs(s - exact), bound = e_act + extra + ORDER_TOL * s_abs + 1e-30;
                if (err > bound)
                    fail_msg("%s n=%d %s: scalar %.9g exact %.9g err %.3g > bound %.3g", g4_type_info(type)->name,
                             n, k_dist_names[dist], s, exact, err, bound);
                if (s_abs > 0) worst_rel = fmax(worst_rel, err / s_abs);
                if (e_act + extra > 0) worst_vs_e = fmax(worst_vs_e, err / (e_act + extra));
                if (kv) {
                    const double v = kv->dot(b->wq, b->act, n);
                    if (!(fabs(v - s) <= ORDER_TOL * s_abs))
                        fail_msg("%s n=%d %s: avx2 %.9g scalar %.9g (S %.3g)", g4_type_info(type)->name, n,
                                 k_dist_names[dist], v, s, s_abs);
                    if (s_abs > 0) worst_order = fmax(worst_order, fabs(v - s) / s_abs);
                }
            }
        }
        printf("  %-5s %s%-14.3g  %-16.3g  %.3g\n", g4_type_info(type)->name, kv ? " " : "*", worst_order,
               worst_rel, worst_vs_e);
    }
    printf("  (* no AVX2 kernel on this CPU/build: the scalar one is used)\n");
    free(b);
}

/* Unaligned rows: weight rows start wherever their blocks put them in a matrix. */
static void test_odd_lengths_and_zeros(void **state) {
    (void)state;
    bufs *b = calloc(1, sizeof *b);
    assert_non_null(b);
    /* the float types take any n, tails included */
    const enum g4_type ftypes[] = {G4_TYPE_BF16, G4_TYPE_F16};
    for (int t = 0; t < 2; t++) {
        const g4k_dot_kernel *ks = g4k_dot_scalar(ftypes[t]), *kf = g4k_dot_for(ftypes[t]);
        for (int n = 1; n < 80; n++) {
            fill(b->w, n, 0, (uint64_t)n);
            fill(b->x, n, 1, (uint64_t)n + 7);
            g4_quantize_row(ftypes[t], b->w, b->wq + 2, n); /* offset by one element */
            kf->quantize_act(b->x, b->act, n);
            double s_abs = 0;
            g4_dequantize_row(ftypes[t], b->wq + 2, b->wd, n);
            for (int i = 0; i < n; i++) s_abs += fabs((double)b->wd[i] * b->x[i]);
            const double s = ks->dot(b->wq + 2, b->act, n), v = kf->dot(b->wq + 2, b->act, n);
            assert_true(fabs(s - v) <= ORDER_TOL * s_abs);
        }
    }
    /* all-zero activations give 0 for every type */
    for (size_t t = 0; t < N_TYPES; t++) {
        const g4k_dot_kernel *kf = g4k_dot_for(k_types[t]);
        fill(b->w, 512, 0, t);
        memset(b->x, 0, sizeof b->x);
        g4_quantize_row(k_types[t], b->w, b->wq, 512);
        kf->quantize_act(b->x, b->act, 512);
        assert_true(kf->dot(b->wq, b->act, 512) == 0.0f);
    }
    assert_null(g4k_dot_for(G4_TYPE_F32));
    assert_null(g4k_dot_for(G4_TYPE_Q8_K));
    assert_null(g4k_dot_for((enum g4_type)99));
    free(b);
}

/* ---- check 3: ggml ------------------------------------------------------------------- */

typedef void (*ggml_vec_dot_t)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by,
                               int nrc);
typedef void (*ggml_from_float_t)(const float *x, void *y, int64_t k);
struct ggml_type_traits_cpu { /* ggml-cpu.h */
    ggml_from_float_t from_float;
    ggml_vec_dot_t vec_dot;
    int vec_dot_type;
    int64_t nrows;
};

static void test_ggml_cross_check(void **state) {
    (void)state;
    const char *dir = getenv("G4_PEER_LIB_DIR");
    if (!dir || !*dir) {
        printf("skipped: set G4_PEER_LIB_DIR to the directory of llama.cpp's libggml-cpu-*.so\n");
        skip();
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/libggml-base.so", dir);
    void *base = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    snprintf(path, sizeof path, "%s/libggml-cpu-haswell.so", dir);
    void *cpu = base ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    const struct ggml_type_traits_cpu *(*traits)(int) = NULL;
    void (*cpu_init)(void) = NULL;
    if (cpu) {
        *(void **)&traits = dlsym(cpu, "ggml_get_type_traits_cpu");
        *(void **)&cpu_init = dlsym(cpu, "ggml_cpu_init");
    }
    if (!traits || !cpu_init) {
        printf("skipped: cannot use %s: %s\n", path, dlerror());
        if (cpu) dlclose(cpu);
        if (base) dlclose(base);
        skip();
    }
    cpu_init();
    bufs *b = malloc(sizeof *b);
    uint8_t *gact = malloc(MAX_N * 4);
    assert_true(b && gact);
    printf("  type  |ggml-ours|/S (max)\n");
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        const g4k_dot_kernel *k = g4k_dot_for(type);
        const struct ggml_type_traits_cpu *g = traits(type);
        assert_non_null(g);
        assert_non_null(g->vec_dot);
        /* ggml pairs the float types with activations of their own type; we use f32 */
        const int float_type = k->act_type == G4_TYPE_F32;
        if (!float_type) assert_int_equal(g->vec_dot_type, k->act_type);
        double worst = 0;
        for (size_t li = 0; li < N_LENGTHS; li++) {
            const int n = k_lengths[li];
            for (int dist = 0; dist < N_DISTS; dist++) {
                uint64_t seed = 5000 + 100 * t + 10 * li + (uint64_t)dist;
                fill(b->w, n, dist, seed);
                fill(b->x, n, (dist + 1) % N_DISTS, seed ^ 0x1234);
                g4_quantize_row(type, b->w, b->wq, n);
                g4_dequantize_row(type, b->wq, b->wd, n);
                if (float_type) { /* round x to ggml's activation type; ours sees the same values */
                    g4_quantize_row((enum g4_type)g->vec_dot_type, b->x, gact, n);
                    g4_dequantize_row((enum g4_type)g->vec_dot_type, gact, b->xa, n);
                    k->quantize_act(b->xa, b->act, n);
                } else {
                    k->quantize_act(b->x, b->act, n);
                    memcpy(gact, b->act, k->act_row_size(n));
                    g4_dequantize_row(k->act_type, b->act, b->xa, n);
                }
                double s_abs = 0;
                for (int i = 0; i < n; i++) s_abs += fabs((double)b->wd[i] * b->xa[i]);
                float theirs = 0;
                g->vec_dot(n, &theirs, 0, b->wq, 0, gact, 0, 1);
                const double ours = k->dot(b->wq, b->act, n);
                if (!(fabs(ours - theirs) <= ORDER_TOL * s_abs))
                    fail_msg("%s n=%d %s: ggml %.9g ours %.9g (S %.3g)", g4_type_info(type)->name, n,
                             k_dist_names[dist], theirs, ours, s_abs);
                if (s_abs > 0) worst = fmax(worst, fabs(ours - theirs) / s_abs);
            }
        }
        printf("  %-5s %.3g\n", g4_type_info(type)->name, worst);
    }
    free(gact);
    free(b);
    dlclose(cpu);
    dlclose(base);
}

/* ---- benchmark ----------------------------------------------------------------------- */

#ifdef NDEBUG
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of 3 passes over all rows; returns GB/s of weights, and the checksum in *sum. */
static double bench_gbs(const g4k_dot_kernel *k, const uint8_t *w, size_t row_bytes, int rows, const void *act,
                        int n, volatile float *sum) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = now_s();
        float s = 0;
        for (int r = 0; r < rows; r++) s += k->dot(w + (size_t)r * row_bytes, act, n);
        const double dt = now_s() - t0;
        *sum = s;
        if (dt < best) best = dt;
    }
    return (double)row_bytes * rows / best * 1e-9;
}
#endif

static void test_benchmark(void **state) {
    (void)state;
#ifndef NDEBUG
    printf("skipped: benchmark only in Release builds\n");
    skip();
#else
    enum { N = 4096, ROWS = 4096, DISTINCT = 32 };
    float *x = malloc(sizeof(float) * N), *src = malloc(sizeof(float) * N);
    uint8_t *act = malloc(N * 4);
    assert_true(x && src && act);
    fill(x, N, 0, 42);
    printf("  4096x4096 matrix x vector, one thread, GB/s of weights streamed\n  type   MB     scalar   avx2   speed-up\n");
    for (size_t t = 0; t < N_TYPES; t++) {
        enum g4_type type = k_types[t];
        const size_t row_bytes = g4_row_size(type, N);
        uint8_t *w = malloc(row_bytes * ROWS);
        assert_non_null(w);
        for (int r = 0; r < DISTINCT; r++) { /* quantize a few rows, repeat them */
            fill(src, N, r % N_DISTS, 100 + (uint64_t)r);
            g4_quantize_row(type, src, w + (size_t)r * row_bytes, N);
        }
        for (int r = DISTINCT; r < ROWS; r++) memcpy(w + (size_t)r * row_bytes, w + (size_t)(r % DISTINCT) * row_bytes, row_bytes);
        const g4k_dot_kernel *ks = g4k_dot_scalar(type), *kv = g4k_dot_avx2(type);
        ks->quantize_act(x, act, N);
        volatile float sum;
        const double gs = bench_gbs(ks, w, row_bytes, ROWS, act, N, &sum);
        const double gv = kv ? bench_gbs(kv, w, row_bytes, ROWS, act, N, &sum) : 0;
        printf("  %-5s %6.1f  %6.2f  %6.2f  %5.1fx\n", g4_type_info(type)->name, row_bytes * ROWS / 1e6, gs, gv,
               gv / gs);
        free(w);
    }
    free(act);
    free(src);
    free(x);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_odd_lengths_and_zeros),
        cmocka_unit_test(test_ggml_cross_check),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
