/* dot_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) versions of the dot products in
 * dot.h, one row at a time (dot) or four rows at a time sharing the loads and
 * conversions of the activation row (dot_rows).
 *
 * The 32-element types take two blocks per 512-bit register and sum them with
 * vpdpbusd (unsigned weight quants times signed activation quants). The
 * K-quants multiply 32 or 64 quants at a time with vpmaddubsw and apply the
 * sub-block scales with vpdpwssd; Q2_K, Q4_K and Q5_K do so in 256-bit
 * registers, which measured faster for them (see K_ROWS). Weight quants are
 * used unsigned (q + 128 for Q8_0, the stored q for the others) and their
 * offset is taken off as offset * (sum of the activation quants): -128, -8 and
 * -16 per block start the block's sum, -4 and -32 per sub-block come from
 * Q8_K's bsums. So every block's (or sub-block's) integer sum is exact, as in
 * dot_scalar.c, and only the float accumulation order differs from the scalar
 * kernels.
 *
 * Q8_0 repacked at load into 16-row groups (Q8_0_R16, dot.h) takes a group at a
 * time instead: one vpdpbusd per 4 elements of all 16 rows, a row per lane, so
 * no horizontal sums and one scale multiply-add per block for the 16 rows.
 *
 * Each kernel is one always-inline body over R rows (R = 1 or 4): every row's
 * arithmetic is the same whatever R, so dot_rows gives exactly what dot gives.
 * Each function carries __attribute__((target)) like dot_avx2.c;
 * g4k_dot_avx512 hands the kernels out only when the CPU and OS support them. */
#include "backend.h"
#include "cpu/dot.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define ROWS_BODY AVX512 static inline __attribute__((always_inline))

#define MAX_ROWS 4 /* rows per dot_rows step */

/* Row r of a matrix whose rows are row_bytes apart. */
#define ROW(w, row_bytes, r) ((const uint8_t *)(w) + (size_t)(r) * (row_bytes))

/* The weights stream from memory once per token. Asking for each row's bytes
 * this far ahead of their use keeps more cache-line fills in flight than the
 * hardware prefetchers do alone: measured on a 262144 x 1536 product from DRAM,
 * one thread, Q4_K 6.5 -> 9.8 GB/s, Q8_0 7.5 -> 9.3, Q6_K 7.8 -> 9.7. Into L2
 * (T1), which has more fill slots than L1, and 4 KiB ahead: E2B-shape matrices
 * of 1536-element rows, one thread, Q8_0 11-13 -> 13.5-14.5 GB/s. */
#define PREFETCH_AHEAD 4096

/* ---- helpers ------------------------------------------------------------------------- */

/* Prefetches the cache lines of the `bytes` bytes PREFETCH_AHEAD after p, byte
 * `at` of a row in a group of R rows that are row_bytes apart; past the row's
 * end, in the same row of the next group, R rows below (the rows of this group
 * are being read already). Always inline: gcc 12's mod/ref analysis otherwise
 * finds a call to it free of effects and deletes the call. */
ROWS_BODY void prefetch_ahead(const uint8_t *p, size_t at, size_t row_bytes, int R, int bytes) {
    const size_t next_group = at + PREFETCH_AHEAD >= row_bytes ? (size_t)(R - 1) * row_bytes : 0;
    const uint8_t *q = p + PREFETCH_AHEAD + next_group;
    for (int line = 0; line < bytes; line += 64) _mm_prefetch((const char *)q + line, _MM_HINT_T1);
}

AVX512 static inline float f16s(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AVX512 static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 32 bytes at lo, then 32 at hi (zeros when hi is NULL). */
AVX512 static inline __m512i load_2x32(const void *lo, const void *hi) {
    const __m512i v = _mm512_zextsi256_si512(_mm256_loadu_si256(lo));
    return hi ? _mm512_inserti64x4(v, _mm256_loadu_si256(hi), 1) : v;
}

/* The 32 bytes at p in both 256-bit halves, the upper half shifted right by
 * `shift` bits (as 16-bit lanes: mask the bytes afterwards). A broadcast load
 * and a masked shift, with no cross-lane shuffle. */
AVX512 static inline __m512i load_32x2_shifted(const void *p, int shift) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_mask_srli_epi16(v, 0xffff0000, v, (unsigned)shift);
}

/* Float lane i of x (0..3) in lanes 0..7, lane j in lanes 8..15. */
AVX512 static inline __m512 spread_2x8(__m128 x, int i, int j) {
    const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi32(i), _mm256_set1_epi32(j), 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(x));
}

/* ---- 32-element blocks (two per register) ------------------------------------------- */

