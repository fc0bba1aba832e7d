/* neon_dot_check.c: a standalone check (plain C, no cmocka; cross-compiled for
 * AArch64 and run under qemu by tests/e2e/neon_cross.sh) that the NEON dot
 * kernels (kernels/cpu/dot_neon.c) give the same bits as the scalar oracle
 * (dot_scalar.c) for every weight type: rows quantized from random values with
 * the reference quantizers, dot and dot_rows over many sizes, row counts and
 * seeds. Prints a line per type; exits 1 on any mismatch.
 *
 * Usage: neon_dot_check [--dotprod yes|no]  (the path the CPU is expected to
 * take: checked against getauxval, so that each qemu run tests the path meant) */
#include "cpu/dot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

#define MAX_ROWS 11
#define SEEDS 6

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_unit(void) {
    return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0);
}

/* Values of one row: roughly normal, times a magnitude of 1e-3 .. 1e3 per row,
 * with a few outliers and, for some seeds, runs of zeros (all-zero blocks). */
static void fill_row(float *x, int64_t n, int seed) {
    const float scale = powf(10.0f, 3.0f * rng_unit());
    for (int64_t i = 0; i < n; i++) {
        float v = (rng_unit() + rng_unit() + rng_unit()) * scale;
        if (rng_next() % 97 == 0) v *= 20.0f;
        if (seed % 3 == 2 && (i / 32) % 5 == 1) v = 0.0f;
        x[i] = v;
    }
}

typedef struct {
    enum g4_type type;
    int64_t sizes[8]; /* element counts; 0 ends the list */
} type_case;

static const type_case k_cases[] = {
    {G4_TYPE_Q8_0, {32, 64, 96, 224, 512, 1056, 2048, 0}},
    {G4_TYPE_Q4_0, {32, 64, 96, 224, 512, 1056, 2048, 0}},
    {G4_TYPE_Q4_1, {32, 64, 96, 224, 512, 1056, 2048, 0}},
    {G4_TYPE_Q5_0, {32, 64, 96, 224, 512, 1056, 2048, 0}},
    {G4_TYPE_Q5_1, {32, 64, 96, 224, 512, 1056, 2048, 0}},
    {G4_TYPE_Q2_K, {256, 512, 768, 1280, 2048, 0}},
    {G4_TYPE_Q3_K, {256, 512, 768, 1280, 2048, 0}},
    {G4_TYPE_Q4_K, {256, 512, 768, 1280, 2048, 0}},
    {G4_TYPE_Q5_K, {256, 512, 768, 1280, 2048, 0}},
    {G4_TYPE_Q6_K, {256, 512, 768, 1280, 2048, 0}},
    {G4_TYPE_BF16, {1, 3, 4, 7, 64, 257, 1536, 0}},
    {G4_TYPE_F16, {1, 3, 4, 7, 64, 257, 1536, 0}},
};

static int same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* One type over all its sizes, row counts and seeds; returns the mismatches. */
static long check_type(const type_case *c, long *compared) {
    const char *name = g4_type_info(c->type)->name;
    const g4k_dot_kernel *neon = g4k_dot_neon(c->type), *scalar = g4k_dot_scalar(c->type);
    if (!neon || !scalar) {
        printf("FAIL %s: no %s kernel\n", name, neon ? "scalar" : "NEON");
        return 1;
    }
    if (g4k_dot_for(c->type) != neon) {
        printf("FAIL %s: g4k_dot_for does not choose the NEON kernel\n", name);
        return 1;
    }
    if (neon->act_type != scalar->act_type) {
        printf("FAIL %s: activation types differ\n", name);
        return 1;
    }
    long bad = 0;
    for (int s = 0; c->sizes[s] && !bad; s++) {
        const int64_t n = c->sizes[s];
        const size_t row_size = g4_row_size(c->type, n);
        for (int seed = 0; seed < SEEDS && !bad; seed++) {
            rng_state = 0x5eed0000u + (uint64_t)(1000 * s + seed) * 7919u + (uint64_t)c->type;
            /* odd seeds: rows a few blocks apart, as in a matrix with padding */
            const size_t stride = row_size + (seed % 2 ? 3 * (size_t)g4_type_info(c->type)->type_size : 0);
            float *x = malloc((size_t)n * sizeof *x);
            uint8_t *w = calloc(MAX_ROWS, stride);
            void *act = malloc(scalar->act_row_size(n));
            float *got = malloc(MAX_ROWS * sizeof *got), *want = malloc(MAX_ROWS * sizeof *want);
            if (!x || !w || !act || !got || !want) {
                printf("FAIL %s: out of memory\n", name);
                exit(1);
            }
            for (int r = 0; r < MAX_ROWS; r++) {
                fill_row(x, n, seed);
                g4_quantize_row(c->type, x, w + (size_t)r * stride, n);
            }
            fill_row(x, n, seed);
            scalar->quantize_act(x, act, n);
            for (int rows = 1; rows <= MAX_ROWS; rows++) {
                scalar->dot_rows(w, stride, rows, act, n, want);
                for (int r = 0; r < MAX_ROWS; r++) got[r] = NAN;
                neon->dot_rows(w, stride, rows, act, n, got);
                for (int r = 0; r < rows; r++) {
                    const float one = neon->dot(w + (size_t)r * stride, act, n);
                    const float ref = scalar->dot(w + (size_t)r * stride, act, n);
                    *compared += 2;
                    if (!same_bits(ref, want[r]) || !same_bits(one, ref) || !same_bits(got[r], ref)) {
                        if (bad++ < 5)
                            printf("FAIL %s n=%lld seed=%d rows=%d row %d: scalar %a, NEON dot %a, dot_rows %a\n",
                                   name, (long long)n, seed, rows, r, ref, one, got[r]);
                    }
                }
                for (int r = rows; r < MAX_ROWS; r++)
                    if (!isnan(got[r]) && bad++ < 5) printf("FAIL %s: dot_rows wrote past row %d\n", name, rows);
            }
            free(x), free(w), free(act), free(got), free(want);
        }
    }
    return bad;
}

/* 1 when the CPU reports the dot-product extension (what g4k_dot_neon goes by). */
static int cpu_reports_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD)
    return 1;
#elif defined(__aarch64__) && defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}

int main(int argc, char **argv) {
    int expect = -1;
    if (argc == 3 && strcmp(argv[1], "--dotprod") == 0 && (!strcmp(argv[2], "yes") || !strcmp(argv[2], "no")))
        expect = strcmp(argv[2], "yes") == 0;
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--dotprod yes|no]\n", argv[0]);
        return 2;
    }
    const int has = cpu_reports_dotprod();
    printf("NEON kernels, %s path\n", has ? "SDOT (vdotq_s32)" : "plain NEON (vmull/vpadal)");
    if (expect >= 0 && expect != has) {
        printf("FAIL: expected the %s path\n", expect ? "SDOT" : "plain NEON");
        return 1;
    }
    if (g4k_dot_neon(G4_TYPE_Q8_0_R16) || g4k_dot_neon(G4_TYPE_F32) || g4k_dot_neon(G4_TYPE_Q8_K)) {
        printf("FAIL: a NEON kernel for a type that has none\n");
        return 1;
    }
    long failures = 0;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        long compared = 0;
        const long bad = check_type(&k_cases[i], &compared);
        if (!bad) printf("ok   %-5s %ld results bit-identical to the scalar kernel\n", g4_type_info(k_cases[i].type)->name, compared);
        failures += bad;
    }
    printf("%s\n", failures ? "FAILED" : "all types bit-identical");
    return failures ? 1 : 0;
}
