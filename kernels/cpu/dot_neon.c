/* dot_neon.c: AArch64 NEON versions of the dot products in dot.h, after ggml's
 * ARM ggml_vec_dot_* (ggml-cpu/arch/arm/quants.c), giving the same bits as
 * dot_scalar.c for every weight type.
 *
 * Every block's (or sub-block's) integer sum of q_w*q_a is exact in any order,
 * so the vectors compute it 16 quants at a time: with SDOT (vdotq_s32) where
 * the CPU has the dot-product extension, else with vmull_s8 and vpadalq_s16.
 * The float parts then repeat dot_scalar.c's expressions in its order, block
 * after block (the engine builds in ISO C mode, so neither file fuses a
 * multiply and an add). BF16/F16 weights are converted 4 at a time and summed
 * in double one element after another, as the scalar kernel does; their
 * dot_rows carries 4 rows in 2-lane double vectors. The quantized dot_rows
 * walks 4 rows block by block, sharing the activation block.
 *
 * Each kernel is built twice from one always-inline body: plain NEON, and with
 * a target attribute adding the dot-product extension for SDOT; g4k_dot_neon picks one once by
 * getauxval(AT_HWCAP) & HWCAP_ASIMDDP (always SDOT when the whole build targets
 * it). Q8_0_R16 has no kernel here: Q8_0 is repacked only for the AVX-512 one.
 * On other architectures the file holds only g4k_dot_neon, returning NULL. */
#include "cpu/dot.h"

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_neon.h>
#include <stdbool.h>

#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

/* GCC's arm_neon.h declares vdotq_s32 for arch=armv8.2-a+dotprod, so a plain
 * "+dotprod" on an armv8-a build would not be allowed to inline it. A build that
 * targets the extension throughout needs no attribute (and must not narrow its arch). */
#if defined(__ARM_FEATURE_DOTPROD)
#define SDOT_TARGET
#elif defined(__clang__)
#define SDOT_TARGET __attribute__((target("dotprod")))
#else
#define SDOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Rows dot_rows carries at once. */
#define ROWS_AT_ONCE 4

/* ---- integer helpers ----------------------------------------------------------------- */

SDOT_TARGET static inline int32x4_t dot_i8_sdot(int32x4_t acc, int8x16_t x, int8x16_t y) {
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD) && __clang_major__ < 17
    /* older clangs declare vdotq_s32 only for builds that target the extension */
    __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(x), "w"(y));
    return acc;
#else
    return vdotq_s32(acc, x, y);
#endif
}

/* acc plus the 16 products x*y, summed into the 4 lanes (which lane gets which
 * product differs between the paths; the callers only use the lanes' total). */
ALWAYS_INLINE int32x4_t dot_i8(int32x4_t acc, int8x16_t x, int8x16_t y, bool sdot) {
    if (sdot) return dot_i8_sdot(acc, x, y);
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
}

/* Sum of the 32 products of x0|x1 and y0|y1. */
ALWAYS_INLINE int dot_i8x32(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1, bool sdot) {
    return vaddvq_s32(dot_i8(dot_i8(vdupq_n_s32(0), x0, y0, sdot), x1, y1, sdot));
}

ALWAYS_INLINE int8x16_t load_i8(const int8_t *p) {
    return vld1q_s8(p);
}

/* The low and the high nibbles of 16 bytes. */
ALWAYS_INLINE int8x16_t low_nibbles(uint8x16_t b) {
    return vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0xf)));
}

ALWAYS_INLINE int8x16_t high_nibbles(uint8x16_t b) {
    return vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
}

