/* dot_scalar.c: portable dot products of a weight row with an activation row in
 * ggml's vec_dot_type (see dot.h), the activation converters, and the run-time
 * choice between these and the SIMD kernels (dot_avx2.c, dot_avx512.c, dot_neon.c).
 *
 * The quantized kernels follow ggml's generic ggml_vec_dot_*_q8_* code: every
 * block's (or sub-block's) sum of q_w*q_a is computed exactly in integers and
 * only then scaled and accumulated in float, block after block. The float
 * types multiply and sum in double; Q8_0_R16 (repacked Q8_0) accumulates with
 * fmaf in the order dot.h fixes for it. These are the fallback on CPUs without
 * AVX2 and the oracle of tests/unit/test_dot.c. */
#include "cpu/dot.h"

#include <math.h>
#include <string.h>

/* ---- activation rows ------------------------------------------------------------ */

size_t g4k_act_size_q8_0(int64_t n) {
    return g4_row_size(G4_TYPE_Q8_0, n);
}

size_t g4k_act_size_q8_1(int64_t n) {
    return g4_row_size(G4_TYPE_Q8_1, n);
}

size_t g4k_act_size_q8_K(int64_t n) {
    return g4_row_size(G4_TYPE_Q8_K, n);
}

size_t g4k_act_size_f32(int64_t n) {
    return n < 0 ? 0 : (size_t)n * sizeof(float);
}

void g4k_quantize_act_q8_0(const float *x, void *out, int64_t n) {
    g4_quantize_row(G4_TYPE_Q8_0, x, out, n);
}

void g4k_quantize_act_q8_1(const float *x, void *out, int64_t n) {
    g4_quantize_row(G4_TYPE_Q8_1, x, out, n);
}

void g4k_quantize_act_q8_K(const float *x, void *out, int64_t n) {
    g4_quantize_row_q8_K(x, out, n);
}

void g4k_quantize_act_f32(const float *x, void *out, int64_t n) {
    memcpy(out, x, (size_t)n * sizeof(float));
}

void g4k_unpack_scales_k4(const uint8_t q[12], uint8_t out[16]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] = q[j] & 63;
            out[j + 8] = q[j + 4] & 63;
        } else {
            out[j] = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
            out[j + 8] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }
}

static float f16(uint16_t h) {
    return g4_f16_to_f32(h);
}

/* ---- 32-element blocks ------------------------------------------------------------ */

static float dot_q8_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q8_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += w[b].qs[j] * a[b].qs[j];
        sum += (float)sumi * (f16(w[b].d) * f16(a[b].d));
    }
    return sum;
}

static float dot_q4_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((w[b].qs[j] & 0xf) - 8) * a[b].qs[j];
            sumi += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += (float)sumi * (f16(w[b].d) * f16(a[b].d));
    }
    return sum;
}

static float dot_q4_1(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_1 *w = vw;
    const g4k_block_q8_1 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += (w[b].qs[j] & 0xf) * a[b].qs[j];
            sumi += (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        }
        sum += (float)sumi * (f16(w[b].d) * f16(a[b].d)) + f16(w[b].m) * f16(a[b].s);
    }
    return sum;
}

static uint32_t load_u32le(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Element j of a 5-bit block, 0..31. */
static int q5_elem(const uint8_t qs[16], uint32_t qh, int j) {
    int lo = j < 16 ? qs[j] & 0xf : qs[j - 16] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

static float dot_q5_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        const uint32_t qh = load_u32le(w[b].qh);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (q5_elem(w[b].qs, qh, j) - 16) * a[b].qs[j];
        sum += (float)sumi * (f16(w[b].d) * f16(a[b].d));
    }
    return sum;
}

static float dot_q5_1(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_1 *w = vw;
    const g4k_block_q8_1 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        const uint32_t qh = load_u32le(w[b].qh);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += q5_elem(w[b].qs, qh, j) * a[b].qs[j];
        sum += (float)sumi * (f16(w[b].d) * f16(a[b].d)) + f16(w[b].m) * f16(a[b].s);
    }
    return sum;
}

/* ---- Q8_0 repacked, 16 rows interleaved (dot.h) ------------------------------------------- */

/* Row `lane` of the group of blocks at w: the order of dot.h, which the SIMD kernel
 * follows (fmaf, not sum + product, so that both give the same bits). */
static float dot_q8_0_r16_lane(const g4k_block_q8_0x16 *w, int lane, const g4k_block_q8_0 *a, int64_t n) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (w[b].qs[64 * (j / 4) + 4 * lane + j % 4] - 128) * a[b].qs[j];
        sum = fmaf((float)sumi, f16(w[b].d[lane]) * f16(a[b].d), sum);
    }
    return sum;
}

