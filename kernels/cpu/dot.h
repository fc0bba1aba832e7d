/* dot.h (internal to kernels/cpu): dot products of one weight row with one
 * activation row that has been converted once per token to the type ggml pairs
 * with the weight type (llama.cpp's vec_dot_type):
 *
 *   weight            activation   kernel result
 *   Q8_0, Q4_0, Q5_0  Q8_0         sum over blocks of d_w*d_a * sum(q_w*q_a)
 *   Q4_1, Q5_1        Q8_1         ... + m_w * s_a per block
 *   Q2_K .. Q6_K      Q8_K         sum over super-blocks, integer sub-block sums
 *   BF16, F16         F32          sum of w*x (the activation row is copied)
 *
 * Four implementations: dot_scalar.c (portable; also the tests' oracle),
 * dot_avx2.c (AVX2+FMA+F16C), dot_avx512.c (AVX-512 with VNNI) and dot_neon.c
 * (AArch64, SDOT where present), the SIMD ones compiled per function and
 * chosen at run time. The matmul looks a
 * kernel up once per weight matrix:
 *
 *   const g4k_dot_kernel *k = g4k_dot_for(w->type);
 *   k->quantize_act(x, xq, n);                // once per token, xq holds act_row_size(n) bytes
 *   for each row o: y[o] = k->dot(row(o), xq, n);
 *   or, faster, for rows o0..o1 at once: k->dot_rows(row(o0), row_bytes, o1 - o0, xq, n, y + o0);
 *
 * n must be a whole number of the weight type's blocks (any n for BF16/F16).
 * Rows need no alignment beyond that of their blocks.
 *
 * Q8_0_R16 weights (Q8_0 repacked at load, 16 rows interleaved; see
 * g4k_block_q8_0x16) take Q8_0 activations; their dot_rows takes whole groups
 * (w_rows at a group, n_rows a multiple of 16) and their dot one row as
 * g4k_q8_0_r16_row addresses it. Every row's result is the same bits in every
 * implementation and whatever the rows around it: per block the exact integer
 * sum, then acc = fma(sum, d_w * d_a, acc) block after block. */
#ifndef G4K_DOT_H
#define G4K_DOT_H

#include "model/quant.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    enum g4_type act_type;                                  /* G4_TYPE_Q8_0, Q8_1, Q8_K or F32 */
    size_t (*act_row_size)(int64_t n);                      /* bytes of a converted activation row */
    void (*quantize_act)(const float *x, void *out, int64_t n); /* bit-identical to ggml's *_ref */
    float (*dot)(const void *w_row, const void *act, int64_t n);
    /* out[r] = dot(w_rows + r * row_bytes, act, n) for r < n_rows, bit for bit;
     * the SIMD kernels take several rows at a time, sharing the activation's
     * loads and conversions. */
    void (*dot_rows)(const void *w_rows, size_t row_bytes, int n_rows, const void *act, int64_t n, float *out);
    /* Optional (NULL where a kernel has none): dot_rows for n_tok activation rows
     * (act + t * act_bytes) at once, into out + t * out_stride, each token's
     * results the bits dot_rows gives it; the weights are read once for all the
     * tokens, so that a small batch (decoding several sequences) costs about what
     * one token does. */
    void (*dot_rows_tokens)(const void *w_rows, size_t row_bytes, int n_rows, const void *act, size_t act_bytes,
                            int n_tok, int64_t n, float *out, size_t out_stride);
} g4k_dot_kernel;

/* The fastest kernel for weight_type on this CPU, or NULL when the type has none
 * (F32 and the activation-only types Q8_1/Q8_K). */
const g4k_dot_kernel *g4k_dot_for(enum g4_type weight_type);

/* The portable kernel (NULL as above). Tests and benchmarks. */
const g4k_dot_kernel *g4k_dot_scalar(enum g4_type weight_type);

/* The AVX2 kernel, or NULL when the CPU lacks AVX2/FMA/F16C, the build is not
 * for x86-64, or the type has no AVX2 kernel. Tests and benchmarks. */