/* 16 bytes, 0x10 where bit j of the two bytes lo, hi (j = 0..15, lo's bits first) is set, else 0. */
ALWAYS_INLINE int8x16_t fifth_bits(uint8_t lo, uint8_t hi) {
    static const uint8_t bit_of_lane[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t set = vtstq_u8(vcombine_u8(vdup_n_u8(lo), vdup_n_u8(hi)), vld1q_u8(bit_of_lane));
    return vreinterpretq_s8_u8(vandq_u8(set, vdupq_n_u8(0x10)));
}

static float f16(uint16_t h) {
    return g4_f16_to_f32(h);
}

/* ---- one block's integer sums and its float step (dot_scalar.c's expressions) ------------ */

typedef struct {
    int sumi, summ; /* summ: the K-quants' mins term (Q2_K, Q4_K, Q5_K) */
} block_sums;

ALWAYS_INLINE block_sums sums_q8_0(const g4k_block_q8_0 *w, const g4k_block_q8_0 *a, bool sdot) {
    return (block_sums){dot_i8x32(load_i8(w->qs), load_i8(w->qs + 16), load_i8(a->qs), load_i8(a->qs + 16), sdot), 0};
}

ALWAYS_INLINE block_sums sums_q4_0(const g4k_block_q4_0 *w, const g4k_block_q8_0 *a, bool sdot) {
    const uint8x16_t b = vld1q_u8(w->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(low_nibbles(b), eight), hi = vsubq_s8(high_nibbles(b), eight);
    return (block_sums){dot_i8x32(lo, hi, load_i8(a->qs), load_i8(a->qs + 16), sdot), 0};
}

ALWAYS_INLINE block_sums sums_q4_1(const g4k_block_q4_1 *w, const g4k_block_q8_1 *a, bool sdot) {
    const uint8x16_t b = vld1q_u8(w->qs);
    return (block_sums){dot_i8x32(low_nibbles(b), high_nibbles(b), load_i8(a->qs), load_i8(a->qs + 16), sdot), 0};
}

ALWAYS_INLINE block_sums sums_q5_0(const g4k_block_q5_0 *w, const g4k_block_q8_0 *a, bool sdot) {
    const uint8x16_t b = vld1q_u8(w->qs);
    const int8x16_t sixteen = vdupq_n_s8(16);
    const int8x16_t lo = vsubq_s8(vorrq_s8(low_nibbles(b), fifth_bits(w->qh[0], w->qh[1])), sixteen);
    const int8x16_t hi = vsubq_s8(vorrq_s8(high_nibbles(b), fifth_bits(w->qh[2], w->qh[3])), sixteen);
    return (block_sums){dot_i8x32(lo, hi, load_i8(a->qs), load_i8(a->qs + 16), sdot), 0};
}

ALWAYS_INLINE block_sums sums_q5_1(const g4k_block_q5_1 *w, const g4k_block_q8_1 *a, bool sdot) {
    const uint8x16_t b = vld1q_u8(w->qs);
    const int8x16_t lo = vorrq_s8(low_nibbles(b), fifth_bits(w->qh[0], w->qh[1]));
    const int8x16_t hi = vorrq_s8(high_nibbles(b), fifth_bits(w->qh[2], w->qh[3]));
    return (block_sums){dot_i8x32(lo, hi, load_i8(a->qs), load_i8(a->qs + 16), sdot), 0};
}

ALWAYS_INLINE float step_q8_0(float sum, const g4k_block_q8_0 *w, const g4k_block_q8_0 *a, block_sums s) {
    return sum + (float)s.sumi * (f16(w->d) * f16(a->d));
}

ALWAYS_INLINE float step_q4_0(float sum, const g4k_block_q4_0 *w, const g4k_block_q8_0 *a, block_sums s) {
    return sum + (float)s.sumi * (f16(w->d) * f16(a->d));
}

ALWAYS_INLINE float step_q5_0(float sum, const g4k_block_q5_0 *w, const g4k_block_q8_0 *a, block_sums s) {
    return sum + (float)s.sumi * (f16(w->d) * f16(a->d));
}

ALWAYS_INLINE float step_q4_1(float sum, const g4k_block_q4_1 *w, const g4k_block_q8_1 *a, block_sums s) {
    return sum + ((float)s.sumi * (f16(w->d) * f16(a->d)) + f16(w->m) * f16(a->s));
}

ALWAYS_INLINE float step_q5_1(float sum, const g4k_block_q5_1 *w, const g4k_block_q8_1 *a, block_sums s) {
    return sum + ((float)s.sumi * (f16(w->d) * f16(a->d)) + f16(w->m) * f16(a->s));
}

/* sum over the 16 sub-blocks of mins[j] * bsums[j] (mins as 16 unsigned bytes). */
ALWAYS_INLINE int mins_dot16(uint8x16_t mins, const int16_t *bsums) {
    const int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
    const int16x8_t m1 = vreinterpretq_s16_u16(vmovl_high_u8(mins));
    int32x4_t acc = vmull_s16(vget_low_s16(m0), vld1_s16(bsums));
    acc = vmlal_high_s16(acc, m0, vld1q_s16(bsums));
    acc = vmlal_s16(acc, vget_low_s16(m1), vld1_s16(bsums + 8));
    acc = vmlal_high_s16(acc, m1, vld1q_s16(bsums + 8));
    return vaddvq_s32(acc);
}

/* Q2_K: sub-block 8h + 2k + half is bits 2k, 2k+1 of qs[32h + 16 half + l], l < 16. */
ALWAYS_INLINE block_sums sums_q2_K(const g4k_block_q2_K *w, const g4k_block_q8_K *a, bool sdot) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    const int8_t *y = a->qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        const uint8x16_t q0 = vld1q_u8(w->qs + 32 * h), q1 = vld1q_u8(w->qs + 32 * h + 16);
        for (int k = 0; k < 4; k++, y += 32) {
            const int is = 8 * h + 2 * k;
            const int8x16_t x0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)(-2 * k))), m3));
            const int8x16_t x1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)(-2 * k))), m3));
            sumi = vmlaq_n_s32(sumi, dot_i8(vdupq_n_s32(0), x0, load_i8(y), sdot), w->scales[is] & 0xf);
            sumi = vmlaq_n_s32(sumi, dot_i8(vdupq_n_s32(0), x1, load_i8(y + 16), sdot), w->scales[is + 1] & 0xf);
        }
    }
    const uint8x16_t mins = vshrq_n_u8(vld1q_u8(w->scales), 4);
    return (block_sums){vaddvq_s32(sumi), mins_dot16(mins, a->bsums)};
}

