/* test_quant.c: element types and block formats (engine/model/quant.c and
 * quant_k.c): the type table, f16/bf16 conversion over every bit pattern,
 * hand-packed blocks against per-element formulas, round-trip error bounds on
 * random data, and, when G4_PEER_LIB_DIR names the directory of llama.cpp's
 * libggml-base.so, bit-for-bit agreement with ggml's own (de)quantizers. */
#include "testutil.h"

#include "model/quant.h"
#include "peerggml.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every type the engine supports, with ggml's block size and bytes per block. */
static const struct {
    enum g4_type type;
    const char *name;
    int block_size, type_size;
} k_expected[] = {
    {G4_TYPE_F32, "F32", 1, 4},       {G4_TYPE_F16, "F16", 1, 2},       {G4_TYPE_BF16, "BF16", 1, 2},
    {G4_TYPE_Q4_0, "Q4_0", 32, 18},   {G4_TYPE_Q4_1, "Q4_1", 32, 20},   {G4_TYPE_Q5_0, "Q5_0", 32, 22},
    {G4_TYPE_Q5_1, "Q5_1", 32, 24},   {G4_TYPE_Q8_0, "Q8_0", 32, 34},   {G4_TYPE_Q8_1, "Q8_1", 32, 36},
    {G4_TYPE_Q2_K, "Q2_K", 256, 84},  {G4_TYPE_Q3_K, "Q3_K", 256, 110}, {G4_TYPE_Q4_K, "Q4_K", 256, 144},
    {G4_TYPE_Q5_K, "Q5_K", 256, 176}, {G4_TYPE_Q6_K, "Q6_K", 256, 210}, {G4_TYPE_Q8_K, "Q8_K", 256, 292},
};
#define N_TYPES (sizeof k_expected / sizeof k_expected[0])

/* ---- helpers ------------------------------------------------------------------- */

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ---- the type table -------------------------------------------------------------- */

static void test_type_table(void **state) {
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        const g4_type_traits *t = g4_type_info(k_expected[i].type);
        assert_non_null(t);
        assert_string_equal(t->name, k_expected[i].name);
        assert_int_equal(t->block_size, k_expected[i].block_size);
        assert_int_equal(t->type_size, k_expected[i].type_size);
        assert_int_equal(t->quantized, k_expected[i].block_size > 1);
        assert_non_null(g4_dequantizer(k_expected[i].type));
        assert_non_null(g4_quantizer(k_expected[i].type));
    }
    /* ids ggml has but this engine does not, and ids out of range */
    const int unsupported[] = {-1, 4, 5, 16, 17, 20, 29, 31, 34, 35, 39, G4_TYPE_COUNT, 1000, -1000};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        assert_null(g4_type_info(unsupported[i]));
        assert_null(g4_dequantizer((enum g4_type)unsupported[i]));
        assert_int_equal(g4_row_size((enum g4_type)unsupported[i], 256), 0);
    }
    int supported = 0;
    for (int id = 0; id < G4_TYPE_COUNT; id++) supported += g4_type_info(id) != NULL;
    assert_int_equal(supported, (int)N_TYPES);
}

static void test_type_names(void **state) {
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        char lower[16] = {0};
        for (size_t j = 0; k_expected[i].name[j]; j++) lower[j] = (char)tolower((unsigned char)k_expected[i].name[j]);
        assert_int_equal(g4_type_from_name(k_expected[i].name), k_expected[i].type);
        assert_int_equal(g4_type_from_name(lower), k_expected[i].type);
    }
    assert_int_equal(g4_type_from_name("q4_k"), G4_TYPE_Q4_K);
    assert_int_equal(g4_type_from_name("Bf16"), G4_TYPE_BF16);
    assert_int_equal(g4_type_from_name("q4_K"), G4_TYPE_Q4_K);
    assert_int_equal(g4_type_from_name("Q4_K "), G4_TYPE_UNKNOWN);
    assert_int_equal(g4_type_from_name("Q4"), G4_TYPE_UNKNOWN);
    assert_int_equal(g4_type_from_name("IQ4_XS"), G4_TYPE_UNKNOWN);
    assert_int_equal(g4_type_from_name(""), G4_TYPE_UNKNOWN);
    assert_int_equal(g4_type_from_name(NULL), G4_TYPE_UNKNOWN);
}