const g4k_dot_kernel *g4k_dot_avx2(enum g4_type weight_type);

/* The AVX-512 kernel, or NULL when the CPU lacks AVX-512 F/BW/VL/DQ/VNNI (or
 * the OS does not save the ZMM registers), the build is not for x86-64, or the
 * type has no AVX-512 kernel. Tests and benchmarks. */
const g4k_dot_kernel *g4k_dot_avx512(enum g4_type weight_type);

/* The AArch64 NEON kernel (SDOT where the CPU has it), or NULL when the build is
 * not for AArch64 or the type has no NEON kernel (Q8_0_R16). Tests and benchmarks. */
const g4k_dot_kernel *g4k_dot_neon(enum g4_type weight_type);

/* ---- block layouts (ggml-common.h; the same as engine/model/quant*.c) ---------- */

#define G4K_QK 32 /* elements per block of the 32-element types */

typedef struct {
    uint16_t d;
    uint8_t qs[16];
} g4k_block_q4_0;

typedef struct {
    uint16_t d, m;
    uint8_t qs[16];
} g4k_block_q4_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
} g4k_block_q5_0;

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} g4k_block_q5_1;

typedef struct {
    uint16_t d;
    int8_t qs[32];
} g4k_block_q8_0;

typedef struct {
    uint16_t d, s; /* s = f16(d * sum(qs)) */
    int8_t qs[32];
} g4k_block_q8_1;

typedef struct {
    uint8_t scales[G4_QK_K / 16];
    uint8_t qs[G4_QK_K / 4];
    uint16_t d, dmin;
} g4k_block_q2_K;

typedef struct {
    uint8_t hmask[G4_QK_K / 8];
    uint8_t qs[G4_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} g4k_block_q3_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[G4_QK_K / 2];
} g4k_block_q4_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[G4_QK_K / 8];
    uint8_t qs[G4_QK_K / 2];
} g4k_block_q5_K;

typedef struct {
    uint8_t ql[G4_QK_K / 2];
    uint8_t qh[G4_QK_K / 4];
    int8_t scales[G4_QK_K / 16];
    uint16_t d;
} g4k_block_q6_K;

typedef struct {
    float d;
    int8_t qs[G4_QK_K];
    int16_t bsums[G4_QK_K / 16];
} g4k_block_q8_K;

/* Q8_0_R16 (repack.c): the Q8_0 blocks of 16 consecutive rows (a group) at one
 * block index, interleaved for vpdpbusd: d[r] is row r's scale, and the 4 bytes
 * at qs[64 * g + 4 * r] are row r's quants 4g .. 4g+3, each + 128 (as unsigned
 * bytes, q ^ 0x80). A matrix of n_out rows (a multiple of 16) and nb blocks per
 * row holds group G's block b at (G * nb + b); its row_bytes is 34 * nb, so that
 * a group starts at data + o * row_bytes for o = 16 G, and the matmul's row ranges,
 * which start at multiples of 16 rows, start at a group. */
typedef struct {
    uint16_t d[16];
    uint8_t qs[16 * 32];
} g4k_block_q8_0x16;

/* What the single-row `dot` of a Q8_0_R16 kernel takes as row o of such a
 * matrix: its group's address plus o % 16 (groups are 32-byte aligned, so the
 * low bits tell the row). dot_rows takes the group's address, as for any type. */
static inline const void *g4k_q8_0_r16_row(const void *data, size_t row_bytes, int64_t o) {
    return (const uint8_t *)data + (size_t)(o - o % 16) * row_bytes + o % 16;
}

/* The group address and the row within it of such a row handle. */
static inline const g4k_block_q8_0x16 *g4k_q8_0_r16_group(const void *row, int *lane) {
    *lane = (int)((uintptr_t)row & 31);
    return (const g4k_block_q8_0x16 *)((const uint8_t *)row - *lane);
}

