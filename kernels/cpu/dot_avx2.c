/* dot_avx2.c: AVX2+FMA (and F16C) versions of the dot products in dot.h, after
 * ggml's x86 ggml_vec_dot_*: 32 quants at a time with maddubs/madd, the integer
 * sums exact per block, scaled and accumulated in 8 float lanes.
 *
 * Each function carries __attribute__((target)), so that this file builds
 * (and the rest of the engine stays generic) without -mavx2; g4k_dot_avx2
 * hands the kernels out only when the CPU reports AVX2, FMA and F16C. dot_rows
 * is dot row after row here. */
#include "cpu/dot.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* ---- helpers ------------------------------------------------------------------------- */

/* The weights stream from memory once: asking for them this many bytes ahead
 * of their use keeps more line fills in flight than the hardware prefetchers
 * do (from DRAM, one thread: Q4_K 5.5 -> 11 GB/s, Q8_0 6.6 -> 11.6). */
#define PREFETCH_AHEAD 2048

/* Prefetches the cache lines of the `bytes` bytes PREFETCH_AHEAD after p.
 * Always inline: gcc 12's mod/ref analysis otherwise deletes calls to it. */
AVX2 static inline __attribute__((always_inline)) void prefetch_ahead(const void *p, int bytes) {
    for (int line = 0; line < bytes; line += 64) _mm_prefetch((const char *)p + PREFETCH_AHEAD + line, _MM_HINT_T0);
}

AVX2 static inline float hsum_f32x8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2 static inline int hsum_i32x4(__m128i x) {
    __m128i h = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1)); /* swap adjacent lanes */
    return _mm_cvtsi128_si32(h);
}

AVX2 static inline float f16s(uint16_t h) {
    return _cvtsh_ss(h);
}

/* Sums adjacent pairs of unsigned bytes ax times signed bytes sy, as 8 floats. */
AVX2 static inline __m256 mul_sum_us8(__m256i ax, __m256i sy) {
    const __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

/* The same for signed x: |x| times y with x's sign. */
AVX2 static inline __m256 mul_sum_i8(__m256i x, __m256i y) {
    return mul_sum_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 32 nibbles of 16 bytes in element order: low nibbles (0..15), then high ones (16..31). */
AVX2 static inline __m256i nibbles_32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0xf));
}

/* 32 bytes, 0xff where bit j of the little-endian u32 at p is set, else 0. */
AVX2 static inline __m256i bits_32(const uint8_t *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

/* Broadcasts 16-bit lane i of each 128-bit half to the whole half. */
AVX2 static inline __m256i bcast_i16(__m256i v, int i) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * i) | ((2 * i + 1) << 8))));
}

/* ---- 32-element blocks ------------------------------------------------------------- */

AVX2 static float dot_q8_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q8_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256 d = _mm256_set1_ps(f16s(w[b].d) * f16s(a[b].d));
        const __m256i qw = _mm256_loadu_si256((const __m256i *)w[b].qs);
        const __m256i qa = _mm256_loadu_si256((const __m256i *)a[b].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qa), acc);
    }
    return hsum_f32x8(acc);
}

AVX2 static float dot_q4_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256 d = _mm256_set1_ps(f16s(w[b].d) * f16s(a[b].d));
        const __m256i qw = _mm256_sub_epi8(nibbles_32(w[b].qs), _mm256_set1_epi8(8));
        const __m256i qa = _mm256_loadu_si256((const __m256i *)a[b].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qa), acc);
    }
    return hsum_f32x8(acc);
}

AVX2 static float dot_q4_1(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_1 *w = vw;
    const g4k_block_q8_1 *a = va;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        summs += f16s(w[b].m) * f16s(a[b].s);
        const __m256 d = _mm256_set1_ps(f16s(w[b].d) * f16s(a[b].d));
        const __m256i qa = _mm256_loadu_si256((const __m256i *)a[b].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(nibbles_32(w[b].qs), qa), acc);
    }
    return hsum_f32x8(acc) + summs;
}