ALWAYS_INLINE float step_q2_K(float sum, const g4k_block_q2_K *w, const g4k_block_q8_K *a, block_sums s) {
    return sum + (a->d * f16(w->d) * (float)s.sumi - a->d * f16(w->dmin) * (float)s.summ);
}

/* Q3_K: element 128h + 32k + l is bits 2k, 2k+1 of qs[32h + l], minus 4 unless bit
 * 4h + k of hmask[l] is set; sub-block j (16 elements) has the signed scale j. */
ALWAYS_INLINE block_sums sums_q3_K(const g4k_block_q3_K *w, const g4k_block_q8_K *a, bool sdot) {
    uint32_t packed[4];
    g4k_unpack_scales_q3_u32(w->scales, packed);
    int8_t scale[16];
    memcpy(scale, packed, sizeof scale);
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    const uint8x16_t hm0 = vld1q_u8(w->hmask), hm1 = vld1q_u8(w->hmask + 16);
    const int8_t *y = a->qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        const uint8x16_t q0 = vld1q_u8(w->qs + 32 * h), q1 = vld1q_u8(w->qs + 32 * h + 16);
        for (int k = 0; k < 4; k++, y += 32) {
            const int j = 8 * h + 2 * k;
            const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + k)));
            const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * k));
            const uint8x16_t minus0 = vbicq_u8(four, vtstq_u8(hm0, bit));
            const uint8x16_t minus1 = vbicq_u8(four, vtstq_u8(hm1, bit));
            const int8x16_t x0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q0, shift), m3), minus0));
            const int8x16_t x1 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(vshlq_u8(q1, shift), m3), minus1));
            sumi = vmlaq_n_s32(sumi, dot_i8(vdupq_n_s32(0), x0, load_i8(y), sdot), scale[j] - 32);
            sumi = vmlaq_n_s32(sumi, dot_i8(vdupq_n_s32(0), x1, load_i8(y + 16), sdot), scale[j + 1] - 32);
        }
    }
    return (block_sums){vaddvq_s32(sumi), 0};
}

ALWAYS_INLINE float step_q3_K(float sum, const g4k_block_q3_K *w, const g4k_block_q8_K *a, block_sums s) {
    return sum + a->d * f16(w->d) * (float)s.sumi;
}