/* Where a 32-element weight type keeps its fields, and the offset of its quants. */
typedef struct {
    int block_bytes;
    int qs_at, qh_at;  /* qh_at < 0: no fifth bits */
    int m_at;          /* m_at < 0: no minimum (Q8_1 activations' s unused) */
    int nibbles;       /* 16 bytes of 4-bit quants (else 32 bytes of int8) */
    int offset;        /* element value = stored quant - offset */
} q32_layout;

/* The unsigned quants (value + offset) of blocks blk0 and blk1 (blk1 may be
 * NULL: zeros). */
ROWS_BODY __m512i q32_quants(const uint8_t *blk0, const uint8_t *blk1, q32_layout L) {
    if (!L.nibbles) /* Q8_0: q + 128 as unsigned bytes */
        return _mm512_xor_si512(load_2x32(blk0 + L.qs_at, blk1 ? blk1 + L.qs_at : NULL), _mm512_set1_epi8((char)0x80));
    /* 128-bit lanes: low nibbles of blk0, high nibbles of blk0, then of blk1 */
    const __m128i lo = _mm_loadu_si128((const __m128i *)(blk0 + L.qs_at));
    __m512i v = _mm512_broadcast_i32x4(lo);
    if (blk1) v = _mm512_mask_broadcast_i32x4(v, 0xff00, _mm_loadu_si128((const __m128i *)(blk1 + L.qs_at)));
    v = _mm512_mask_srli_epi16(v, 0xff00ff00, v, 4);
    v = _mm512_and_si512(v, _mm512_set1_epi8(0xf));
    if (!blk1) v = _mm512_zextsi256_si512(_mm512_castsi512_si256(v));
    if (L.qh_at >= 0) { /* fifth bit j of each block's little-endian u32 qh: + 16 */
        const uint64_t bits = load_u32(blk0 + L.qh_at) | (blk1 ? (uint64_t)load_u32(blk1 + L.qh_at) << 32 : 0);
        v = _mm512_mask_add_epi8(v, _cvtu64_mask64(bits), v, _mm512_set1_epi8(16));
    }
    return v;
}

/* Two blocks (b, b + 1; just b when !two) of R rows. act is Q8_0 (34-byte
 * blocks) for types without a minimum, else Q8_1 (36: d, s, qs). */
ROWS_BODY void q32_step(const void *w, size_t row_bytes, int R, const uint8_t *act, int64_t b, int two,
                        q32_layout L, __m512 acc[MAX_ROWS]) {
    const int act_bytes = L.m_at >= 0 ? 36 : 34, act_qs = L.m_at >= 0 ? 4 : 2;
    const uint8_t *a0 = act + b * act_bytes, *a1 = two ? a0 + act_bytes : NULL;
    const __m512i qa = load_2x32(a0 + act_qs, a1 ? a1 + act_qs : NULL);
    /* each block's sum starts at -offset * (sum of its activation quants) */
    __m512i start = _mm512_setzero_si512();
    if (L.offset)
        start = _mm512_sub_epi32(start, _mm512_dpbusd_epi32(start, _mm512_set1_epi8((char)L.offset), qa));
    /* act scales [d0, d1, s0, s1]; weight scales likewise [d0, d1, m0, m1] */
    uint64_t ah = (uint64_t)(load_u32(a0) & 0xffff) | (uint64_t)(a1 ? load_u32(a1) & 0xffff : 0) << 16;
    if (L.m_at >= 0) ah |= (uint64_t)(load_u32(a0) >> 16) << 32 | (uint64_t)(a1 ? load_u32(a1) >> 16 : 0) << 48;
    const __m128 as = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)ah));
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const uint8_t *w0 = ROW(w, row_bytes, r) + b * L.block_bytes, *w1 = two ? w0 + L.block_bytes : NULL;
        prefetch_ahead(w0, (size_t)(b * L.block_bytes), row_bytes, R, 2 * L.block_bytes);
        const __m512i sumi = _mm512_dpbusd_epi32(start, q32_quants(w0, w1, L), qa);
        uint64_t wh = (uint64_t)(load_u32(w0) & 0xffff) | (uint64_t)(w1 ? load_u32(w1) & 0xffff : 0) << 16;
        if (L.m_at >= 0)
            wh |= (uint64_t)(load_u32(w0 + L.m_at) & 0xffff) << 32 | (uint64_t)(w1 ? load_u32(w1 + L.m_at) & 0xffff : 0)
                                                                     << 48;
        const __m128 ds = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)wh)), as); /* [D0, D1, MS0, MS1] */
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), spread_2x8(ds, 0, 1), acc[r]);
        if (L.m_at >= 0) /* + m_w * s_a once per block: lanes 0 and 8 */
            acc[r] = _mm512_mask_add_ps(acc[r], 0x0101, acc[r], spread_2x8(ds, 2, 3));
    }
}

