/* quant.c: the element-type table, f16/bf16 scalar conversions, and the
 * per-row converters for the float types and ggml's 32-element block types
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1). The K-quants live in quant_k.c.
 *
 * Every layout and every formula follows ggml (ggml-common.h, ggml-quants.c):
 * dequantization gives the same floats bit for bit, and the quantizers are
 * ggml's reference quantizers (quantize_row_*_ref), written so that they give
 * the same bytes as long as float arithmetic is not contracted into FMAs. */
#include "quant.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* Matching ggml's bytes needs a*b + c rounded twice, never fused into an FMA.
 * GCC in ISO C mode (as the build sets it) does not contract; clang must be told. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32

/* ---- block layouts (ggml-common.h) ------------------------------------------- */

typedef struct {
    uint16_t d;             /* f16 scale */
    uint8_t qs[QK4_0 / 2];  /* element j in the low nibble of byte j, j+16 in the high */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");

typedef struct {
    uint16_t d;             /* f16 scale */
    uint16_t m;             /* f16 minimum */
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 must be 20 bytes");

typedef struct {
    uint16_t d;
    uint8_t qh[4];          /* 5th bit of element j in bit j (little-endian u32) */
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 must be 22 bytes");

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 must be 24 bytes");

typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");

typedef struct {
    uint16_t d;
    uint16_t s;             /* f16 of d * sum(qs) */
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 must be 36 bytes");

/* ---- scalar conversions ------------------------------------------------------- */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float g4_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) /* inf, or NaN made quiet as the FPU (and ggml) would */
        return f32_from_bits(sign | 0x7f800000 | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign);
        /* subnormal: mant * 2^-24, exact in f32 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Shifts m right by s (1..31) rounding to nearest, ties to even. */
static uint32_t shift_rne(uint32_t m, int s) {
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return q;
}

uint16_t g4_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x > 0x7f800000) return sign | 0x7e00;        /* NaN: the canonical quiet NaN */
    int e = (int)(x >> 23);                           /* biased f32 exponent */
    if (e >= 143) return sign | 0x7c00;               /* >= 2^16: inf */
    if (e >= 113) {                                   /* normal f16 range (may round up to inf) */
        uint32_t h = ((uint32_t)(e - 112) << 10 << 13) | (x & 0x7fffff);
        return sign | (uint16_t)shift_rne(h, 13);
    }
    if (e < 102) return sign;                         /* below 2^-25: rounds to zero */
    /* subnormal f16: value = m * 2^(e-150), in units of 2^-24 */
    uint32_t m = (x & 0x7fffff) | 0x800000;
    return sign | (uint16_t)shift_rne(m, 126 - e);
}

float g4_bf16_to_f32(uint16_t b) {
    return f32_from_bits((uint32_t)b << 16);
}

uint16_t g4_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 64); /* NaN, made quiet */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ---- float types ------------------------------------------------------------- */

static void dequantize_row_f32(const void *src, float *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

static void quantize_row_f32(const float *src, void *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

static void dequantize_row_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = g4_f16_to_f32(h);
    }
}

static void quantize_row_f16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = g4_f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void dequantize_row_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, p + 2 * i, 2);
        dst[i] = g4_bf16_to_f32(b);
    }
}

static void quantize_row_bf16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t b = g4_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &b, 2);
    }
}

/* ---- 32-element block types -------------------------------------------------- */

/* The float-to-integer casts of ggml's reference quantizers, (int8_t)v and
 * (uint8_t)v, truncate toward zero. C leaves out-of-range values undefined, so
 * these clamp first (only inf/NaN input gets there); NaN becomes 0. */
static int trunc_clamp(float v, int lo, int hi) {
    if (v != v) return 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

static int imin(int a, int b) {
    return a < b ? a : b;
}

/* The value of largest magnitude in x[0..n), keeping its sign. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void quantize_row_q4_0(const float *x, void *vy, int64_t k) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < k / QK4_0; i++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = g4_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = imin(15, trunc_clamp(x[j] * id + 8.5f, -128, 127));
            int q1 = imin(15, trunc_clamp(x[j + QK4_0 / 2] * id + 8.5f, -128, 127));
            y[i].qs[j] = (uint8_t)((q0 & 0xff) | (q1 & 0xff) << 4);
        }
    }
}

static void dequantize_row_q4_0(const void *vx, float *y, int64_t k) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < k / QK4_0; i++, y += QK4_0) {
        const float d = g4_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Minimum and maximum of x[0..n). */
static void min_max(const float *x, int n, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

static void quantize_row_q4_1(const float *x, void *vy, int64_t k) {
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < k / QK4_1; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = g4_f32_to_f16(d);
        y[i].m = g4_f32_to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = imin(15, trunc_clamp((x[j] - min) * id + 0.5f, -128, 127));
            int q1 = imin(15, trunc_clamp((x[j + QK4_1 / 2] - min) * id + 0.5f, -128, 127));
            y[i].qs[j] = (uint8_t)((q0 & 0xff) | (q1 & 0xff) << 4);
        }
    }
}