_Static_assert(sizeof(g4k_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(g4k_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(g4k_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(g4k_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(g4k_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(g4k_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(g4k_block_q2_K) == G4_Q2_K_SIZE, "q2_K");
_Static_assert(sizeof(g4k_block_q3_K) == G4_Q3_K_SIZE, "q3_K");
_Static_assert(sizeof(g4k_block_q4_K) == G4_Q4_K_SIZE, "q4_K");
_Static_assert(sizeof(g4k_block_q5_K) == G4_Q5_K_SIZE, "q5_K");
_Static_assert(sizeof(g4k_block_q6_K) == G4_Q6_K_SIZE, "q6_K");
_Static_assert(sizeof(g4k_block_q8_K) == G4_Q8_K_SIZE, "q8_K");
_Static_assert(sizeof(g4k_block_q8_0x16) == 16 * sizeof(g4k_block_q8_0), "q8_0x16");

/* The activation-row helpers both implementations share (dot_scalar.c). */
size_t g4k_act_size_q8_0(int64_t n);
size_t g4k_act_size_q8_1(int64_t n);
size_t g4k_act_size_q8_K(int64_t n);
size_t g4k_act_size_f32(int64_t n);
void g4k_quantize_act_q8_0(const float *x, void *out, int64_t n);
void g4k_quantize_act_q8_1(const float *x, void *out, int64_t n);
void g4k_quantize_act_q8_K(const float *x, void *out, int64_t n);
void g4k_quantize_act_f32(const float *x, void *out, int64_t n);

/* The activation half of a g4k_dot_kernel, for the implementations' tables. */
#define G4K_ACT_Q8_0 G4_TYPE_Q8_0, g4k_act_size_q8_0, g4k_quantize_act_q8_0
#define G4K_ACT_Q8_1 G4_TYPE_Q8_1, g4k_act_size_q8_1, g4k_quantize_act_q8_1
#define G4K_ACT_Q8_K G4_TYPE_Q8_K, g4k_act_size_q8_K, g4k_quantize_act_q8_K
#define G4K_ACT_F32 G4_TYPE_F32, g4k_act_size_f32, g4k_quantize_act_f32

/* x86-64: true when the CPU has FMA and F16C, the OS saves every state in
 * xcr0_mask (XCR0 bits), and CPUID leaf 7 reports all of leaf7_ebx and leaf7_ecx.
 * Always false elsewhere. */
int g4k_x86_has(unsigned xcr0_mask, unsigned leaf7_ebx, unsigned leaf7_ecx);

/* Unpacks the 8 six-bit scales (out[0..7]) and 8 mins (out[8..15]) of a Q4_K/Q5_K block. */
void g4k_unpack_scales_k4(const uint8_t packed[12], uint8_t out[16]);

/* The same as four little-endian words (ggml's kmask unpacking; out bytes 0..7
 * scales, 8..15 mins), for the SIMD kernels. */
static inline void g4k_unpack_scales_k4_u32(const uint8_t packed[12], uint32_t out[4]) {
    uint32_t u[3];
    memcpy(u, packed, 12);
    out[0] = u[0] & 0x3f3f3f3f;
    out[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    out[2] = u[1] & 0x3f3f3f3f;
    out[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
}

/* The 16 six-bit scales of a Q3_K block, each + 32 (0..63), as four words. */
static inline void g4k_unpack_scales_q3_u32(const uint8_t packed[12], uint32_t out[4]) {
    uint32_t u[3];
    memcpy(u, packed, 12);
    out[0] = (u[0] & 0x0f0f0f0f) | ((u[2] & 0x03030303) << 4);
    out[1] = (u[1] & 0x0f0f0f0f) | (((u[2] >> 2) & 0x03030303) << 4);
    out[2] = ((u[0] >> 4) & 0x0f0f0f0f) | (((u[2] >> 4) & 0x03030303) << 4);
    out[3] = ((u[1] >> 4) & 0x0f0f0f0f) | (((u[2] >> 6) & 0x03030303) << 4);
}

#endif