ROWS_BODY void q32_rows(const void *w, size_t row_bytes, int R, const void *act, int64_t n, float *out,
                        q32_layout L) {
    const int64_t nb = n / G4K_QK;
    __m512 acc[MAX_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) q32_step(w, row_bytes, R, act, b, 1, L, acc);
    if (b < nb) q32_step(w, row_bytes, R, act, b, 0, L, acc);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

#define Q8_0_LAYOUT ((q32_layout){34, 2, -1, -1, 0, 128})
#define Q4_0_LAYOUT ((q32_layout){18, 2, -1, -1, 1, 8})
#define Q5_0_LAYOUT ((q32_layout){22, 6, 2, -1, 1, 16})
#define Q4_1_LAYOUT ((q32_layout){20, 4, -1, 2, 1, 0})
#define Q5_1_LAYOUT ((q32_layout){24, 8, 4, 2, 1, 0})

/* ---- K-quants × Q8_K ----------------------------------------------------------------- */

/* Register k (0..3) of a super-block's 4 x 64 quants covers the sub-blocks of
 * 16 elements 4k..4k+3 (Q2_K, Q3_K, Q6_K): this spreads their 16 i16 scales in
 * s over its 32 i16 lanes. */
AVX512 static inline __m512i scales_16(__m512i s, int k) {
    const __m512i idx = _mm512_set_epi64(0x0003000300030003, 0x0003000300030003, 0x0002000200020002,
                                         0x0002000200020002, 0x0001000100010001, 0x0001000100010001, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)(4 * k))), s);
}

/* The activation side of a super-block, shared by the rows. */
typedef struct {
    const int8_t *qs;  /* the 256 quants */
    __m256i bsums;     /* the 16 sums of 16 */
    __m256i pair_sums; /* i16 lanes 8..15: bsums[2j] + bsums[2j + 1] (Q4_K, Q5_K) */
    float d;
} k_act;

AVX512 static inline void load_k_act(const g4k_block_q8_K *a, int pair_sums, k_act *out) {
    out->qs = a->qs;
    out->bsums = _mm256_loadu_si256((const __m256i *)a->bsums);
    if (pair_sums) {
        const __m128i lo = _mm256_castsi256_si128(out->bsums), hi = _mm256_extracti128_si256(out->bsums, 1);
        out->pair_sums = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_hadd_epi16(lo, hi), 1);
    }
    out->d = a->d;
}

/* 2-bit fields of 32 bytes: register 0 holds shifts 0 and 2 (elements 0..63 of
 * a 128-element half), register 1 shifts 4 and 6 (elements 64..127). */
AVX512 static inline void crumbs_64x2(const uint8_t *q, __m512i out[2]) {
    const __m512i v = load_32x2_shifted(q, 2);
    const __m512i m3 = _mm512_set1_epi8(3);
    out[0] = _mm512_and_si512(v, m3);
    out[1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
}

/* sum over the 16 sub-blocks of scale_j * bsum_j (i32 lanes 0..7 of the result). */
AVX512 static inline __m512i scaled_bsums(__m256i scales16, __m256i bsums) {
    return _mm512_zextsi256_si512(_mm256_madd_epi16(scales16, bsums));
}

/* acc + d_a * d_w * sumi, d_w the f16 at w_d. */
AVX512 static inline __m512 k_scale(__m512 acc, const k_act *a, const uint16_t *w_d, __m512i sumi) {
    return _mm512_fmadd_ps(_mm512_set1_ps(a->d * f16s((const uint8_t *)w_d)), _mm512_cvtepi32_ps(sumi), acc);
}

AVX512 static inline float hsum_f32x8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* The R-row loop over super-blocks around one K-quant's per-row body, with
 * float accumulators of type vec_t (a body in 256-bit registers must use no
 * 512-bit instruction: while any runs, the core fuses two of its three vector
 * ports into one). */
#define K_ROWS(name, block_t, body, vec_t, zero, reduce, pair_sums)                                  \
    ROWS_BODY void name(const void *w, size_t row_bytes, int R, const void *act, int64_t n, float *out) { \
        const g4k_block_q8_K *a = act;                                                               \
        vec_t acc[MAX_ROWS];                                                                         \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[r] = zero();                         \
        for (int64_t b = 0; b < n / G4_QK_K; b++) {                                                  \
            k_act ka;                                                                                \
            load_k_act(&a[b], pair_sums, &ka);                                                       \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                    \
                const block_t *x = (const block_t *)ROW(w, row_bytes, r) + b;                        \
                prefetch_ahead((const uint8_t *)x, b * sizeof *x, row_bytes, R, sizeof *x);          \
                acc[r] = body(x, &ka, acc[r]);                                                       \
            }                                                                                        \
        }                                                                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) out[r] = reduce(acc[r]);                 \
    }

