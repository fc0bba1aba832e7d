/* gemm_unpack.c: weight rows to bf16 for the AMX matrix product (gemm_amx.c), one
 * converter per weight type. Each gives exactly g4_f32_to_bf16 of the floats
 * g4_dequantize_row gives: the same float formula per element, then rounding to
 * nearest even. The types prefill spends its time on (BF16, F16, F32 and the 32-element
 * and Q4_K/Q5_K/Q6_K blocks) are unpacked with AVX-512; Q2_K and Q3_K go through
 * g4_dequantize_row.
 *
 * Rounding: VCVTNE2PS2BF16 rounds to nearest even like g4_f32_to_bf16 but reads
 * subnormal floats as zero. A quantized or f16 weight is 0 or a multiple of an f16 step
 * (at least 2^-24), never an f32 subnormal, so the instruction is exact for them;
 * f32 weights (which may be subnormal) and g4_dequantize_row's output go through
 * g4k_f32_to_bf16, which does g4_f32_to_bf16's integer rounding. Where a formula is
 * q*d + m, q*d is exact in f32 (an integer of at most 5 bits times a scale of at most
 * 17 significant bits), so an FMA rounds it the same as the separate multiply and add. */
#include "cpu/gemm.h"
#include "cpu/dot.h"
#include "model/quant.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,f16c")))

/* ---- helpers --------------------------------------------------------------------------- */

/* Elements 0..15 (lo) and 16..31 (hi) to bf16 with VCVTNE2PS2BF16 (see the top). */
AVX512 static inline void store_bf16x32(uint16_t *dst, __m512 lo, __m512 hi) {
    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

AVX512 static inline __m512 i8_to_f32(__m128i q) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
}

AVX512 static inline float f16(uint16_t h) {
    return _cvtsh_ss(h);
}

/* 32 four-bit values of a 32-element block (elements j and j+16 share byte j), as bytes. */
AVX512 static inline __m256i nibbles_32(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

/* Adds 16 to byte j of q where bit j of the little-endian u32 at qh is set. */
AVX512 static inline __m256i add_fifth_bits(__m256i q, const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    return _mm256_mask_add_epi8(q, _cvtu32_mask32(bits), q, _mm256_set1_epi8(16));
}

/* bf16 of 32 signed bytes times d. */
AVX512 static inline void store_scaled(uint16_t *dst, __m256i q, __m512 d) {
    store_bf16x32(dst, _mm512_mul_ps(i8_to_f32(_mm256_castsi256_si128(q)), d),
                  _mm512_mul_ps(i8_to_f32(_mm256_extracti128_si256(q, 1)), d));
}

/* bf16 of 32 signed bytes times d plus m (q*d is exact: see the top). */
AVX512 static inline void store_scaled_plus(uint16_t *dst, __m256i q, __m512 d, __m512 m) {
    store_bf16x32(dst, _mm512_fmadd_ps(i8_to_f32(_mm256_castsi256_si128(q)), d, m),
                  _mm512_fmadd_ps(i8_to_f32(_mm256_extracti128_si256(q, 1)), d, m));
}

/* 16 signed bytes times a scale, as floats. */
AVX512 static inline __m512 scaled16(__m128i q, float scale) {
    return _mm512_mul_ps(_mm512_set1_ps(scale), i8_to_f32(q));
}

/* ---- float types ------------------------------------------------------------------------- */

AVX512 void g4k_f32_to_bf16(const float *src, uint16_t *dst, int64_t n) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), quiet = _mm512_set1_epi32(64);
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 v = _mm512_loadu_ps(src + i);
        const __m512i x = _mm512_castps_si512(v), high = _mm512_srli_epi32(x, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(_mm512_and_si512(high, one), bias)), 16);
        r = _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), high, quiet); /* NaN: made quiet */
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(r));
    }
}

static void unpack_f32(const void *src, uint16_t *dst, int64_t n) {
    g4k_f32_to_bf16(src, dst, n);
}

static void unpack_bf16(const void *src, uint16_t *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * 2);
}

AVX512 static void unpack_f16(const void *src, uint16_t *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i += 32)
        store_bf16x32(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))),
                      _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i + 16))));
}

/* ---- 32-element blocks ------------------------------------------------------------------ */

AVX512 static void unpack_q8_0(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / G4K_QK; i++, dst += G4K_QK)
        store_scaled(dst, _mm256_loadu_si256((const __m256i *)b[i].qs), _mm512_set1_ps(f16(b[i].d)));
}