static float dot_q8_0_r16(const void *w_row, const void *act, int64_t n) {
    int lane;
    const g4k_block_q8_0x16 *group = g4k_q8_0_r16_group(w_row, &lane);
    return dot_q8_0_r16_lane(group, lane, act, n);
}

static void dot_q8_0_r16_rows(const void *w, size_t row_bytes, int n_rows, const void *act, int64_t n, float *out) {
    for (int r = 0; r < n_rows; r++)
        out[r] = dot_q8_0_r16_lane((const g4k_block_q8_0x16 *)((const uint8_t *)w + (size_t)(r - r % 16) * row_bytes),
                                   r % 16, act, n);
}

/* ---- K-quants × Q8_K ---------------------------------------------------------------- */

static float dot_q2_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q2_K *w = vw;
    const g4k_block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        int sumi = 0, summ = 0, is = 0;
        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        for (int h = 0; h < G4_QK_K; h += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++, is++, y += 16) {
                    const uint8_t sc = w[b].scales[is];
                    int s = 0;
                    for (int l = 0; l < 16; l++) s += ((q[16 * half + l] >> shift) & 3) * y[l];
                    sumi += (sc & 0xf) * s;
                    summ += (sc >> 4) * a[b].bsums[is];
                }
            }
        }
        sum += a[b].d * f16(w[b].d) * (float)sumi - a[b].d * f16(w[b].dmin) * (float)summ;
    }
    return sum;
}

/* Signed scale of sub-block j of a Q3_K block (quant_k.c's q3_scale). */
static int q3_scale(const uint8_t *scales, int j) {
    int lo = j < 8 ? scales[j] & 0xf : scales[j - 8] >> 4;
    int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

static float dot_q3_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q3_K *w = vw;
    const g4k_block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        /* element 128*h + 32*s + l: bits 2s..2s+1 of qs[32h + l], minus 4 unless
         * bit 4h+s of hmask[l] is set */
        int8_t qv[G4_QK_K];
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    const int lo = (w[b].qs[32 * h + l] >> (2 * s)) & 3;
                    const int hi = (w[b].hmask[l] >> (4 * h + s)) & 1;
                    qv[128 * h + 32 * s + l] = (int8_t)(lo - (hi ? 0 : 4));
                }
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += qv[16 * j + l] * a[b].qs[16 * j + l];
            sumi += q3_scale(w[b].scales, j) * s;
        }
        sum += a[b].d * f16(w[b].d) * (float)sumi;
    }
    return sum;
}

static float dot_q4_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_K *w = vw;
    const g4k_block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        uint8_t sm[16];
        g4k_unpack_scales_k4(w[b].scales, sm);
        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xf) * y[l];
                s1 += (q[l] >> 4) * y[l + 32];
            }
            sumi += sm[j] * s0 + sm[j + 1] * s1;
        }
        for (int j = 0; j < 8; j++) summ += sm[8 + j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        sum += a[b].d * f16(w[b].d) * (float)sumi - a[b].d * f16(w[b].dmin) * (float)summ;
    }
    return sum;
}

static float dot_q5_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_K *w = vw;
    const g4k_block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        uint8_t sm[16];
        g4k_unpack_scales_k4(w[b].scales, sm);
        const uint8_t *q = w[b].qs, *qh = w[b].qh;
        const int8_t *y = a[b].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 0xf) | ((qh[l] >> j) & 1) << 4) * y[l];
                s1 += ((q[l] >> 4) | ((qh[l] >> (j + 1)) & 1) << 4) * y[l + 32];
            }
            sumi += sm[j] * s0 + sm[j + 1] * s1;
        }
        for (int j = 0; j < 8; j++) summ += sm[8 + j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        sum += a[b].d * f16(w[b].d) * (float)sumi - a[b].d * f16(w[b].dmin) * (float)summ;
    }
    return sum;
}

static float dot_q6_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q6_K *w = vw;
    const g4k_block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        const uint8_t *ql = w[b].ql, *qh = w[b].qh;
        const int8_t *sc = w[b].scales, *y = a[b].qs;
        int sumi = 0;
        for (int h = 0; h < G4_QK_K; h += 128, ql += 64, qh += 32, sc += 8, y += 128) {
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                s[is + 0] += (((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32) * y[l];
                s[is + 2] += (((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32) * y[l + 32];
                s[is + 4] += (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32) * y[l + 64];
                s[is + 6] += (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32) * y[l + 96];
            }
            for (int j = 0; j < 8; j++) sumi += sc[j] * s[j];
        }
        sum += a[b].d * f16(w[b].d) * (float)sumi;
    }
    return sum;
}

/* ---- float weights × f32 ------------------------------------------------------------ */

static float dot_bf16(const void *vw, const void *va, int64_t n) {
    const uint8_t *w = vw;
    const float *x = va;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, w + 2 * i, 2);
        sum += (double)g4_bf16_to_f32(h) * x[i];
    }
    return (float)sum;
}