/* i16 lanes 8h..8h+7 of v in both 128-bit halves. */
AVX512 static inline __m256i half_of_i16x16(__m256i v, int h) {
    const __m128i x = h ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(x), x, 1);
}

/* Broadcasts i16 lane 2k of the low 128-bit half over that half and lane 2k + 1
 * of the high half over the high half. */
AVX512 static inline __m256i bcast_i16_pair(__m256i v, int k) {
    const __m128i lo = _mm_set1_epi16((short)((4 * k) | ((4 * k + 1) << 8)));
    const __m128i hi = _mm_set1_epi16((short)((4 * k + 2) | ((4 * k + 3) << 8)));
    return _mm256_shuffle_epi8(v, _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

/* Q2_K, in 256-bit registers: elements 128h + 32k + l are bits 2k, 2k + 1 of
 * qs[32h + l]; sub-block scales in the low nibbles of scales[], mins in the high. */
ROWS_BODY __m256 q2_K_block(const g4k_block_q2_K *x, const k_act *a, __m256 acc) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->scales), m4 = _mm_set1_epi8(0xf);
    const __m256i scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, m4));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i sc = half_of_i16x16(scales, h);
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
            const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(a->qs + 128 * h + 32 * k)));
            sumi[k & 1] = _mm256_dpwssd_epi32(sumi[k & 1], p, bcast_i16_pair(sc, k));
        }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a->d * f16s((const uint8_t *)&x->d)),
                          _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), acc);
    return _mm256_fnmadd_ps(_mm256_set1_ps(a->d * f16s((const uint8_t *)&x->dmin)),
                            _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, a->bsums)), acc);
}

/* Q3_K: q = low 2 bits + 4 * high bit (0..7), element value q - 4. */
ROWS_BODY __m512 q3_K_block(const g4k_block_q3_K *x, const k_act *a, __m512 acc) {
    uint32_t s32[4];
    g4k_unpack_scales_q3_u32(x->scales, s32);
    const __m128i s8 = _mm_set_epi64x((long long)((uint64_t)s32[3] << 32 | s32[2]),
                                      (long long)((uint64_t)s32[1] << 32 | s32[0]));
    const __m256i scales = _mm256_cvtepi8_epi16(_mm_sub_epi8(s8, _mm_set1_epi8(32)));
    const __m512i sc = _mm512_castsi256_si512(scales);
    const __m512i hbits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->hmask));
    __m512i sumi[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m512i q[2];
        crumbs_64x2(x->qs + 32 * h, q);
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            /* elements 128h + 64k + 32i + l take bit 4h + 2k + i of hmask[l] */
            const int bit = 4 * h + 2 * k;
            const __m512i pick =
                _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << bit)), _mm256_set1_epi8((char)(1 << (bit + 1))), 1);
            const __m512i qk =
                _mm512_mask_add_epi8(q[k], _mm512_test_epi8_mask(hbits, pick), q[k], _mm512_set1_epi8(4));
            const __m512i p = _mm512_maddubs_epi16(qk, _mm512_loadu_si512(a->qs + 128 * h + 64 * k));
            sumi[k] = _mm512_dpwssd_epi32(sumi[k], p, scales_16(sc, 2 * h + k));
        }
    }
    const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(sumi[0], sumi[1]),
                                         _mm512_slli_epi32(scaled_bsums(scales, a->bsums), 2));
    return k_scale(acc, a, &x->d, sum);
}

/* Q4_K and Q5_K run faster in 256-bit registers (three vector ports instead
 * of two; their scale shuffles are in-lane). The scales of sub-blocks 0..7 in
 * i16 lanes 0..7 of both 128-bit halves of *scales, and the mins term, sum over
 * sub-blocks j of min_j * (bsums[2j] + bsums[2j + 1]), in i32 lanes 4..7 of the
 * result. */
AVX512 static inline __m256i k4_scales_mins(const uint8_t packed[12], const k_act *a, __m256i *scales) {
    /* g4k_unpack_scales_k4_u32 on the words u0, u1, u2 of the 16 bytes at packed
     * (the last 4 are the block's first quants, unused) */
    const __m128i u = _mm_loadu_si128((const __m128i *)packed);
    const __m128i low = _mm_srlv_epi32(_mm_shuffle_epi32(u, _MM_SHUFFLE(2, 1, 2, 0)), _mm_set_epi32(4, 0, 0, 0));
    const __m128i top = _mm_srli_epi32(_mm_shuffle_epi32(u, _MM_SHUFFLE(1, 1, 0, 0)), 2); /* bits 6-7 to 4-5 */
    const __m128i s8 = _mm_or_si128(_mm_and_si128(low, _mm_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f)),
                                    _mm_and_si128(top, _mm_set_epi32(0x30303030, 0, 0x30303030, 0)));
    const __m256i sm = _mm256_cvtepu8_epi16(s8); /* scales, then mins */
    *scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
    return _mm256_madd_epi16(sm, a->pair_sums);
}