/* The mins term of Q4_K/Q5_K: sum over sub-blocks j < 8 of min_j * (bsums[2j] + bsums[2j+1]). */
ALWAYS_INLINE int k4_mins_dot(const uint8_t sm[16], const int16_t *bsums) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(sm + 8)));
    const int32x4_t acc = vmlal_high_s16(vmull_s16(vget_low_s16(mins), vget_low_s16(pairs)), mins, pairs);
    return vaddvq_s32(acc);
}

/* Q4_K: sub-blocks 2j and 2j+1 are the low and high nibbles of qs[32j + l], l < 32. */
ALWAYS_INLINE block_sums sums_q4_K(const g4k_block_q4_K *w, const g4k_block_q8_K *a, bool sdot) {
    uint8_t sm[16];
    g4k_unpack_scales_k4(w->scales, sm);
    const uint8_t *q = w->qs;
    const int8_t *y = a->qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++, q += 32, y += 64) {
        const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
        const int32x4_t s0 = dot_i8(dot_i8(vdupq_n_s32(0), low_nibbles(b0), load_i8(y), sdot), low_nibbles(b1),
                                    load_i8(y + 16), sdot);
        const int32x4_t s1 = dot_i8(dot_i8(vdupq_n_s32(0), high_nibbles(b0), load_i8(y + 32), sdot),
                                    high_nibbles(b1), load_i8(y + 48), sdot);
        sumi = vmlaq_n_s32(vmlaq_n_s32(sumi, s0, sm[2 * j]), s1, sm[2 * j + 1]);
    }
    return (block_sums){vaddvq_s32(sumi), k4_mins_dot(sm, a->bsums)};
}

/* Q5_K: as Q4_K, with bit 2j (low nibbles) or 2j+1 (high) of qh[l] as the fifth bit. */
ALWAYS_INLINE block_sums sums_q5_K(const g4k_block_q5_K *w, const g4k_block_q8_K *a, bool sdot) {
    uint8_t sm[16];
    g4k_unpack_scales_k4(w->scales, sm);
    const uint8x16_t qh0 = vld1q_u8(w->qh), qh1 = vld1q_u8(w->qh + 16), sixteen = vdupq_n_u8(16);
    const uint8_t *q = w->qs;
    const int8_t *y = a->qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int j = 0; j < 4; j++, q += 32, y += 64) {
        const uint8x16_t lo_bit = vdupq_n_u8((uint8_t)(1u << (2 * j))), hi_bit = vdupq_n_u8((uint8_t)(2u << (2 * j)));
        const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
        const int8x16_t l0 = vorrq_s8(low_nibbles(b0), vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, lo_bit), sixteen)));
        const int8x16_t l1 = vorrq_s8(low_nibbles(b1), vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, lo_bit), sixteen)));
        const int8x16_t h0 = vorrq_s8(high_nibbles(b0), vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, hi_bit), sixteen)));
        const int8x16_t h1 = vorrq_s8(high_nibbles(b1), vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, hi_bit), sixteen)));
        const int32x4_t s0 = dot_i8(dot_i8(vdupq_n_s32(0), l0, load_i8(y), sdot), l1, load_i8(y + 16), sdot);
        const int32x4_t s1 = dot_i8(dot_i8(vdupq_n_s32(0), h0, load_i8(y + 32), sdot), h1, load_i8(y + 48), sdot);
        sumi = vmlaq_n_s32(vmlaq_n_s32(sumi, s0, sm[2 * j]), s1, sm[2 * j + 1]);
    }
    return (block_sums){vaddvq_s32(sumi), k4_mins_dot(sm, a->bsums)};
}

ALWAYS_INLINE float step_q4_K(float sum, const g4k_block_q4_K *w, const g4k_block_q8_K *a, block_sums s) {
    return sum + (a->d * f16(w->d) * (float)s.sumi - a->d * f16(w->dmin) * (float)s.summ);
}

ALWAYS_INLINE float step_q5_K(float sum, const g4k_block_q5_K *w, const g4k_block_q8_K *a, block_sums s) {
    return sum + (a->d * f16(w->d) * (float)s.sumi - a->d * f16(w->dmin) * (float)s.summ);
}