AVX2 static float dot_q5_0(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_0 *w = vw;
    const g4k_block_q8_0 *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256 d = _mm256_set1_ps(f16s(w[b].d) * f16s(a[b].d));
        /* nibble | (fifth bit ? 0 : 0xf0) is the signed value nibble + 16*bit - 16 */
        const __m256i hi = _mm256_andnot_si256(bits_32(w[b].qh), _mm256_set1_epi8((char)0xf0));
        const __m256i qw = _mm256_or_si256(nibbles_32(w[b].qs), hi);
        const __m256i qa = _mm256_loadu_si256((const __m256i *)a[b].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qa), acc);
    }
    return hsum_f32x8(acc);
}

AVX2 static float dot_q5_1(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_1 *w = vw;
    const g4k_block_q8_1 *a = va;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / G4K_QK; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        summs += f16s(w[b].m) * f16s(a[b].s);
        const __m256 d = _mm256_set1_ps(f16s(w[b].d) * f16s(a[b].d));
        const __m256i hi = _mm256_and_si256(bits_32(w[b].qh), _mm256_set1_epi8(0x10));
        const __m256i qw = _mm256_or_si256(nibbles_32(w[b].qs), hi);
        const __m256i qa = _mm256_loadu_si256((const __m256i *)a[b].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(qw, qa), acc);
    }
    return hsum_f32x8(acc) + summs;
}

/* ---- K-quants × Q8_K ----------------------------------------------------------------- */

/* Broadcasts 16-bit lane 2k of the low 128-bit half over that half and lane
 * 2k + 1 of the high half over the high half: the scales of the two 16-element
 * sub-blocks in a register of 32 products. */
AVX2 static inline __m256i bcast_i16_pair(__m256i v, int k) {
    const __m128i lo = _mm_set1_epi16((short)((4 * k) | ((4 * k + 1) << 8)));
    const __m128i hi = _mm_set1_epi16((short)((4 * k + 2) | ((4 * k + 3) << 8)));
    return _mm256_shuffle_epi8(v, _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

/* i16 lanes 8h..8h+7 of v in both 128-bit halves. */
AVX2 static inline __m256i half_of_i16x16(__m256i v, int h) {
    const __m128i x = h ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(x), x, 1);
}

/* Q2_K: 2-bit quants; elements 128h + 32k + l are bits 2k, 2k+1 of qs[32h + l]. */
AVX2 static float dot_q2_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q2_K *w = vw;
    const g4k_block_q8_K *a = va;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xf);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        /* low nibbles: the 16 sub-block scales; high: their mins, times bsums */
        const __m128i packed = _mm_loadu_si128((const __m128i *)w[b].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
        const __m256i summ = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)a[b].bsums));
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(a[b].d * f16s(w[b].dmin)), _mm256_cvtepi32_ps(summ), acc);
        const __m256i all_scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4));

        const int8_t *y = a[b].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i scales = half_of_i16x16(all_scales, h);
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++, y += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(bcast_i16_pair(scales, k), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * f16s(w[b].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc);
}