/* Sub-block j's scale (lane j of each half of scales) in every i16 lane. */
AVX512 static inline __m256i k4_scale(__m256i scales, int j) {
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)((2 * j) | ((2 * j + 1) << 8))));
}

/* The nibbles of 32 bytes: low (sub-block 2k), then high (2k + 1). */
AVX512 static inline void k4_nibbles(const uint8_t *qs, int k, __m256i out[2]) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * k)), m4 = _mm256_set1_epi8(0xf);
    out[0] = _mm256_and_si256(bits, m4);
    out[1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
}

/* The fields of a Q4_K or Q5_K block (qh NULL for Q4_K). */
typedef struct {
    const uint16_t *d, *dmin;
    const uint8_t *scales, *qh, *qs;
} k4_fields;

/* Q4_K and Q5_K, the latter adding bit j of qh[l] as 16 to element l of
 * sub-block j. */
ROWS_BODY __m256 k4_block(k4_fields x, const k_act *a, __m256 acc) {
    __m256i scales;
    const __m256i mins = k4_scales_mins(x.scales, a, &scales);
    const __m256i hbits = x.qh ? _mm256_loadu_si256((const __m256i *)x.qh) : _mm256_setzero_si256();
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i q[2];
        k4_nibbles(x.qs, k, q);
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++) {
            const int j = 2 * k + i;
            if (x.qh) q[i] = _mm256_mask_add_epi8(q[i], _mm256_test_epi8_mask(hbits, _mm256_set1_epi8((char)(1 << j))),
                                                 q[i], _mm256_set1_epi8(16));
            const __m256i p = _mm256_maddubs_epi16(q[i], _mm256_loadu_si256((const __m256i *)(a->qs + 32 * j)));
            sumi[i] = _mm256_dpwssd_epi32(sumi[i], p, k4_scale(scales, j));
        }
    }
    const __m256 sum = _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1]));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a->d * f16s((const uint8_t *)x.d)), sum, acc);
    return _mm256_fnmadd_ps(_mm256_set1_ps(a->d * f16s((const uint8_t *)x.dmin)), _mm256_cvtepi32_ps(mins), acc);
}

ROWS_BODY __m256 q4_K_block(const g4k_block_q4_K *x, const k_act *a, __m256 acc) {
    return k4_block((k4_fields){&x->d, &x->dmin, x->scales, NULL, x->qs}, a, acc);
}

ROWS_BODY __m256 q5_K_block(const g4k_block_q5_K *x, const k_act *a, __m256 acc) {
    return k4_block((k4_fields){&x->d, &x->dmin, x->scales, x->qh, x->qs}, a, acc);
}

/* Q6_K: q = low nibble + 16 * two high bits (0..63), element value q - 32. */
ROWS_BODY __m512 q6_K_block(const g4k_block_q6_K *x, const k_act *a, __m512 acc) {
    const __m512i m4 = _mm512_set1_epi8(0xf), m30 = _mm512_set1_epi8(0x30);
    const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    const __m512i sc = _mm512_castsi256_si512(scales);
    __m512i sumi[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        /* elements 128h + 0..63: low nibbles of ql[64h..], bits 0-1 then 2-3 of qh[32h..];
         * elements 128h + 64..127: high nibbles, bits 4-5 then 6-7 */
        const __m512i ql = _mm512_loadu_si512(x->ql + 64 * h);
        const __m512i hb = load_32x2_shifted(x->qh + 32 * h, 2);
        /* ternary-logic 0xf8: a | (b & c) */
        const __m512i q0 = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_slli_epi16(hb, 4), m30, 0xf8);
        const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hb, m30, 0xf8);
        sumi[0] = _mm512_dpwssd_epi32(sumi[0], _mm512_maddubs_epi16(q0, _mm512_loadu_si512(a->qs + 128 * h)),
                                      scales_16(sc, 2 * h));
        sumi[1] = _mm512_dpwssd_epi32(sumi[1], _mm512_maddubs_epi16(q1, _mm512_loadu_si512(a->qs + 128 * h + 64)),
                                      scales_16(sc, 2 * h + 1));
    }
    const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(sumi[0], sumi[1]),
                                         _mm512_slli_epi32(scaled_bsums(scales, a->bsums), 5));
    return k_scale(acc, a, &x->d, sum);
}