static void dequantize_row_q4_1(const void *vx, float *y, int64_t k) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < k / QK4_1; i++, y += QK4_1) {
        const float d = g4_f16_to_f32(x[i].d);
        const float m = g4_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0f) * d + m;
            y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Packs 32 five-bit values: low nibbles into qs (j and j+16 share a byte), the
 * fifth bits into the little-endian u32 qh. */
static void pack_q5(const uint8_t q[32], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
        h |= (uint32_t)((q[j] & 0x10) >> 4) << j;
        h |= (uint32_t)((q[j + 16] & 0x10) >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}

/* Element j (0..31) of a five-bit block, 0..31. */
static int unpack_q5(const uint8_t qs[16], uint32_t qh, int j) {
    int lo = j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

static uint32_t load_u32le(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void quantize_row_q5_0(const float *x, void *vy, int64_t k) {
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < k / QK5_0; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = g4_f32_to_f16(d);
        uint8_t q[QK5_0];
        for (int j = 0; j < QK5_0; j++)
            q[j] = (uint8_t)imin(31, trunc_clamp(x[j] * id + 16.5f, -128, 127));
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

static void dequantize_row_q5_0(const void *vx, float *y, int64_t k) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < k / QK5_0; i++, y += QK5_0) {
        const float d = g4_f16_to_f32(x[i].d);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < QK5_0; j++) y[j] = (unpack_q5(x[i].qs, qh, j) - 16) * d;
    }
}

static void quantize_row_q5_1(const float *x, void *vy, int64_t k) {
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < k / QK5_1; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = g4_f32_to_f16(d);
        y[i].m = g4_f32_to_f16(min);
        uint8_t q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = (uint8_t)trunc_clamp((x[j] - min) * id + 0.5f, 0, 255);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

static void dequantize_row_q5_1(const void *vx, float *y, int64_t k) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < k / QK5_1; i++, y += QK5_1) {
        const float d = g4_f16_to_f32(x[i].d);
        const float m = g4_f16_to_f32(x[i].m);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < QK5_1; j++) y[j] = unpack_q5(x[i].qs, qh, j) * d + m;
    }
}

/* Scale and int8 quants of 32 values, as quantize_row_q8_0_ref; returns d. */
static float quantize_q8_32(const float *x, int8_t qs[32]) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) {
        float r = roundf(x[j] * id);
        qs[j] = (int8_t)(r != r ? 0 : r < -128.0f ? -128 : r > 127.0f ? 127 : (int)r);
    }
    return d;
}

static void quantize_row_q8_0(const float *x, void *vy, int64_t k) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) y[i].d = g4_f32_to_f16(quantize_q8_32(x, y[i].qs));
}

static void dequantize_row_q8_0(const void *vx, float *y, int64_t k) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < k / QK8_0; i++, y += QK8_0) {
        const float d = g4_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

static void quantize_row_q8_1(const float *x, void *vy, int64_t k) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / QK8_1; i++, x += QK8_1) {
        const float d = quantize_q8_32(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].d = g4_f32_to_f16(d);
        y[i].s = g4_f32_to_f16(sum * d);
    }
}

/* ggml has no Q8_1 dequantizer; this one uses Q8_0's formula (s is redundant). */
static void dequantize_row_q8_1(const void *vx, float *y, int64_t k) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < k / QK8_1; i++, y += QK8_1) {
        const float d = g4_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = x[i].qs[j] * d;
    }
}

/* ---- the type table ------------------------------------------------------------ */

typedef struct {
    g4_type_traits traits;  /* traits.name == NULL: not supported */
    g4_dequantize_fn to_f32;
    g4_quantize_fn from_f32;
} type_entry;