AVX512 static void unpack_q4_0(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / G4K_QK; i++, dst += G4K_QK)
        store_scaled(dst, _mm256_sub_epi8(nibbles_32(b[i].qs), _mm256_set1_epi8(8)), _mm512_set1_ps(f16(b[i].d)));
}

AVX512 static void unpack_q4_1(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / G4K_QK; i++, dst += G4K_QK)
        store_scaled_plus(dst, nibbles_32(b[i].qs), _mm512_set1_ps(f16(b[i].d)), _mm512_set1_ps(f16(b[i].m)));
}

AVX512 static void unpack_q5_0(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / G4K_QK; i++, dst += G4K_QK) {
        const __m256i q = _mm256_sub_epi8(add_fifth_bits(nibbles_32(b[i].qs), b[i].qh), _mm256_set1_epi8(16));
        store_scaled(dst, q, _mm512_set1_ps(f16(b[i].d)));
    }
}

AVX512 static void unpack_q5_1(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / G4K_QK; i++, dst += G4K_QK)
        store_scaled_plus(dst, add_fifth_bits(nibbles_32(b[i].qs), b[i].qh), _mm512_set1_ps(f16(b[i].d)),
                          _mm512_set1_ps(f16(b[i].m)));
}

/* ---- K-quants ------------------------------------------------------------------------- */

/* The 8 scales (out[0..7]) and mins (out[8..15]) of a Q4_K/Q5_K super-block, 6 bits each,
 * times d and dmin as g4_dequantize_row_q4_K computes them. */
AVX512 static inline void k4_scales(const uint8_t packed[12], float d, float dmin, float out[16]) {
    uint32_t u[4]; /* scales 0-3, 4-7, mins 0-3, 4-7 */
    memcpy(u, packed, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4;
    const uint32_t mins_lo = u[1] & 0x3f3f3f3f;
    u[1] = (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4;
    u[2] = mins_lo;
    u[0] &= 0x3f3f3f3f;
    const __m128i bytes = _mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]); /* not through memory */
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
    _mm512_storeu_ps(out, _mm512_mul_ps(f, _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(d), _mm512_set1_ps(dmin))));
}

/* Sub-block s (32 quants 0..31 as bytes) of a Q4_K/Q5_K super-block: scale * q - min. */
AVX512 static inline void store_k4_sub(uint16_t *dst, __m256i q, const float scales_mins[16], int s) {
    const __m512 scale = _mm512_set1_ps(scales_mins[s]), min = _mm512_set1_ps(scales_mins[8 + s]);
    store_bf16x32(dst, _mm512_fmsub_ps(i8_to_f32(_mm256_castsi256_si128(q)), scale, min),
                  _mm512_fmsub_ps(i8_to_f32(_mm256_extracti128_si256(q, 1)), scale, min));
}

AVX512 static void unpack_q4_K(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q4_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        float sm[16];
        k4_scales(b[i].scales, f16(b[i].d), f16(b[i].dmin), sm);
        for (int s = 0; s < 8; s += 2, dst += 64) { /* 32 bytes: sub-block s in the low nibbles, s+1 in the high */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 16 * s));
            store_k4_sub(dst, _mm256_and_si256(q, m4), sm, s);
            store_k4_sub(dst + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), sm, s + 1);
        }
    }
}

AVX512 static void unpack_q5_K(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q5_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0f), sixteen = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        float sm[16];
        k4_scales(b[i].scales, f16(b[i].d), f16(b[i].dmin), sm);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh); /* fifth bit of sub-block s in bit s */
        for (int s = 0; s < 8; s += 2, dst += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b[i].qs + 16 * s));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __mmask32 bit_lo = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << s)));
            const __mmask32 bit_hi = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << s)));
            store_k4_sub(dst, _mm256_mask_add_epi8(lo, bit_lo, lo, sixteen), sm, s);
            store_k4_sub(dst + 32, _mm256_mask_add_epi8(hi, bit_hi, hi, sixteen), sm, s + 1);
        }
    }
}

/* Q6_K: per half of 128, ql[l] holds elements l (low nibble) and l+64 (high), ql[l+32]
 * elements l+32 and l+96, qh[l] their top two bits in that order; the scale changes every
 * 16 elements. Element value: (d * sc) * (q - 32). */