K_ROWS(q2_K_rows, g4k_block_q2_K, q2_K_block, __m256, _mm256_setzero_ps, hsum_f32x8, 0)
K_ROWS(q3_K_rows, g4k_block_q3_K, q3_K_block, __m512, _mm512_setzero_ps, _mm512_reduce_add_ps, 0)
K_ROWS(q4_K_rows, g4k_block_q4_K, q4_K_block, __m256, _mm256_setzero_ps, hsum_f32x8, 1)
K_ROWS(q5_K_rows, g4k_block_q5_K, q5_K_block, __m256, _mm256_setzero_ps, hsum_f32x8, 1)
K_ROWS(q6_K_rows, g4k_block_q6_K, q6_K_block, __m512, _mm512_setzero_ps, _mm512_reduce_add_ps, 0)

/* ---- float weights × f32 ------------------------------------------------------------ */

AVX512 static inline __m512 load_bf16x16(const uint8_t *p, __mmask16 k) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

AVX512 static inline __m512 load_f16x16(const uint8_t *p, __mmask16 k) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
}

/* 16 elements (those in mask k) at element `at` of R rows into acc[r], and a
 * prefetch of `prefetch` bytes ahead. */
ROWS_BODY void float_step(const void *w, size_t row_bytes, int R, const float *x, int64_t at, __mmask16 k,
                          int prefetch, int bf16, __m512 acc[MAX_ROWS]) {
    const __m512 xs = _mm512_maskz_loadu_ps(k, x + at);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const uint8_t *p = ROW(w, row_bytes, r) + 2 * at;
        prefetch_ahead(p, (size_t)(2 * at), row_bytes, R, prefetch);
        acc[r] = _mm512_fmadd_ps(bf16 ? load_bf16x16(p, k) : load_f16x16(p, k), xs, acc[r]);
    }
}

/* R rows, 64 elements at a time into four accumulators per row, then 16 at a
 * time, the last ones masked. */
ROWS_BODY void float_rows(const void *w, size_t row_bytes, int R, const void *act, int64_t n, float *out, int bf16) {
    const float *x = act;
    __m512 acc[4][MAX_ROWS];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[j][r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) float_step(w, row_bytes, R, x, i + 16 * j, 0xffff, j ? 0 : 128, bf16, acc[j]);
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        float_step(w, row_bytes, R, x, i, k, 0, bf16, acc[0]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0][r], acc[1][r]), _mm512_add_ps(acc[2][r], acc[3][r])));
}

/* ---- dot and dot_rows from each body -------------------------------------------------- */

#define KERNELS(name, rows_call)                                                                     \
    AVX512 static float dot_##name(const void *w, const void *act, int64_t n) {                      \
        float out;                                                                                   \
        rows_call(w, 0, 1, act, n, &out);                                                            \
        return out;                                                                                  \
    }                                                                                                \
    AVX512 static void dot_rows_##name(const void *w, size_t row_bytes, int n_rows, const void *act, \
                                       int64_t n, float *out) {                                      \
        int r = 0;                                                                                   \
        for (; r + MAX_ROWS <= n_rows; r += MAX_ROWS)                                                \
            rows_call(ROW(w, row_bytes, r), row_bytes, MAX_ROWS, act, n, out + r);                   \
        for (; r < n_rows; r++) rows_call(ROW(w, row_bytes, r), row_bytes, 1, act, n, out + r);      \
    }

#define Q8_0_ROWS(w, row_bytes, R, act, n, out) q32_rows(w, row_bytes, R, act, n, out, Q8_0_LAYOUT)
#define Q4_0_ROWS(w, row_bytes, R, act, n, out) q32_rows(w, row_bytes, R, act, n, out, Q4_0_LAYOUT)
#define Q5_0_ROWS(w, row_bytes, R, act, n, out) q32_rows(w, row_bytes, R, act, n, out, Q5_0_LAYOUT)
#define Q4_1_ROWS(w, row_bytes, R, act, n, out) q32_rows(w, row_bytes, R, act, n, out, Q4_1_LAYOUT)
#define Q5_1_ROWS(w, row_bytes, R, act, n, out) q32_rows(w, row_bytes, R, act, n, out, Q5_1_LAYOUT)
#define BF16_ROWS(w, row_bytes, R, act, n, out) float_rows(w, row_bytes, R, act, n, out, 1)
#define F16_ROWS(w, row_bytes, R, act, n, out) float_rows(w, row_bytes, R, act, n, out, 0)

KERNELS(q8_0, Q8_0_ROWS)
KERNELS(q4_0, Q4_0_ROWS)
KERNELS(q5_0, Q5_0_ROWS)
KERNELS(q4_1, Q4_1_ROWS)
KERNELS(q5_1, Q5_1_ROWS)
KERNELS(q2_K, q2_K_rows)
KERNELS(q3_K, q3_K_rows)
KERNELS(q4_K, q4_K_rows)
KERNELS(q5_K, q5_K_rows)
KERNELS(q6_K, q6_K_rows)
KERNELS(bf16, BF16_ROWS)
KERNELS(f16, F16_ROWS)