/* Q6_K, per half h of 128 elements: for l < 32, (ql[l] & 0xf | (qh[l] & 3) << 4) - 32 is
 * element l, ql[l + 32]'s low nibble with qh bits 2-3 element l + 32, the high nibbles
 * with bits 4-5 and 6-7 elements l + 64 and l + 96; sub-block 8h + 2k + l / 16 has scale
 * scales[8h + 2k + l / 16]. */
ALWAYS_INLINE block_sums sums_q6_K(const g4k_block_q6_K *w, const g4k_block_q8_K *a, bool sdot) {
    const uint8x16_t m4 = vdupq_n_u8(0xf), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    int32x4_t sumi = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
        const int8_t *sc = w->scales + 8 * h, *y = a->qs + 128 * h;
        for (int c = 0; c < 2; c++) {
            const uint8x16_t la = vld1q_u8(ql + 16 * c), lb = vld1q_u8(ql + 32 + 16 * c);
            const uint8x16_t hb = vld1q_u8(qh + 16 * c);
            const uint8x16_t x[4] = {
                vorrq_u8(vandq_u8(la, m4), vshlq_n_u8(vandq_u8(hb, m3), 4)),
                vorrq_u8(vandq_u8(lb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4)),
                vorrq_u8(vshrq_n_u8(la, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4)),
                vorrq_u8(vshrq_n_u8(lb, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
            };
            for (int k = 0; k < 4; k++) {
                const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(x[k]), m32);
                sumi = vmlaq_n_s32(sumi, dot_i8(vdupq_n_s32(0), v, load_i8(y + 32 * k + 16 * c), sdot), sc[2 * k + c]);
            }
        }
    }
    return (block_sums){vaddvq_s32(sumi), 0};
}

ALWAYS_INLINE float step_q6_K(float sum, const g4k_block_q6_K *w, const g4k_block_q8_K *a, block_sums s) {
    return sum + a->d * f16(w->d) * (float)s.sumi;
}

/* ---- the quantized kernels: one row, and ROWS_AT_ONCE rows per step ---------------------- */

/* dot_<name>_neon and dot_<name>_sdot with their _rows, from sums_<name> and step_<name>. */
#define QUANT_KERNELS(name, WBLOCK, ABLOCK, ELEMS)                                                          \
    ALWAYS_INLINE float dot_##name##_body(const void *vw, const void *va, int64_t n, bool sdot) {          \
        const WBLOCK *w = vw;                                                                              \
        const ABLOCK *a = va;                                                                              \
        float sum = 0.0f;                                                                                  \
        for (int64_t b = 0; b < n / (ELEMS); b++) sum = step_##name(sum, &w[b], &a[b], sums_##name(&w[b], &a[b], sdot)); \
        return sum;                                                                                        \
    }                                                                                                      \
    ALWAYS_INLINE void dot_##name##_rows_body(const void *vw, size_t row_bytes, int n_rows, const void *va, \
                                              int64_t n, float *out, bool sdot) {                          \
        const ABLOCK *a = va;                                                                              \
        int r = 0;                                                                                         \
        for (; r + ROWS_AT_ONCE <= n_rows; r += ROWS_AT_ONCE) {                                            \
            const WBLOCK *w[ROWS_AT_ONCE];                                                                 \
            float sum[ROWS_AT_ONCE];                                                                       \
            for (int i = 0; i < ROWS_AT_ONCE; i++) {                                                       \
                w[i] = (const WBLOCK *)((const uint8_t *)vw + (size_t)(r + i) * row_bytes);                \
                sum[i] = 0.0f;                                                                             \
            }                                                                                              \
            for (int64_t b = 0; b < n / (ELEMS); b++)                                                      \
                for (int i = 0; i < ROWS_AT_ONCE; i++)                                                     \
                    sum[i] = step_##name(sum[i], &w[i][b], &a[b], sums_##name(&w[i][b], &a[b], sdot));     \
            for (int i = 0; i < ROWS_AT_ONCE; i++) out[r + i] = sum[i];                                    \
        }                                                                                                  \
        for (; r < n_rows; r++) out[r] = dot_##name##_body((const uint8_t *)vw + (size_t)r * row_bytes, va, n, sdot); \
    }                                                                                                      \
    static float dot_##name##_neon(const void *w, const void *a, int64_t n) {                             \
        return dot_##name##_body(w, a, n, false);                                                          \
    }                                                                                                      \
    static void dot_##name##_neon_rows(const void *w, size_t row_bytes, int n_rows, const void *a, int64_t n, \
                                       float *out) {                                                       \
        dot_##name##_rows_body(w, row_bytes, n_rows, a, n, out, false);                                    \
    }                                                                                                      \
    SDOT_TARGET static float dot_##name##_sdot(const void *w, const void *a, int64_t n) {                 \
        return dot_##name##_body(w, a, n, true);                                                           \
    }                                                                                                      \
    SDOT_TARGET static void dot_##name##_sdot_rows(const void *w, size_t row_bytes, int n_rows, const void *a, \
                                                   int64_t n, float *out) {                                \
        dot_##name##_rows_body(w, row_bytes, n_rows, a, n, out, true);                                     \
    }