AVX512 static void unpack_q6_K(const void *src, uint16_t *dst, int64_t n) {
    const g4k_block_q6_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / G4_QK_K; i++) {
        float scales[16]; /* d * sc, as g4_dequantize_row_q6_K computes it */
        const __m512 sc_f = i8_to_f32(_mm_loadu_si128((const __m128i *)b[i].scales));
        _mm512_storeu_ps(scales, _mm512_mul_ps(_mm512_set1_ps(f16(b[i].d)), sc_f));
        for (int half = 0; half < 2; half++, dst += 128) {
            const uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
            const float *sc = scales + 8 * half;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2)),
            };
            for (int j = 0; j < 4; j++) {
                const __m256i v = _mm256_sub_epi8(q[j], bias);
                store_bf16x32(dst + 32 * j, scaled16(_mm256_castsi256_si128(v), sc[2 * j]),
                              scaled16(_mm256_extracti128_si256(v, 1), sc[2 * j + 1]));
            }
        }
    }
}

/* ---- Q8_0 repacked, 16 rows interleaved ---------------------------------------------------- */

/* Each 64-byte group of a block's quants holds elements 4g .. 4g+3 of the 16 rows, a
 * row per 32-bit lane, as the rows' scales lie in a vector: byte j of every lane times
 * the scales gives element 4g + j of the 16 rows, and two such vectors, rounded and
 * interleaved word by word, are a tile row. */
AVX512 void g4k_unpack_tiles_q8_0_r16(const void *group, int64_t k0, int nk, uint16_t *tiles) {
    const g4k_block_q8_0x16 *b = (const g4k_block_q8_0x16 *)group + k0 / G4K_QK;
    /* word 2r of a tile row from word r of the first vector, 2r + 1 from word r of the second */
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int i = 0; i < nk / G4K_QK; i++, tiles += 512) {
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b[i].d));
        for (int g = 0; g < 8; g++) {
            const __m512i q = _mm512_xor_si512(_mm512_loadu_si512(b[i].qs + 64 * g), _mm512_set1_epi8((char)0x80));
            __m512 e[4];
            for (int j = 0; j < 4; j++)
                e[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(q, 24 - 8 * j), 24)), d);
            for (int p = 0; p < 2; p++) {
                const __m512i words = (__m512i)_mm512_cvtne2ps_pbh(e[2 * p + 1], e[2 * p]);
                _mm512_storeu_si512(tiles + (2 * g + p) * 32, _mm512_permutexvar_epi16(pairs, words));
            }
        }
    }
}

/* ---- the rest: through g4_dequantize_row, one super-block at a time ------------------------------ */

static void unpack_dequantized(enum g4_type type, const void *src, uint16_t *dst, int64_t n) {
    const g4_type_traits *info = g4_type_info(type);
    float f[G4_QK_K];
    for (int64_t i = 0; i < n; i += G4_QK_K) {
        g4_dequantize_row(type, (const char *)src + i / info->block_size * info->type_size, f, G4_QK_K);
        g4k_f32_to_bf16(f, dst + i, G4_QK_K);
    }
}

static void unpack_q2_K(const void *src, uint16_t *dst, int64_t n) {
    unpack_dequantized(G4_TYPE_Q2_K, src, dst, n);
}

static void unpack_q3_K(const void *src, uint16_t *dst, int64_t n) {
    unpack_dequantized(G4_TYPE_Q3_K, src, dst, n);
}

g4k_bf16_unpacker g4k_bf16_unpacker_for(enum g4_type type) {
    switch (type) {
    case G4_TYPE_F32: return unpack_f32;
    case G4_TYPE_F16: return unpack_f16;
    case G4_TYPE_BF16: return unpack_bf16;
    case G4_TYPE_Q8_0: return unpack_q8_0;
    case G4_TYPE_Q4_0: return unpack_q4_0;
    case G4_TYPE_Q4_1: return unpack_q4_1;
    case G4_TYPE_Q5_0: return unpack_q5_0;
    case G4_TYPE_Q5_1: return unpack_q5_1;
    case G4_TYPE_Q2_K: return unpack_q2_K;
    case G4_TYPE_Q3_K: return unpack_q3_K;
    case G4_TYPE_Q4_K: return unpack_q4_K;
    case G4_TYPE_Q5_K: return unpack_q5_K;
    case G4_TYPE_Q6_K: return unpack_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64: no AMX, so no unpackers */

void g4k_unpack_tiles_q8_0_r16(const void *group, int64_t k0, int nk, uint16_t *tiles) {
    (void)group, (void)k0, (void)nk, (void)tiles;
}

g4k_bf16_unpacker g4k_bf16_unpacker_for(enum g4_type type) {
    (void)type;
    return NULL;
}

void g4k_f32_to_bf16(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = g4_f32_to_bf16(src[i]);
}

#endif