/* ---- Q8_0 repacked, 16 rows interleaved (dot.h) --------------------------------------- */

/* Per block of the activation row: its scale, and -128 * (the sum of its quants), which
 * takes the weights' unsigned offset off the block's integer sums. */
AVX512 static void q8_0_r16_act(const g4k_block_q8_0 *a, int64_t nb, float *scale, int32_t *start) {
    for (int64_t b = 0; b < nb; b++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)a[b].qs);
        const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        start[b] = -128 * _mm_cvtsi128_si32(s);
        scale[b] = f16s((const uint8_t *)&a[b].d);
    }
}

/* The 16 rows of the group of blocks at w, one per lane: per block, the rows' exact
 * integer sums (each 4-byte group of activation quants broadcast and multiplied with
 * the 4 unsigned quants of every row in its lane by vpdpbusd, in two chains), then
 * acc = fma(sum, d_w * d_a, acc) as dot.h orders it. */
AVX512 static __m512 q8_0_r16_group(const g4k_block_q8_0x16 *w, const g4k_block_q8_0 *a, const float *scale,
                                    const int32_t *start, int64_t nb) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *q = w[b].qs, *x = (const uint8_t *)a[b].qs;
        for (int line = 0; line < (int)sizeof *w; line += 64)
            _mm_prefetch((const char *)&w[b] + PREFETCH_AHEAD + line, _MM_HINT_T1);
        __m512i s0 = _mm512_set1_epi32(start[b]), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int g = 0; g < 8; g += 2) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(q + 64 * g), _mm512_set1_epi32((int)load_u32(x + 4 * g)));
            s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(q + 64 * g + 64),
                                     _mm512_set1_epi32((int)load_u32(x + 4 * g + 4)));
        }
        const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)w[b].d)),
                                       _mm512_set1_ps(scale[b]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), d, acc);
    }
    return acc;
}

/* Whole groups from w on; a last group of fewer than 16 rows stores only those. */
AVX512 static void dot_rows_q8_0_r16(const void *w, size_t row_bytes, int n_rows, const void *act, int64_t n,
                                     float *out) {
    const int64_t nb = n / G4K_QK;
    float scale[G4K_MAX_ROW / G4K_QK];
    int32_t start[G4K_MAX_ROW / G4K_QK];
    q8_0_r16_act(act, nb, scale, start);
    for (int r = 0; r < n_rows; r += 16) {
        const __m512 y = q8_0_r16_group((const g4k_block_q8_0x16 *)ROW(w, row_bytes, r), act, scale, start, nb);
        _mm512_mask_storeu_ps(out + r, n_rows - r >= 16 ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1), y);
    }
}

/* Tokens a pass of dot_rows_q8_0_r16_tokens carries: their accumulators and a
 * block's 8 weight vectors stay in registers. */
#define R16_TOKENS 8

/* dot_rows_q8_0_r16 for up to R16_TOKENS tokens at once: per group and block, the
 * weights are loaded once and every token's sums and accumulator go through the
 * same steps, in the same order, as in q8_0_r16_group. */
AVX512 static void q8_0_r16_tokens_pass(const void *w, size_t row_bytes, int n_rows, const g4k_block_q8_0 *const *act,
                                        int n_tok, int64_t nb, const float *scale, const int32_t *start, float *out,
                                        size_t out_stride) {
    for (int r = 0; r < n_rows; r += 16) {
        const g4k_block_q8_0x16 *g = (const g4k_block_q8_0x16 *)ROW(w, row_bytes, r);
        __m512 acc[R16_TOKENS];
        for (int t = 0; t < n_tok; t++) acc[t] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *q = g[b].qs;
            for (int line = 0; line < (int)sizeof *g; line += 64)
                _mm_prefetch((const char *)&g[b] + PREFETCH_AHEAD + line, _MM_HINT_T1);
            __m512i wq[8];
            for (int i = 0; i < 8; i++) wq[i] = _mm512_loadu_si512(q + 64 * i);
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g[b].d));
            for (int t = 0; t < n_tok; t++) {
                const uint8_t *x = (const uint8_t *)act[t][b].qs;
                __m512i s0 = _mm512_set1_epi32(start[t * nb + b]), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int i = 0; i < 8; i += 2) {
                    s0 = _mm512_dpbusd_epi32(s0, wq[i], _mm512_set1_epi32((int)load_u32(x + 4 * i)));
                    s1 = _mm512_dpbusd_epi32(s1, wq[i + 1], _mm512_set1_epi32((int)load_u32(x + 4 * i + 4)));
                }
                const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(scale[t * nb + b]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), d, acc[t]);
            }
        }
        const __mmask16 m = n_rows - r >= 16 ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
        for (int t = 0; t < n_tok; t++) _mm512_mask_storeu_ps(out + t * out_stride + r, m, acc[t]);
    }
}