static void test_row_size(void **state) {
    (void)state;
    assert_int_equal(g4_row_size(G4_TYPE_Q4_K, 256), 144);
    assert_int_equal(g4_row_size(G4_TYPE_Q4_K, 2048), 8 * 144);
    assert_int_equal(g4_row_size(G4_TYPE_Q6_K, 512), 420);
    assert_int_equal(g4_row_size(G4_TYPE_Q8_0, 64), 68);
    assert_int_equal(g4_row_size(G4_TYPE_F32, 3), 12);
    assert_int_equal(g4_row_size(G4_TYPE_BF16, 7), 14);
    assert_int_equal(g4_row_size(G4_TYPE_F16, 0), 0);
    assert_int_equal(g4_row_size(G4_TYPE_Q4_K, 255), 0);
    assert_int_equal(g4_row_size(G4_TYPE_Q4_K, 128), 0);
    assert_int_equal(g4_row_size(G4_TYPE_Q8_0, 33), 0);
    assert_int_equal(g4_row_size(G4_TYPE_Q8_0, -32), 0);
    assert_int_equal(g4_row_size(G4_TYPE_UNKNOWN, 32), 0);
    /* overflow of size_t */
    assert_int_equal(g4_row_size(G4_TYPE_F32, INT64_MAX), 0);
    assert_int_equal(g4_row_size(G4_TYPE_Q4_K, (int64_t)1 << 40), ((size_t)1 << 32) * 144);

    float x[64] = {0};
    uint8_t buf[128];
    assert_int_equal(g4_quantize_row(G4_TYPE_Q8_0, x, buf, 64), 68);
    assert_int_equal(g4_quantize_row(G4_TYPE_Q8_0, x, buf, 48), 0);
    assert_int_equal(g4_quantize_row(G4_TYPE_UNKNOWN, x, buf, 32), 0);
}

/* ---- f16 and bf16 ------------------------------------------------------------------ */

/* The value of an f16 bit pattern from its definition, in double. */
static double f16_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v = exp == 0 ? ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

static void test_f16_exhaustive(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = g4_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            assert_true(isnan(f));
            assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
            uint16_t back = g4_f32_to_f16(f);
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
            assert_int_equal(back >> 15, h >> 15);
            continue;
        }
        if ((double)f != want || !signbit(f) != !signbit(want)) fail_msg("f16 %04x -> %a, want %a", h, f, want);
        if (g4_f32_to_f16(f) != h) fail_msg("f16 %04x does not round-trip (got %04x)", h, g4_f32_to_f16(f));
    }
}

/* For every pair of neighbouring finite f16 values of the same sign, the exact
 * midpoint rounds to the even one and the floats just either side of it round
 * to the nearer one. */