QUANT_KERNELS(q8_0, g4k_block_q8_0, g4k_block_q8_0, G4K_QK)
QUANT_KERNELS(q4_0, g4k_block_q4_0, g4k_block_q8_0, G4K_QK)
QUANT_KERNELS(q4_1, g4k_block_q4_1, g4k_block_q8_1, G4K_QK)
QUANT_KERNELS(q5_0, g4k_block_q5_0, g4k_block_q8_0, G4K_QK)
QUANT_KERNELS(q5_1, g4k_block_q5_1, g4k_block_q8_1, G4K_QK)
QUANT_KERNELS(q2_K, g4k_block_q2_K, g4k_block_q8_K, G4_QK_K)
QUANT_KERNELS(q3_K, g4k_block_q3_K, g4k_block_q8_K, G4_QK_K)
QUANT_KERNELS(q4_K, g4k_block_q4_K, g4k_block_q8_K, G4_QK_K)
QUANT_KERNELS(q5_K, g4k_block_q5_K, g4k_block_q8_K, G4_QK_K)
QUANT_KERNELS(q6_K, g4k_block_q6_K, g4k_block_q8_K, G4_QK_K)

/* ---- float weights × f32: products exact in double, summed in element order ---------------- */

ALWAYS_INLINE float32x4_t load_bf16x4(const uint8_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
}

ALWAYS_INLINE float32x4_t load_f16x4(const uint8_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
}

/* One row: 4 elements converted at a time, then added one after another. */
#define FLOAT_DOT(name, load, scalar)                                                                      \
    static float name(const void *vw, const void *va, int64_t n) {                                         \
        const uint8_t *w = vw;                                                                             \
        const float *x = va;                                                                               \
        double sum = 0.0;                                                                                  \
        int64_t i = 0;                                                                                     \
        for (; i + 4 <= n; i += 4) {                                                                       \
            const float32x4_t wf = load(w + 2 * i), xf = vld1q_f32(x + i);                                 \
            const float64x2_t p0 = vmulq_f64(vcvt_f64_f32(vget_low_f32(wf)), vcvt_f64_f32(vget_low_f32(xf))); \
            const float64x2_t p1 = vmulq_f64(vcvt_high_f64_f32(wf), vcvt_high_f64_f32(xf));                \
            sum += vgetq_lane_f64(p0, 0);                                                                  \
            sum += vgetq_lane_f64(p0, 1);                                                                  \
            sum += vgetq_lane_f64(p1, 0);                                                                  \
            sum += vgetq_lane_f64(p1, 1);                                                                  \
        }                                                                                                  \
        for (; i < n; i++) {                                                                               \
            uint16_t h;                                                                                    \
            memcpy(&h, w + 2 * i, 2);                                                                      \
            sum += (double)scalar(h) * x[i];                                                               \
        }                                                                                                  \
        return (float)sum;                                                                                 \
    }

FLOAT_DOT(dot_bf16, load_bf16x4, g4_bf16_to_f32)
FLOAT_DOT(dot_f16, load_f16x4, g4_f16_to_f32)