static float dot_f16(const void *vw, const void *va, int64_t n) {
    const uint8_t *w = vw;
    const float *x = va;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, w + 2 * i, 2);
        sum += (double)g4_f16_to_f32(h) * x[i];
    }
    return (float)sum;
}

/* ---- dot_rows: one row after another ---------------------------------------------------- */

#define ONE_ROW_AT_A_TIME(name)                                                                      \
    static void name##_rows(const void *w, size_t row_bytes, int n_rows, const void *act, int64_t n, \
                            float *out) {                                                            \
        for (int r = 0; r < n_rows; r++) out[r] = name((const uint8_t *)w + (size_t)r * row_bytes, act, n); \
    }

ONE_ROW_AT_A_TIME(dot_q8_0)
ONE_ROW_AT_A_TIME(dot_q4_0)
ONE_ROW_AT_A_TIME(dot_q5_0)
ONE_ROW_AT_A_TIME(dot_q4_1)
ONE_ROW_AT_A_TIME(dot_q5_1)
ONE_ROW_AT_A_TIME(dot_q2_K)
ONE_ROW_AT_A_TIME(dot_q3_K)
ONE_ROW_AT_A_TIME(dot_q4_K)
ONE_ROW_AT_A_TIME(dot_q5_K)
ONE_ROW_AT_A_TIME(dot_q6_K)
ONE_ROW_AT_A_TIME(dot_bf16)
ONE_ROW_AT_A_TIME(dot_f16)

/* ---- the tables ---------------------------------------------------------------------- */

#define DOTS(name) name, name##_rows, NULL

static const g4k_dot_kernel k_scalar[G4_TYPE_COUNT] = {
    [G4_TYPE_Q8_0] = {G4K_ACT_Q8_0, DOTS(dot_q8_0)}, [G4_TYPE_Q4_0] = {G4K_ACT_Q8_0, DOTS(dot_q4_0)},
    [G4_TYPE_Q5_0] = {G4K_ACT_Q8_0, DOTS(dot_q5_0)}, [G4_TYPE_Q4_1] = {G4K_ACT_Q8_1, DOTS(dot_q4_1)},
    [G4_TYPE_Q5_1] = {G4K_ACT_Q8_1, DOTS(dot_q5_1)}, [G4_TYPE_Q2_K] = {G4K_ACT_Q8_K, DOTS(dot_q2_K)},
    [G4_TYPE_Q3_K] = {G4K_ACT_Q8_K, DOTS(dot_q3_K)}, [G4_TYPE_Q4_K] = {G4K_ACT_Q8_K, DOTS(dot_q4_K)},
    [G4_TYPE_Q5_K] = {G4K_ACT_Q8_K, DOTS(dot_q5_K)}, [G4_TYPE_Q6_K] = {G4K_ACT_Q8_K, DOTS(dot_q6_K)},
    [G4_TYPE_BF16] = {G4K_ACT_F32, DOTS(dot_bf16)},  [G4_TYPE_F16] = {G4K_ACT_F32, DOTS(dot_f16)},
};

static const g4k_dot_kernel k_scalar_q8_0_r16 = {G4K_ACT_Q8_0, dot_q8_0_r16, dot_q8_0_r16_rows, NULL};

const g4k_dot_kernel *g4k_dot_scalar(enum g4_type weight_type) {
    if (weight_type == G4_TYPE_Q8_0_R16) return &k_scalar_q8_0_r16;
    if ((int)weight_type < 0 || (int)weight_type >= G4_TYPE_COUNT) return NULL;
    const g4k_dot_kernel *k = &k_scalar[weight_type];
    return k->dot ? k : NULL;
}

const g4k_dot_kernel *g4k_dot_for(enum g4_type weight_type) {
    const g4k_dot_kernel *k = g4k_dot_avx512(weight_type);
    if (!k) k = g4k_dot_avx2(weight_type);
    if (!k) k = g4k_dot_neon(weight_type);
    return k ? k : g4k_dot_scalar(weight_type);
}

/* ---- CPU features (for the SIMD files' dispatch) ----------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

int g4k_x86_has(unsigned xcr0_mask, unsigned leaf7_ebx, unsigned leaf7_ecx) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1;
    if (!fma || !osxsave || !f16c) return 0;
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & xcr0_mask) != xcr0_mask) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & leaf7_ebx) == leaf7_ebx && (c & leaf7_ecx) == leaf7_ecx;
}

#else

int g4k_x86_has(unsigned xcr0_mask, unsigned leaf7_ebx, unsigned leaf7_ecx) {
    (void)xcr0_mask, (void)leaf7_ebx, (void)leaf7_ecx;
    return 0;
}

#endif