static void test_f16_rounding(void **state) {
    (void)state;
    for (uint32_t sign = 0; sign <= 0x8000; sign += 0x8000) {
        for (uint32_t h = 0; h < 0x7c00; h++) {
            uint16_t lo = (uint16_t)(sign | h), hi = (uint16_t)(sign | (h + 1)); /* hi may be inf */
            double a = f16_value(lo);
            double b = h + 1 == 0x7c00 ? (sign ? -65536.0 : 65536.0) : f16_value(hi);
            float mid = (float)((a + b) / 2); /* exact: f16 has 11 significant bits */
            assert_true((double)mid == (a + b) / 2);
            uint16_t even = (lo & 1) ? hi : lo;
            if (g4_f32_to_f16(mid) != even) fail_msg("midpoint %a: got %04x want %04x", mid, g4_f32_to_f16(mid), even);
            float toward_a = nextafterf(mid, (float)a), toward_b = nextafterf(mid, (float)b);
            assert_int_equal(g4_f32_to_f16(toward_a), lo);
            assert_int_equal(g4_f32_to_f16(toward_b), hi);
        }
    }
    assert_int_equal(g4_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(g4_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(g4_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(g4_f32_to_f16(1e10f), 0x7c00);
    assert_int_equal(g4_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(g4_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(g4_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(g4_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(g4_f32_to_f16(0x1p-25f), 0x0000);           /* tie to even: 0 */
    assert_int_equal(g4_f32_to_f16(nextafterf(0x1p-25f, 1)), 1); /* just above: smallest subnormal */
    assert_int_equal(g4_f32_to_f16(0x1.8p-24f), 2);              /* 1.5 ulp: tie to even 2 */
    assert_int_equal(g4_f32_to_f16(0x1p-30f), 0);
    assert_int_equal(g4_f32_to_f16(1e-40f), 0);                  /* f32 subnormal */
    assert_int_equal(g4_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(g4_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);    /* tie, down to even */
    assert_int_equal(g4_f32_to_f16(1.0f + 0x1.8p-10f), 0x3c02);  /* tie, up to even */
    uint16_t n = g4_f32_to_f16(NAN);
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
    n = g4_f32_to_f16(float_of(0x7f800001)); /* payload only in bits f16 drops */
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff));
}

static void test_bf16_exhaustive(void **state) {
    (void)state;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = g4_bf16_to_f32((uint16_t)b);
        assert_int_equal(bits_of(f), b << 16);
        uint16_t back = g4_f32_to_bf16(f);
        if ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) { /* NaN stays NaN, sign kept, made quiet */
            assert_true(isnan(g4_bf16_to_f32(back)));
            assert_int_equal(back, b | 0x40);
        } else if (back != b) {
            fail_msg("bf16 %04x does not round-trip (got %04x)", b, back);
        }
        if (b == 0xffff || (b & 0x7fff) >= 0x7f80) continue;
        /* the midpoint to the next pattern (larger magnitude) rounds to even */
        uint32_t mid = b << 16 | 0x8000;
        uint16_t even = (b & 1) ? (uint16_t)(b + 1) : (uint16_t)b;
        assert_int_equal(g4_f32_to_bf16(float_of(mid)), even);
        assert_int_equal(g4_f32_to_bf16(float_of(mid - 1)), b);
        assert_int_equal(g4_f32_to_bf16(float_of(mid + 1)), b + 1);
    }
    assert_int_equal(g4_f32_to_bf16(float_of(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    assert_int_equal(g4_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(g4_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(g4_f32_to_bf16(float_of(0x7f800001)), 0x7fc0); /* a naive round would give inf */
    assert_int_equal(g4_f32_to_bf16(float_of(0xff80ffff)), 0xffc0);
    assert_int_equal(g4_f32_to_bf16(float_of(0x00008000)), 0x0000); /* subnormal tie, to even */
    assert_int_equal(g4_f32_to_bf16(float_of(0x00018000)), 0x0002);
    assert_int_equal(g4_f32_to_bf16(float_of(0x00000001)), 0x0000);
}

/* ---- hand-packed blocks ------------------------------------------------------------- */

/* Random logical quants and scales packed by the documented layouts; the
 * dequantized values must equal the per-element formula. The scales are powers
 * of two so that every product is exact in float. */
#define KB 256

static void check_block(enum g4_type type, const uint8_t *blk, const double *want, int n) {
    float got[KB];
    g4_dequantize_row(type, blk, got, n);
    for (int e = 0; e < n; e++)
        if ((double)got[e] != want[e]) fail_msg("%s element %d: got %.9g want %.9g", g4_type_info(type)->name, e, got[e], want[e]);
}

/* Nibble e of a 32-element block: element e < 16 in the low nibble of byte e,
 * element e >= 16 in the high nibble of byte e - 16. */
static void put_nibble32(uint8_t *qs, int e, int v) {
    qs[e % 16] |= (uint8_t)((v & 15) << (e < 16 ? 0 : 4));
}

static void test_blocks_legacy(void **state) {
    (void)state;
    uint64_t rng = 7;
    double want[32];
    for (int iter = 0; iter < 200; iter++) {
        uint8_t blk[80];
        int q[32];
        for (int e = 0; e < 32; e++) q[e] = (int)(tu_rng_next(&rng) & 31);

        /* Q4_0: d; (q - 8) * d */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x3800); /* 0.5 */
        for (int e = 0; e < 32; e++) {
            put_nibble32(blk + 2, e, q[e]);
            want[e] = ((q[e] & 15) - 8) * 0.5;
        }
        check_block(G4_TYPE_Q4_0, blk, want, 32);

        /* Q4_1: d, m; q * d + m */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x3400);     /* 0.25 */
        put_u16(blk + 2, 0xbe00); /* -1.5 */
        for (int e = 0; e < 32; e++) {
            put_nibble32(blk + 4, e, q[e]);
            want[e] = (q[e] & 15) * 0.25 - 1.5;
        }
        check_block(G4_TYPE_Q4_1, blk, want, 32);

        /* Q5_0: d, qh (bit e = fifth bit of element e), nibbles; (q - 16) * d */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0xb000); /* -0.125 */
        for (int e = 0; e < 32; e++) {
            blk[2 + e / 8] |= (uint8_t)(((q[e] >> 4) & 1) << (e % 8));
            put_nibble32(blk + 6, e, q[e]);
            want[e] = (q[e] - 16) * -0.125;
        }
        check_block(G4_TYPE_Q5_0, blk, want, 32);

        /* Q5_1: d, m, qh, nibbles; q * d + m */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x4000);     /* 2 */
        put_u16(blk + 2, 0x4500); /* 5 */
        for (int e = 0; e < 32; e++) {
            blk[4 + e / 8] |= (uint8_t)(((q[e] >> 4) & 1) << (e % 8));
            put_nibble32(blk + 8, e, q[e]);
            want[e] = q[e] * 2.0 + 5.0;
        }
        check_block(G4_TYPE_Q5_1, blk, want, 32);

        /* Q8_0 and Q8_1: d (and s); q * d */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x2c00); /* 1/16 */
        for (int e = 0; e < 32; e++) {
            int8_t v = (int8_t)tu_rng_next(&rng);
            blk[2 + e] = (uint8_t)v;
            blk[36 + 4 + e] = (uint8_t)v;
            want[e] = v / 16.0;
        }
        check_block(G4_TYPE_Q8_0, blk, want, 32);
        put_u16(blk + 36, 0x2c00);
        put_u16(blk + 38, 0x7bff); /* s is not used */
        check_block(G4_TYPE_Q8_1, blk + 36, want, 32);
    }

    /* float types: a row of raw values */
    uint8_t raw[8];
    put_u16(raw, 0x3c00);
    put_u16(raw + 2, 0xc000);
    put_u16(raw + 4, 0x0001);
    put_u16(raw + 6, 0x7bff);
    double wf16[4] = {1.0, -2.0, 0x1p-24, 65504.0};
    check_block(G4_TYPE_F16, raw, wf16, 4);
    put_u16(raw, 0x3f80);
    put_u16(raw + 2, 0xc040);
    put_u16(raw + 4, 0x0001);
    put_u16(raw + 6, 0x4049);
    double wbf16[4] = {1.0, -3.0, 0x1p-133, 3.140625};
    check_block(G4_TYPE_BF16, raw, wbf16, 4);
    float f32[3] = {1.5f, -0.0f, 1e30f};
    double wf32[3] = {1.5, -0.0, (double)1e30f};
    check_block(G4_TYPE_F32, (const uint8_t *)f32, wf32, 3);
}

/* The 2-bit layout of Q2_K/Q3_K: element e in byte 32*(e/128) + e%32 at bit 2*((e%128)/32). */
static void put_2bit(uint8_t *qs, int e, int v) {
    qs[32 * (e / 128) + e % 32] |= (uint8_t)((v & 3) << (2 * ((e % 128) / 32)));
}

/* The 6-bit scales and mins of Q4_K/Q5_K, 8 of each, in 12 bytes: bytes 0-3 hold
 * sc[0..3] plus the top 2 bits of sc[4..7]; bytes 4-7 m[0..3] plus the top of
 * m[4..7]; bytes 8-11 the low nibbles of sc[4..7] and m[4..7]. */
static void put_k4_scales(uint8_t s[12], const int sc[8], const int m[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

static void test_blocks_k(void **state) {
    (void)state;
    uint64_t rng = 11;
    double want[KB];
    uint8_t blk[512];
    int q[KB], sc[16], mn[16];
    for (int iter = 0; iter < 50; iter++) {
        for (int e = 0; e < KB; e++) q[e] = (int)(tu_rng_next(&rng) & 63);
        for (int j = 0; j < 16; j++) {
            sc[j] = (int)(tu_rng_next(&rng) & 63);
            mn[j] = (int)(tu_rng_next(&rng) & 63);
        }

        /* Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin;
         * d * sc * q - dmin * m */
        memset(blk, 0, sizeof blk);
        for (int j = 0; j < 16; j++) blk[j] = (uint8_t)((sc[j] & 15) | (mn[j] & 15) << 4);
        for (int e = 0; e < KB; e++) put_2bit(blk + 16, e, q[e]);
        put_u16(blk + 80, 0x3800); /* d = 0.5 */
        put_u16(blk + 82, 0x3400); /* dmin = 0.25 */
        for (int e = 0; e < KB; e++) want[e] = 0.5 * (sc[e / 16] & 15) * (q[e] & 3) - 0.25 * (mn[e / 16] & 15);
        check_block(G4_TYPE_Q2_K, blk, want, KB);

        /* Q3_K: hmask[32] (bit e/32 of byte e%32 is bit 2 of quant e), qs[64],
         * scales[12] (6-bit, stored + 32), d; d * (s - 32) * (q - 4) */
        memset(blk, 0, sizeof blk);
        for (int e = 0; e < KB; e++) {
            int v = q[e] & 7;
            blk[e % 32] |= (uint8_t)((v >> 2) << (e / 32));
            put_2bit(blk + 32, e, v);
        }
        for (int j = 0; j < 16; j++) {
            uint8_t *s = blk + 96;
            s[j % 8] |= (uint8_t)((sc[j] & 15) << (j < 8 ? 0 : 4));
            s[8 + j % 4] |= (uint8_t)((sc[j] >> 4) << (2 * (j / 4)));
        }
        put_u16(blk + 108, 0x3400); /* 0.25 */
        for (int e = 0; e < KB; e++) want[e] = 0.25 * (sc[e / 16] - 32) * ((q[e] & 7) - 4);
        check_block(G4_TYPE_Q3_K, blk, want, KB);

        /* Q4_K: d, dmin, scales[12], qs[128] (byte 32*(e/64) + e%32, nibble (e/32)&1);
         * d * sc * q - dmin * m per 32 */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x3000);     /* 0.125 */
        put_u16(blk + 2, 0x3c00); /* 1 */
        put_k4_scales(blk + 4, sc, mn);
        for (int e = 0; e < KB; e++) blk[16 + 32 * (e / 64) + e % 32] |= (uint8_t)((q[e] & 15) << (4 * ((e / 32) & 1)));
        for (int e = 0; e < KB; e++) want[e] = 0.125 * sc[e / 32] * (q[e] & 15) - 1.0 * mn[e / 32];
        check_block(G4_TYPE_Q4_K, blk, want, KB);

        /* Q5_K: as Q4_K plus qh[32] (bit e/32 of byte e%32 = fifth bit) before qs */
        memset(blk, 0, sizeof blk);
        put_u16(blk, 0x3800);     /* 0.5 */
        put_u16(blk + 2, 0x3400); /* 0.25 */
        put_k4_scales(blk + 4, sc, mn);
        for (int e = 0; e < KB; e++) {
            int v = q[e] & 31;
            blk[16 + e % 32] |= (uint8_t)((v >> 4) << (e / 32));
            blk[48 + 32 * (e / 64) + e % 32] |= (uint8_t)((v & 15) << (4 * ((e / 32) & 1)));
        }
        for (int e = 0; e < KB; e++) want[e] = 0.5 * sc[e / 32] * (q[e] & 31) - 0.25 * mn[e / 32];
        check_block(G4_TYPE_Q5_K, blk, want, KB);

        /* Q6_K: ql[128], qh[64], scales[16] (int8), d; d * sc * (q - 32).
         * In each half of 128, element r = 32*g + l: low nibble in ql[64*half +
         * l + 32*(g&1)] (high nibble when g >= 2), top 2 bits in qh[32*half + l] at 2*g. */
        memset(blk, 0, sizeof blk);
        for (int e = 0; e < KB; e++) {
            int half = e / 128, g = (e % 128) / 32, l = e % 32;
            blk[64 * half + l + 32 * (g & 1)] |= (uint8_t)((q[e] & 15) << (g >= 2 ? 4 : 0));
            blk[128 + 32 * half + l] |= (uint8_t)((q[e] >> 4) << (2 * g));
        }
        for (int j = 0; j < 16; j++) blk[192 + j] = (uint8_t)(int8_t)(sc[j] * 4 - 128);
        put_u16(blk + 208, 0x2000); /* 1/128 */
        for (int e = 0; e < KB; e++) want[e] = (sc[e / 16] * 4 - 128) / 128.0 * (q[e] - 32);
        check_block(G4_TYPE_Q6_K, blk, want, KB);

        /* Q8_K: f32 d, qs[256], bsums[16]; d * q */
        memset(blk, 0, sizeof blk);
        float d = -0.375f;
        memcpy(blk, &d, 4);
        for (int e = 0; e < KB; e++) blk[4 + e] = (uint8_t)(q[e] * 4 - 128);
        for (int e = 0; e < KB; e++) want[e] = -0.375 * (int8_t)(q[e] * 4 - 128);
        check_block(G4_TYPE_Q8_K, blk, want, KB);
    }
}

/* ---- round trips on random data -------------------------------------------------------- */

enum { D_GAUSS, D_UNIFORM, D_OUTLIERS, D_OFFSET, D_SMALL, D_LARGE, D_ZERO, N_DISTS };
static const char *const k_dist_names[N_DISTS] = {"gauss", "uniform", "outliers", "offset", "small", "large", "zero"};

#define ROW 4096
#define ROWS 8

/* rows of distribution `dist`: standard normal; uniform in [-1, 1]; normal with
 * 0.5% of values 20x larger; |normal| + 1 (all positive); normal * 1e-3;
 * normal * 1e3; zeros. */
static void fill(float *x, int n, int dist, uint64_t seed) {
    uint64_t rng = seed;
    for (int i = 0; i < n; i++) {
        float g = tu_rng_gauss(&rng);
        switch (dist) {
        case D_GAUSS: x[i] = g; break;
        case D_UNIFORM: x[i] = (float)(2 * tu_rng_uniform(&rng) - 1); break;
        case D_OUTLIERS: x[i] = tu_rng_uniform(&rng) < 0.005 ? 20 * g : g; break;
        case D_OFFSET: x[i] = fabsf(g) + 1; break;
        case D_SMALL: x[i] = g * 1e-3f; break;
        case D_LARGE: x[i] = g * 1e3f; break;
        default: x[i] = 0; break;
        }
    }
}

/* RMS(dequant(quant(x)) - x) / RMS(x) (or the plain RMS for zeros), or -1 when
 * a value comes back as inf or NaN. */
static double rel_rms_error(enum g4_type type, const float *x, int n, uint8_t *q, float *y) {
    if (g4_quantize_row(type, x, q, n) != g4_row_size(type, n)) return -1;
    g4_dequantize_row(type, q, y, n);
    double err = 0, ref = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) return -1;
        err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        ref += (double)x[i] * x[i];
    }
    return ref > 0 ? sqrt(err / ref) : sqrt(err);
}

/* Upper bounds on the relative RMS error: measured with this test's data, then
 * given about 15% headroom (Debug/ASan and -O2 -march=native measure the same). */
static const struct {
    enum g4_type type;
    double bound[N_DISTS - 1]; /* gauss, uniform, outliers, offset, small, large */
} k_bounds[] = {
    {G4_TYPE_F32, {0, 0, 0, 0, 0, 0}},
    {G4_TYPE_F16, {2.4e-4, 2.4e-4, 2.4e-4, 2.4e-4, 2.4e-4, 2.4e-4}},        /* 2.07e-4 */
    {G4_TYPE_BF16, {1.95e-3, 1.95e-3, 1.95e-3, 1.95e-3, 1.95e-3, 1.95e-3}}, /* 1.65e-3 */
    {G4_TYPE_Q8_0, {6.2e-3, 4.4e-3, 1.2e-2, 4.7e-3, 6.3e-3, 6.2e-3}},   /* 5.33e-3 3.76e-3 1.04e-2 4.03e-3 */
    {G4_TYPE_Q8_1, {6.2e-3, 4.4e-3, 1.2e-2, 4.7e-3, 6.3e-3, 6.2e-3}},   /* as Q8_0 */
    {G4_TYPE_Q8_K, {8.2e-3, 4.6e-3, 3.1e-2, 5.7e-3, 8.0e-3, 8.0e-3}},   /* 7.05e-3 3.92e-3 2.67e-2 4.89e-3 */
    {G4_TYPE_Q6_K, {2.0e-2, 1.55e-2, 3.5e-2, 1.55e-2, 2.35e-2, 2.05e-2}}, /* 1.75e-2 1.33e-2 3.05e-2 1.32e-2 */
    {G4_TYPE_Q5_0, {4.9e-2, 3.6e-2, 9.4e-2, 3.7e-2, 4.9e-2, 4.9e-2}},   /* 4.27e-2 3.12e-2 8.12e-2 3.18e-2 */
    {G4_TYPE_Q5_1, {4.35e-2, 3.4e-2, 5.8e-2, 1.3e-2, 4.35e-2, 4.35e-2}}, /* 3.76e-2 2.95e-2 4.99e-2 1.13e-2 */
    {G4_TYPE_Q5_K, {4.15e-2, 3.2e-2, 5.5e-2, 1.8e-2, 4.25e-2, 4.15e-2}}, /* 3.59e-2 2.76e-2 4.76e-2 1.54e-2 */
    {G4_TYPE_Q4_0, {9.8e-2, 7.5e-2, 0.162, 7.4e-2, 9.8e-2, 9.9e-2}},    /* 8.52e-2 6.48e-2 1.40e-1 6.42e-2 */
    {G4_TYPE_Q4_1, {9.0e-2, 7.0e-2, 0.119, 2.7e-2, 9.0e-2, 9.0e-2}},    /* 7.81e-2 6.08e-2 1.03e-1 2.34e-2 */
    {G4_TYPE_Q4_K, {8.2e-2, 6.3e-2, 0.110, 3.6e-2, 8.2e-2, 8.2e-2}},    /* 7.09e-2 5.45e-2 9.49e-2 3.10e-2 */
    {G4_TYPE_Q3_K, {0.173, 0.144, 0.174, 0.132, 0.173, 0.174}},         /* 0.150 0.125 0.151 0.115 */
    {G4_TYPE_Q2_K, {0.34, 0.27, 0.30, 0.157, 0.34, 0.34}},              /* 0.295 0.233 0.259 0.136 */
};
#define N_BOUNDS (sizeof k_bounds / sizeof k_bounds[0])

static void test_round_trip(void **state) {
    (void)state;
    static double err[N_BOUNDS][N_DISTS];
    float *x = malloc(sizeof(float) * ROW * ROWS), *y = malloc(sizeof(float) * ROW * ROWS);
    uint8_t *q = malloc(sizeof(float) * ROW * ROWS);
    assert_true(x && y && q);
    for (int d = 0; d < N_DISTS; d++) {
        fill(x, ROW * ROWS, d, 1000 + (uint64_t)d);
        for (size_t t = 0; t < N_BOUNDS; t++) err[t][d] = rel_rms_error(k_bounds[t].type, x, ROW * ROWS, q, y);
    }
    free(x);
    free(y);
    free(q);

    printf("relative RMS error of dequant(quant(x)), %d x %d values:\n%-5s", ROWS, ROW, "");
    for (int d = 0; d < N_DISTS - 1; d++) printf(" %9s", k_dist_names[d]);
    printf("\n");
    for (size_t t = 0; t < N_BOUNDS; t++) {
        printf("%-5s", g4_type_info(k_bounds[t].type)->name);
        for (int d = 0; d < N_DISTS - 1; d++) printf(" %9.3e", err[t][d]);
        printf("\n");
    }
    for (size_t t = 0; t < N_BOUNDS; t++) {
        const char *name = g4_type_info(k_bounds[t].type)->name;
        if (err[t][D_ZERO] != 0) fail_msg("%s: zeros do not come back as zeros", name);
        for (int d = 0; d < N_DISTS - 1; d++)
            if (err[t][d] < 0 || err[t][d] > k_bounds[t].bound[d])
                fail_msg("%s on %s data: relative RMS error %.4g (-1: not finite) above bound %.4g", name,
                         k_dist_names[d], err[t][d], k_bounds[t].bound[d]);
    }
}

/* Quantizing the same data twice gives the same bytes, row by row or all at once. */
static void test_deterministic(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * ROW * 2);
    uint8_t *a = calloc(1, ROW * 2 * 4), *b = calloc(1, ROW * 2 * 4);
    assert_true(x && a && b);
    fill(x, ROW * 2, D_OUTLIERS, 5);
    for (size_t i = 0; i < N_TYPES; i++) {
        enum g4_type type = k_expected[i].type;
        size_t rs = g4_row_size(type, ROW);
        g4_quantize_row(type, x, a, ROW * 2);
        g4_quantize_row(type, x, b, ROW);
        g4_quantize_row(type, x + ROW, b + rs, ROW);
        assert_memory_equal(a, b, 2 * rs);
    }
    free(x);
    free(a);
    free(b);
}

/* Blocks of inf, NaN and extreme values quantize without undefined behaviour
 * (the sanitizer build checks) and leave the blocks around them untouched. */
static void test_nonfinite_input(void **state) {
    (void)state;
    const float bad[] = {INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, 1e-45f, 1e30f};
    enum { bs = 256 }; /* a whole number of blocks of every type */
    float x[3 * bs], y[3 * bs], alone[bs];
    uint8_t q[3 * bs * 4], qa[bs * 4];
    for (size_t i = 0; i < N_TYPES; i++) {
        enum g4_type type = k_expected[i].type;
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            fill(x, 3 * bs, D_GAUSS, 3);
            for (int j = 0; j < bs; j += 3) x[j] = bad[b]; /* first 256: every third value bad */
            for (int j = 2 * bs; j < 3 * bs; j++) x[j] = bad[b]; /* last 256: all bad */
            assert_int_equal(g4_quantize_row(type, x, q, 3 * bs), 3 * g4_row_size(type, bs));
            g4_dequantize_row(type, q, y, 3 * bs);
            g4_quantize_row(type, x + bs, qa, bs);
            g4_dequantize_row(type, qa, alone, bs);
            assert_memory_equal(y + bs, alone, sizeof(float) * (size_t)bs);
        }
    }
}

/* ---- cross-check with ggml ------------------------------------------------------------- */

static int peer_setup(void **state) {
    static peer_base p;
    peer_base_open(&p); /* leaves p zeroed when there is no peer: the test skips */
    *state = &p;
    return 0;
}

static int peer_teardown(void **state) {
    peer_base_close(*state);
    return 0;
}

/* Rows that reach the quantizers' corner cases, a different one per block of
 * 32: magnitudes from 1e-8 to 1e4, constant blocks, blocks of one sign, sparse
 * blocks, a single non-zero, and ties on the quantization grid. */
static void fill_edge_cases(float *x, int n, uint64_t seed) {
    uint64_t rng = seed;
    for (int b = 0; b < n; b += 32) {
        float *v = x + b;
        float scale = (float)pow(10.0, -8 + 12 * tu_rng_uniform(&rng));
        int kind = (int)(tu_rng_next(&rng) % 7);
        for (int i = 0; i < 32; i++) {
            float g = tu_rng_gauss(&rng) * scale;
            switch (kind) {
            case 0: v[i] = g; break;
            case 1: v[i] = scale; break;                                  /* constant */
            case 2: v[i] = -fabsf(g); break;                              /* all negative */
            case 3: v[i] = tu_rng_uniform(&rng) < 0.1 ? g : 0; break;        /* sparse */
            case 4: v[i] = i == 5 ? g : 0; break;                         /* one value */
            case 5: v[i] = (float)((int)(tu_rng_next(&rng) % 17) - 8) * 0.25f * scale; break; /* grid */
            default: v[i] = fabsf(g) + 10 * scale; break;                 /* large offset */
            }
        }
    }
}

/* Counts elements whose float bits differ. */
static long float_bit_diffs(const float *a, const float *b, size_t n) {
    long d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], 4) != 0;
    return d;
}