/* Four rows: rows 0 and 1 in the lanes of one double vector, rows 2 and 3 in another,
 * each lane summing its row's products in element order. */
#define FLOAT_DOT_ROWS(name, load, scalar)                                                                       \
    static void name##_rows(const void *vw, size_t row_bytes, int n_rows, const void *va, int64_t n,       \
                            float *out) {                                                                  \
        const float *x = va;                                                                               \
        int r = 0;                                                                                         \
        for (; r + 4 <= n_rows; r += 4) {                                                                  \
            const uint8_t *w0 = (const uint8_t *)vw + (size_t)r * row_bytes, *w1 = w0 + row_bytes;         \
            const uint8_t *w2 = w1 + row_bytes, *w3 = w2 + row_bytes;                                      \
            float64x2_t s01 = vdupq_n_f64(0.0), s23 = vdupq_n_f64(0.0);                                    \
            int64_t i = 0;                                                                                 \
            for (; i + 4 <= n; i += 4) {                                                                   \
                const float32x4_t xf = vld1q_f32(x + i);                                                   \
                const float32x4_t a = load(w0 + 2 * i), b = load(w1 + 2 * i);                              \
                const float32x4_t c = load(w2 + 2 * i), d = load(w3 + 2 * i);                              \
                const float32x4_t ab_lo = vzip1q_f32(a, b), ab_hi = vzip2q_f32(a, b);                      \
                const float32x4_t cd_lo = vzip1q_f32(c, d), cd_hi = vzip2q_f32(c, d);                      \
                const float64x2_t x0 = vdupq_n_f64(vgetq_lane_f32(xf, 0)), x1 = vdupq_n_f64(vgetq_lane_f32(xf, 1)); \
                const float64x2_t x2 = vdupq_n_f64(vgetq_lane_f32(xf, 2)), x3 = vdupq_n_f64(vgetq_lane_f32(xf, 3)); \
                s01 = vaddq_f64(s01, vmulq_f64(vcvt_f64_f32(vget_low_f32(ab_lo)), x0));                   \
                s23 = vaddq_f64(s23, vmulq_f64(vcvt_f64_f32(vget_low_f32(cd_lo)), x0));                   \
                s01 = vaddq_f64(s01, vmulq_f64(vcvt_high_f64_f32(ab_lo), x1));                             \
                s23 = vaddq_f64(s23, vmulq_f64(vcvt_high_f64_f32(cd_lo), x1));                             \
                s01 = vaddq_f64(s01, vmulq_f64(vcvt_f64_f32(vget_low_f32(ab_hi)), x2));                   \
                s23 = vaddq_f64(s23, vmulq_f64(vcvt_f64_f32(vget_low_f32(cd_hi)), x2));                   \
                s01 = vaddq_f64(s01, vmulq_f64(vcvt_high_f64_f32(ab_hi), x3));                             \
                s23 = vaddq_f64(s23, vmulq_f64(vcvt_high_f64_f32(cd_hi), x3));                             \
            }                                                                                              \
            if (i < n) { /* the tail: the single-row kernel's scalar steps, lane by lane */                \
                const uint8_t *rows[4] = {w0, w1, w2, w3};                                                 \
                double s[4] = {vgetq_lane_f64(s01, 0), vgetq_lane_f64(s01, 1), vgetq_lane_f64(s23, 0),     \
                               vgetq_lane_f64(s23, 1)};                                                    \
                for (int k = 0; k < 4; k++)                                                                \
                    for (int64_t t = i; t < n; t++) {                                                      \
                        uint16_t h;                                                                        \
                        memcpy(&h, rows[k] + 2 * t, 2);                                                    \
                        s[k] += (double)scalar(h) * x[t];                                                   \
                    }                                                                                      \
                for (int k = 0; k < 4; k++) out[r + k] = (float)s[k];                                      \
            } else {                                                                                       \
                out[r] = (float)vgetq_lane_f64(s01, 0), out[r + 1] = (float)vgetq_lane_f64(s01, 1);        \
                out[r + 2] = (float)vgetq_lane_f64(s23, 0), out[r + 3] = (float)vgetq_lane_f64(s23, 1);    \
            }                                                                                              \
        }                                                                                                  \
        for (; r < n_rows; r++) out[r] = name((const uint8_t *)vw + (size_t)r * row_bytes, va, n);         \
    }