/* Q3_K: as Q2_K, minus 4 unless the element's bit (4h + k of hmask[l]) is set. */
AVX2 static float dot_q3_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q3_K *w = vw;
    const g4k_block_q8_K *a = va;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        uint32_t s32[4];
        g4k_unpack_scales_q3_u32(w[b].scales, s32);
        const __m128i s8 = _mm_set_epi32((int)s32[3], (int)s32[2], (int)s32[1], (int)s32[0]);
        const __m256i all_scales = _mm256_cvtepi8_epi16(_mm_sub_epi8(s8, _mm_set1_epi8(32)));
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)w[b].hmask);

        const int8_t *y = a[b].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i scales = half_of_i16x16(all_scales, h);
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++, y += 32) {
                const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + k)));
                const __m256i minus4 = _mm256_and_si256(
                    _mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit), _mm256_setzero_si256()), four);
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i qa = _mm256_loadu_si256((const __m256i *)y);
                /* (q - minus4) * a as q*a - minus4*a, both within i16 */
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, qa), _mm256_maddubs_epi16(minus4, qa));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(bcast_i16_pair(scales, k), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * f16s(w[b].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc);
}

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K block as
 * 16 i16 lanes (ggml's kmask unpacking of the 12 packed bytes). */
AVX2 static inline __m256i k4_mins_scales(const uint8_t packed[12]) {
    uint32_t u[4];
    g4k_unpack_scales_k4_u32(packed, u);
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

/* The mins term of a Q4_K/Q5_K super-block: sum over sub-blocks of min_j * (sum of
 * the activation quants of sub-block j), from the 16-element sums in bsums. */
AVX2 static inline int k4_mins_dot(__m256i mins_scales, const int16_t *bsums) {
    const __m256i s16 = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i s32 = _mm_hadd_epi16(_mm256_castsi256_si128(s16), _mm256_extracti128_si256(s16, 1));
    return hsum_i32x4(_mm_madd_epi16(_mm256_extracti128_si256(mins_scales, 1), s32));
}

AVX2 static float dot_q4_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q4_K *w = vw;
    const g4k_block_q8_K *a = va;
    const __m256i m4 = _mm256_set1_epi8(0xf);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i mins_scales = k4_mins_scales(w[b].scales);
        summs -= a[b].d * f16s(w[b].dmin) * (float)k4_mins_dot(mins_scales, a[b].bsums);
        const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
        const __m256i scales = _mm256_inserti128_si256(_mm256_castsi128_si256(sc128), sc128, 1);

        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++, q += 32, y += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q);
            const __m256i ql = _mm256_and_si256(bits, m4);
            const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            __m256i pl = _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)y));
            __m256i ph = _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(y + 32)));
            pl = _mm256_madd_epi16(bcast_i16(scales, 2 * j), pl);
            ph = _mm256_madd_epi16(bcast_i16(scales, 2 * j + 1), ph);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        const __m256 d = _mm256_set1_ps(a[b].d * f16s(w[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc) + summs;
}

AVX2 static float dot_q5_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q5_K *w = vw;
    const g4k_block_q8_K *a = va;
    const __m256i m4 = _mm256_set1_epi8(0xf), sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const __m256i mins_scales = k4_mins_scales(w[b].scales);
        summs -= a[b].d * f16s(w[b].dmin) * (float)k4_mins_dot(mins_scales, a[b].bsums);
        const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
        const __m256i scales = _mm256_inserti128_si256(_mm256_castsi128_si256(sc128), sc128, 1);

        const __m256i hbits = _mm256_loadu_si256((const __m256i *)w[b].qh);
        __m256i hmask = _mm256_set1_epi8(1);
        const uint8_t *q = w[b].qs;
        const int8_t *y = a[b].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++, q += 32, y += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q);
            __m256i h0 = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask);
            hmask = _mm256_slli_epi16(hmask, 1);
            __m256i h1 = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, hmask), hmask);
            hmask = _mm256_slli_epi16(hmask, 1);
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_and_si256(h0, sixteen));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                               _mm256_and_si256(h1, sixteen));
            __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)y));
            __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(y + 32)));
            p0 = _mm256_madd_epi16(bcast_i16(scales, 2 * j), p0);
            p1 = _mm256_madd_epi16(bcast_i16(scales, 2 * j + 1), p1);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        const __m256 d = _mm256_set1_ps(a[b].d * f16s(w[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc) + summs;
}

AVX2 static float dot_q6_K(const void *vw, const void *va, int64_t n) {
    const g4k_block_q6_K *w = vw;
    const g4k_block_q8_K *a = va;
    const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / G4_QK_K; b++) {
        prefetch_ahead(&w[b], sizeof w[b]);
        const uint8_t *ql = w[b].ql, *qh = w[b].qh;
        const int8_t *y = a[b].qs;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)w[b].scales);
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, y += 128) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(b2, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4)),
            };
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i qa = _mm256_loadu_si256((const __m256i *)(y + 32 * k));
                /* (q - 32) * a as q*a - 32*a, both within i16 */
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], qa), _mm256_maddubs_epi16(m32, qa));
                /* sub-block 8h+2k covers lanes 0..7 (elements 0..15), 8h+2k+1 lanes 8..15 */
                const int64_t s0 = 8 * h + 2 * k;
                const __m128i pick = _mm_set_epi64x((s0 + 1) * 0x0101010101010101LL, s0 * 0x0101010101010101LL);
                const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
            }
        }
        const __m256 d = _mm256_set1_ps(a[b].d * f16s(w[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32x8(acc);
}

/* ---- float weights × f32 ------------------------------------------------------------ */

AVX2 static inline __m256 load_bf16x8(const uint8_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static inline __m256 load_f16x8(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Four accumulators of 8 lanes, then the tail one element at a time. */
#define FLOAT_DOT(name, load, scalar)                                                            \
    AVX2 static float name(const void *vw, const void *va, int64_t n) {                         \
        const uint8_t *w = vw;                                                                   \
        const float *x = va;                                                                     \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                               \
        int64_t i = 0;                                                                           \
        for (; i + 32 <= n; i += 32) {                                                           \
            prefetch_ahead(w + 2 * i, 64);                                                       \
            s0 = _mm256_fmadd_ps(load(w + 2 * i), _mm256_loadu_ps(x + i), s0);                   \
            s1 = _mm256_fmadd_ps(load(w + 2 * i + 16), _mm256_loadu_ps(x + i + 8), s1);          \
            s2 = _mm256_fmadd_ps(load(w + 2 * i + 32), _mm256_loadu_ps(x + i + 16), s2);         \
            s3 = _mm256_fmadd_ps(load(w + 2 * i + 48), _mm256_loadu_ps(x + i + 24), s3);         \
        }                                                                                        \
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load(w + 2 * i), _mm256_loadu_ps(x + i), s0); \
        float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));     \
        for (; i < n; i++) {                                                                     \
            uint16_t h;                                                                          \
            memcpy(&h, w + 2 * i, 2);                                                            \
            sum += scalar(h) * x[i];                                                             \
        }                                                                                        \
        return sum;                                                                              \
    }

FLOAT_DOT(dot_bf16, load_bf16x8, g4_bf16_to_f32)
FLOAT_DOT(dot_f16, load_f16x8, f16s)

/* ---- dot_rows: one row after another ---------------------------------------------------- */

#define ONE_ROW_AT_A_TIME(name)                                                                      \
    AVX2 static void name##_rows(const void *w, size_t row_bytes, int n_rows, const void *act,        \
                                 int64_t n, float *out) {                                            \
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

/* ---- the table ---------------------------------------------------------------------- */

#define DOTS(name) name, name##_rows, NULL

static const g4k_dot_kernel k_avx2[G4_TYPE_COUNT] = {
    [G4_TYPE_Q8_0] = {G4K_ACT_Q8_0, DOTS(dot_q8_0)}, [G4_TYPE_Q4_0] = {G4K_ACT_Q8_0, DOTS(dot_q4_0)},
    [G4_TYPE_Q5_0] = {G4K_ACT_Q8_0, DOTS(dot_q5_0)}, [G4_TYPE_Q4_1] = {G4K_ACT_Q8_1, DOTS(dot_q4_1)},
    [G4_TYPE_Q5_1] = {G4K_ACT_Q8_1, DOTS(dot_q5_1)}, [G4_TYPE_Q2_K] = {G4K_ACT_Q8_K, DOTS(dot_q2_K)},
    [G4_TYPE_Q3_K] = {G4K_ACT_Q8_K, DOTS(dot_q3_K)}, [G4_TYPE_Q4_K] = {G4K_ACT_Q8_K, DOTS(dot_q4_K)},
    [G4_TYPE_Q5_K] = {G4K_ACT_Q8_K, DOTS(dot_q5_K)}, [G4_TYPE_Q6_K] = {G4K_ACT_Q8_K, DOTS(dot_q6_K)},
    [G4_TYPE_BF16] = {G4K_ACT_F32, DOTS(dot_bf16)},  [G4_TYPE_F16] = {G4K_ACT_F32, DOTS(dot_f16)},
};

/* AVX2, FMA and F16C, and an OS that saves the XMM and YMM registers. */
static int detect_avx2(void) {
    return g4k_x86_has(0x6, 1u << 5, 0);
}

static int cpu_has_avx2(void) {
    static int cached = -1; /* a benign race: every thread computes the same value */
    if (cached < 0) cached = detect_avx2();
    return cached;
}

const g4k_dot_kernel *g4k_dot_avx2(enum g4_type weight_type) {
    if ((int)weight_type < 0 || (int)weight_type >= G4_TYPE_COUNT || !cpu_has_avx2()) return NULL;
    const g4k_dot_kernel *k = &k_avx2[weight_type];
    return k->dot ? k : NULL;
}

#else /* not x86-64: no AVX2 kernels */

const g4k_dot_kernel *g4k_dot_avx2(enum g4_type weight_type) {
    (void)weight_type;
    return NULL;
}

#endif