static const type_entry k_types[G4_TYPE_COUNT] = {
    [G4_TYPE_F32] = {{"F32", 1, 4, false}, dequantize_row_f32, quantize_row_f32},
    [G4_TYPE_F16] = {{"F16", 1, 2, false}, dequantize_row_f16, quantize_row_f16},
    [G4_TYPE_BF16] = {{"BF16", 1, 2, false}, dequantize_row_bf16, quantize_row_bf16},
    [G4_TYPE_Q4_0] = {{"Q4_0", QK4_0, sizeof(block_q4_0), true}, dequantize_row_q4_0, quantize_row_q4_0},
    [G4_TYPE_Q4_1] = {{"Q4_1", QK4_1, sizeof(block_q4_1), true}, dequantize_row_q4_1, quantize_row_q4_1},
    [G4_TYPE_Q5_0] = {{"Q5_0", QK5_0, sizeof(block_q5_0), true}, dequantize_row_q5_0, quantize_row_q5_0},
    [G4_TYPE_Q5_1] = {{"Q5_1", QK5_1, sizeof(block_q5_1), true}, dequantize_row_q5_1, quantize_row_q5_1},
    [G4_TYPE_Q8_0] = {{"Q8_0", QK8_0, sizeof(block_q8_0), true}, dequantize_row_q8_0, quantize_row_q8_0},
    [G4_TYPE_Q8_1] = {{"Q8_1", QK8_1, sizeof(block_q8_1), true}, dequantize_row_q8_1, quantize_row_q8_1},
    [G4_TYPE_Q2_K] = {{"Q2_K", G4_QK_K, G4_Q2_K_SIZE, true}, g4_dequantize_row_q2_K, g4_quantize_row_q2_K},
    [G4_TYPE_Q3_K] = {{"Q3_K", G4_QK_K, G4_Q3_K_SIZE, true}, g4_dequantize_row_q3_K, g4_quantize_row_q3_K},
    [G4_TYPE_Q4_K] = {{"Q4_K", G4_QK_K, G4_Q4_K_SIZE, true}, g4_dequantize_row_q4_K, g4_quantize_row_q4_K},
    [G4_TYPE_Q5_K] = {{"Q5_K", G4_QK_K, G4_Q5_K_SIZE, true}, g4_dequantize_row_q5_K, g4_quantize_row_q5_K},
    [G4_TYPE_Q6_K] = {{"Q6_K", G4_QK_K, G4_Q6_K_SIZE, true}, g4_dequantize_row_q6_K, g4_quantize_row_q6_K},
    [G4_TYPE_Q8_K] = {{"Q8_K", G4_QK_K, G4_Q8_K_SIZE, true}, g4_dequantize_row_q8_K, g4_quantize_row_q8_K},
};

static const type_entry *entry(int type) {
    if (type < 0 || type >= G4_TYPE_COUNT || !k_types[type].traits.name) return NULL;
    return &k_types[type];
}

const g4_type_traits *g4_type_info(int type) {
    const type_entry *e = entry(type);
    return e ? &e->traits : NULL;
}

enum g4_type g4_type_from_name(const char *name) {
    if (!name) return G4_TYPE_UNKNOWN;
    for (int t = 0; t < G4_TYPE_COUNT; t++)
        if (k_types[t].traits.name && strcasecmp(k_types[t].traits.name, name) == 0) return (enum g4_type)t;
    return G4_TYPE_UNKNOWN;
}

size_t g4_row_size(enum g4_type type, int64_t n) {
    const type_entry *e = entry((int)type);
    if (!e || n < 0 || n % e->traits.block_size != 0) return 0;
    uint64_t blocks = (uint64_t)(n / e->traits.block_size);
    if (blocks > SIZE_MAX / (uint64_t)e->traits.type_size) return 0;
    return (size_t)blocks * (size_t)e->traits.type_size;
}

g4_dequantize_fn g4_dequantizer(enum g4_type type) {
    const type_entry *e = entry((int)type);
    return e ? e->to_f32 : NULL;
}

g4_quantize_fn g4_quantizer(enum g4_type type) {
    const type_entry *e = entry((int)type);
    return e ? e->from_f32 : NULL;
}

void g4_dequantize_row(enum g4_type type, const void *src, float *dst, int64_t n) {
    const type_entry *e = entry((int)type);
    if (!e || n <= 0 || n % e->traits.block_size != 0) return;
    e->to_f32(src, dst, n);
}

size_t g4_quantize_row(enum g4_type type, const float *src, void *dst, int64_t n) {
    size_t bytes = g4_row_size(type, n);
    if (bytes == 0) return 0;
    entry((int)type)->from_f32(src, dst, n);
    return bytes;
}