FLOAT_DOT_ROWS(dot_bf16, load_bf16x4, g4_bf16_to_f32)
FLOAT_DOT_ROWS(dot_f16, load_f16x4, g4_f16_to_f32)

/* ---- the tables ---------------------------------------------------------------------------- */

#define NEON(name) dot_##name##_neon, dot_##name##_neon_rows, NULL
#define SDOT(name) dot_##name##_sdot, dot_##name##_sdot_rows, NULL

static const g4k_dot_kernel k_neon[G4_TYPE_COUNT] = {
    [G4_TYPE_Q8_0] = {G4K_ACT_Q8_0, NEON(q8_0)},   [G4_TYPE_Q4_0] = {G4K_ACT_Q8_0, NEON(q4_0)},
    [G4_TYPE_Q5_0] = {G4K_ACT_Q8_0, NEON(q5_0)},   [G4_TYPE_Q4_1] = {G4K_ACT_Q8_1, NEON(q4_1)},
    [G4_TYPE_Q5_1] = {G4K_ACT_Q8_1, NEON(q5_1)},   [G4_TYPE_Q2_K] = {G4K_ACT_Q8_K, NEON(q2_K)},
    [G4_TYPE_Q3_K] = {G4K_ACT_Q8_K, NEON(q3_K)},   [G4_TYPE_Q4_K] = {G4K_ACT_Q8_K, NEON(q4_K)},
    [G4_TYPE_Q5_K] = {G4K_ACT_Q8_K, NEON(q5_K)},   [G4_TYPE_Q6_K] = {G4K_ACT_Q8_K, NEON(q6_K)},
    [G4_TYPE_BF16] = {G4K_ACT_F32, dot_bf16, dot_bf16_rows}, [G4_TYPE_F16] = {G4K_ACT_F32, dot_f16, dot_f16_rows},
};

static const g4k_dot_kernel k_sdot[G4_TYPE_COUNT] = {
    [G4_TYPE_Q8_0] = {G4K_ACT_Q8_0, SDOT(q8_0)},   [G4_TYPE_Q4_0] = {G4K_ACT_Q8_0, SDOT(q4_0)},
    [G4_TYPE_Q5_0] = {G4K_ACT_Q8_0, SDOT(q5_0)},   [G4_TYPE_Q4_1] = {G4K_ACT_Q8_1, SDOT(q4_1)},
    [G4_TYPE_Q5_1] = {G4K_ACT_Q8_1, SDOT(q5_1)},   [G4_TYPE_Q2_K] = {G4K_ACT_Q8_K, SDOT(q2_K)},
    [G4_TYPE_Q3_K] = {G4K_ACT_Q8_K, SDOT(q3_K)},   [G4_TYPE_Q4_K] = {G4K_ACT_Q8_K, SDOT(q4_K)},
    [G4_TYPE_Q5_K] = {G4K_ACT_Q8_K, SDOT(q5_K)},   [G4_TYPE_Q6_K] = {G4K_ACT_Q8_K, SDOT(q6_K)},
    [G4_TYPE_BF16] = {G4K_ACT_F32, dot_bf16, dot_bf16_rows}, [G4_TYPE_F16] = {G4K_ACT_F32, dot_f16, dot_f16_rows},
};

static int detect_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD)
    return 1;
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}

static int cpu_has_dotprod(void) {
    static int cached = -1; /* a benign race: every thread computes the same value */
    if (cached < 0) cached = detect_dotprod();
    return cached;
}

const g4k_dot_kernel *g4k_dot_neon(enum g4_type weight_type) {
    if ((int)weight_type < 0 || (int)weight_type >= G4_TYPE_COUNT) return NULL;
    const g4k_dot_kernel *k = cpu_has_dotprod() ? &k_sdot[weight_type] : &k_neon[weight_type];
    return k->dot ? k : NULL;
}

#else /* not AArch64: no NEON kernels */

const g4k_dot_kernel *g4k_dot_neon(enum g4_type weight_type) {
    (void)weight_type;
    return NULL;
}

#endif