static void test_ggml_cross_check(void **state) {
    const peer_base *p = *state;
    if (!p->lib) {
        printf("skipped: set G4_PEER_LIB_DIR to the directory of llama.cpp's libggml-base.so "
               "(sh ../shared/peer/setup.sh /tmp/g4peer installs one)\n");
        skip();
    }
    /* two rows of each distribution, then two of the edge cases */
    const size_t n = 2 * ROW * (N_DISTS + 1);
    float *x = malloc(sizeof(float) * n), *ours = malloc(sizeof(float) * n), *theirs = malloc(sizeof(float) * n);
    uint8_t *qa = malloc(n * 4), *qb = malloc(n * 4);
    assert_true(x && ours && theirs && qa && qb);
    for (int d = 0; d < N_DISTS; d++) fill(x + (size_t)d * 2 * ROW, 2 * ROW, d, 77 + (uint64_t)d);
    fill_edge_cases(x + (size_t)N_DISTS * 2 * ROW, 2 * ROW, 99);

    for (size_t i = 0; i < N_TYPES; i++) {
        enum g4_type type = k_expected[i].type;
        const g4_type_traits *t = g4_type_info(type);
        const struct ggml_type_traits *g = p->type_traits(type);
        assert_non_null(g);
        if (strcasecmp(g->type_name, t->name) != 0) fail_msg("type %d: ggml calls it %s, we %s", type, g->type_name, t->name);
        assert_int_equal(g->blck_size, t->block_size);
        assert_int_equal(g->type_size, t->type_size);
        ggml_to_float_t to_float = type == G4_TYPE_Q8_K ? p->dequantize_q8_K : g->to_float;
        ggml_from_float_t from_float = type == G4_TYPE_Q8_K ? p->quantize_q8_K : g->from_float_ref;
        size_t bytes = g4_row_size(type, (int64_t)n), nblocks = bytes / (size_t)t->type_size;

        /* our bytes, dequantized by both */
        memset(qa, 0, bytes);
        g4_quantize_row(type, x, qa, (int64_t)n);
        long fd1 = -1, fd2 = -1, bd = -1;
        if (to_float) {
            to_float(qa, theirs, (int64_t)n);
            g4_dequantize_row(type, qa, ours, (int64_t)n);
            fd1 = float_bit_diffs(ours, theirs, n);
        }
        /* random bytes (any scales, including inf and NaN), dequantized by both */
        long fd3 = -1;
        if (to_float) {
            uint64_t rng = 5 + (uint64_t)type;
            for (size_t b = 0; b < bytes; b++) qa[b] = (uint8_t)tu_rng_next(&rng);
            to_float(qa, theirs, (int64_t)n);
            g4_dequantize_row(type, qa, ours, (int64_t)n);
            fd3 = float_bit_diffs(ours, theirs, n);
            memset(qa, 0, bytes);
            g4_quantize_row(type, x, qa, (int64_t)n);
        }
        /* ggml's bytes, dequantized by both, and compared with ours */
        if (from_float) {
            memset(qb, 0, bytes);
            from_float(x, qb, (int64_t)n);
            bd = 0;
            for (size_t b = 0; b < nblocks; b++)
                bd += memcmp(qa + b * t->type_size, qb + b * t->type_size, (size_t)t->type_size) != 0;
            if (to_float) {
                to_float(qb, theirs, (int64_t)n);
                g4_dequantize_row(type, qb, ours, (int64_t)n);
                fd2 = float_bit_diffs(ours, theirs, n);
            }
        }
        if (!from_float && !to_float) {
            printf("%-5s vs ggml: nothing to compare (ggml has no converters for it)\n", t->name);
        } else {
            printf("%-5s vs ggml: %ld/%zu blocks differ", t->name, bd, nblocks);
            if (to_float)
                printf("; floats differ: %ld (our bytes), %ld (ggml's bytes), %ld (random bytes)\n", fd1, fd2, fd3);
            else
                printf(" (ggml has no dequantizer)\n");
        }
        assert_true(fd1 <= 0 && fd2 <= 0 && fd3 <= 0);
        assert_true(bd <= 0);
    }

    /* f16 and bf16 conversions on all f16 patterns and a spread of f32 patterns */
    const struct ggml_type_traits *f16 = p->type_traits(G4_TYPE_F16), *bf16 = p->type_traits(G4_TYPE_BF16);
    uint16_t *h = malloc(65536 * 2), *ha = malloc(65536 * 2), *hb = malloc(65536 * 2);
    float *fa = malloc(65536 * 4), *fb = malloc(65536 * 4);
    assert_true(h && ha && hb && fa && fb);
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    f16->to_float(h, fa, 65536);
    for (uint32_t i = 0; i < 65536; i++) fb[i] = g4_f16_to_f32(h[i]);
    assert_int_equal(float_bit_diffs(fa, fb, 65536), 0);
    long d16 = 0, dbf = 0;
    for (uint64_t base = 0; base < 4096; base++) {
        for (uint32_t i = 0; i < 65536; i++) fa[i] = float_of((uint32_t)(i * 65537u + base * 1048573u));
        f16->from_float_ref(fa, ha, 65536);
        bf16->from_float_ref(fa, hb, 65536);
        for (uint32_t i = 0; i < 65536; i++) {
            d16 += ha[i] != g4_f32_to_f16(fa[i]);
            dbf += hb[i] != g4_f32_to_bf16(fa[i]);
        }
    }
    printf("f32 -> f16/bf16 on 2^28 patterns: %ld / %ld differ from ggml\n", d16, dbf);
    assert_int_equal(d16, 0);
    assert_int_equal(dbf, 0);
    free(h);
    free(ha);
    free(hb);
    free(fa);
    free(fb);
    free(x);
    free(ours);
    free(theirs);
    free(qa);
    free(qb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_row_size),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16_exhaustive),
        cmocka_unit_test(test_blocks_legacy),
        cmocka_unit_test(test_blocks_k),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_nonfinite_input),
        cmocka_unit_test_setup_teardown(test_ggml_cross_check, peer_setup, peer_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