AVX512 static void dot_rows_tokens_q8_0_r16(const void *w, size_t row_bytes, int n_rows, const void *act,
                                            size_t act_bytes, int n_tok, int64_t n, float *out, size_t out_stride) {
    const int64_t nb = n / G4K_QK;
    float scale[R16_TOKENS * (G4K_MAX_ROW / G4K_QK)];
    int32_t start[R16_TOKENS * (G4K_MAX_ROW / G4K_QK)];
    for (int t0 = 0; t0 < n_tok; t0 += R16_TOKENS) {
        const int k = n_tok - t0 < R16_TOKENS ? n_tok - t0 : R16_TOKENS;
        const g4k_block_q8_0 *a[R16_TOKENS];
        for (int t = 0; t < k; t++) {
            a[t] = (const g4k_block_q8_0 *)((const uint8_t *)act + (size_t)(t0 + t) * act_bytes);
            q8_0_r16_act(a[t], nb, scale + t * nb, start + t * nb);
        }
        q8_0_r16_tokens_pass(w, row_bytes, n_rows, a, k, nb, scale, start, out + (size_t)t0 * out_stride, out_stride);
    }
}

/* One row (g4k_q8_0_r16_row): its whole group, of which the row's lane is kept. */
AVX512 static float dot_q8_0_r16(const void *w_row, const void *act, int64_t n) {
    int lane;
    const g4k_block_q8_0x16 *group = g4k_q8_0_r16_group(w_row, &lane);
    float out[16];
    dot_rows_q8_0_r16(group, 0, 16, act, n, out);
    return out[lane];
}

/* ---- the table ---------------------------------------------------------------------- */

#define DOTS(name) dot_##name, dot_rows_##name, NULL

static const g4k_dot_kernel k_avx512[G4_TYPE_COUNT] = {
    [G4_TYPE_Q8_0] = {G4K_ACT_Q8_0, DOTS(q8_0)}, [G4_TYPE_Q4_0] = {G4K_ACT_Q8_0, DOTS(q4_0)},
    [G4_TYPE_Q5_0] = {G4K_ACT_Q8_0, DOTS(q5_0)}, [G4_TYPE_Q4_1] = {G4K_ACT_Q8_1, DOTS(q4_1)},
    [G4_TYPE_Q5_1] = {G4K_ACT_Q8_1, DOTS(q5_1)}, [G4_TYPE_Q2_K] = {G4K_ACT_Q8_K, DOTS(q2_K)},
    [G4_TYPE_Q3_K] = {G4K_ACT_Q8_K, DOTS(q3_K)}, [G4_TYPE_Q4_K] = {G4K_ACT_Q8_K, DOTS(q4_K)},
    [G4_TYPE_Q5_K] = {G4K_ACT_Q8_K, DOTS(q5_K)}, [G4_TYPE_Q6_K] = {G4K_ACT_Q8_K, DOTS(q6_K)},
    [G4_TYPE_BF16] = {G4K_ACT_F32, DOTS(bf16)},  [G4_TYPE_F16] = {G4K_ACT_F32, DOTS(f16)},
};

/* AVX-512 F/BW/VL/DQ/VNNI with AVX2, FMA and F16C, and an OS that saves the
 * ZMM and mask registers (XCR0 bits 1, 2, 5, 6, 7). */
static int detect_avx512(void) {
    const unsigned avx2_f_dq_bw_vl = 1u << 5 | 1u << 16 | 1u << 17 | 1u << 30 | 1u << 31;
    return g4k_x86_has(0xe6, avx2_f_dq_bw_vl, 1u << 11 /* VNNI */);
}

static int cpu_has_avx512(void) {
    static int cached = -1; /* a benign race: every thread computes the same value */
    if (cached < 0) cached = detect_avx512();
    return cached;
}

static const g4k_dot_kernel k_avx512_q8_0_r16 = {G4K_ACT_Q8_0, dot_q8_0_r16, dot_rows_q8_0_r16, dot_rows_tokens_q8_0_r16};

const g4k_dot_kernel *g4k_dot_avx512(enum g4_type weight_type) {
    if (weight_type == G4_TYPE_Q8_0_R16 && cpu_has_avx512()) return &k_avx512_q8_0_r16;
    if ((int)weight_type < 0 || (int)weight_type >= G4_TYPE_COUNT || !cpu_has_avx512()) return NULL;
    const g4k_dot_kernel *k = &k_avx512[weight_type];
    return k->dot ? k : NULL;
}

#else /* not x86-64: no AVX-512 kernels */

const g4k_dot_kernel *g4k_dot_avx512(enum g4_type weight_type) {
    (void)weight_type;
    return NULL;
}

#endif
