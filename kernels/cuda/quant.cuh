/* quant.cuh: the weight types of the GPU matmuls: ggml's block layouts and the
 * dequantization of one chunk of a row, as __host__ __device__ functions, so that
 * the host can check them against engine/model/quant.c and quant_k.c bit for bit
 * (tests/gpu/quant_host.cu). Internal to kernels/cuda.
 *
 * A row is a sequence of chunks of g4q_traits<T>::chunk consecutive elements:
 * 32 for the block types (a whole 32-block, or a 32-element piece of a 256-element
 * K-quant super-block), 8 for F32, F16 and BF16 (16 or 32 bytes, one wide load).
 * g4q_dequant_chunk<T>(row, c, out) writes elements [c * chunk, (c + 1) * chunk).
 *
 * Every value is computed with the operations of the CPU code in its order, each
 * rounded once (never fused into an FMA: device code uses __fmul_rn/__fadd_rn,
 * HIP and host code turn contraction off), so the floats are the same. */
#ifndef G4_CUDA_QUANT_CUH
#define G4_CUDA_QUANT_CUH

#include "runtime.cuh"
#include "backend.h"

#include <stdint.h>
#include <string.h>

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define G4Q_DEVICE 1
#else
#define G4Q_DEVICE 0
#endif

#if defined(__clang__)
#define G4Q_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define G4Q_NO_CONTRACT
#endif

/* ---- block layouts (ggml-common.h) ------------------------------------------- */

struct g4q_block_q4_0 { uint16_t d; uint8_t qs[16]; };
struct g4q_block_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct g4q_block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct g4q_block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct g4q_block_q8_0 { uint16_t d; int8_t qs[32]; };
struct g4q_block_q2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct g4q_block_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct g4q_block_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct g4q_block_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct g4q_block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
static_assert(sizeof(g4q_block_q4_0) == 18, "block_q4_0 is 18 bytes");
static_assert(sizeof(g4q_block_q4_1) == 20, "block_q4_1 is 20 bytes");
static_assert(sizeof(g4q_block_q5_0) == 22, "block_q5_0 is 22 bytes");
static_assert(sizeof(g4q_block_q5_1) == 24, "block_q5_1 is 24 bytes");
static_assert(sizeof(g4q_block_q8_0) == 34, "block_q8_0 is 34 bytes");
static_assert(sizeof(g4q_block_q2_K) == 84, "block_q2_K is 84 bytes");
static_assert(sizeof(g4q_block_q3_K) == 110, "block_q3_K is 110 bytes");
static_assert(sizeof(g4q_block_q4_K) == 144, "block_q4_K is 144 bytes");
static_assert(sizeof(g4q_block_q5_K) == 176, "block_q5_K is 176 bytes");
static_assert(sizeof(g4q_block_q6_K) == 210, "block_q6_K is 210 bytes");

/* ---- traits ------------------------------------------------------------------- */

/* block: elements per block; bytes: bytes per block; chunk: elements per chunk;
 * align: the byte alignment the loads need of the data pointer and row stride
 * (16 where a chunk is read with 16-byte loads, else the block's own). */
template <int T> struct g4q_traits;
#define G4Q_TRAITS(type, blk, byt, chk, aln)                                          \
    template <> struct g4q_traits<type> {                                             \
        static constexpr int block = blk, bytes = byt, chunk = chk, align = aln;      \
    }
G4Q_TRAITS(G4_TYPE_F32, 1, 4, 8, 16);
G4Q_TRAITS(G4_TYPE_F16, 1, 2, 8, 16);
G4Q_TRAITS(G4_TYPE_BF16, 1, 2, 8, 16);
G4Q_TRAITS(G4_TYPE_Q4_0, 32, 18, 32, 2);
G4Q_TRAITS(G4_TYPE_Q4_1, 32, 20, 32, 4);
G4Q_TRAITS(G4_TYPE_Q5_0, 32, 22, 32, 2);
G4Q_TRAITS(G4_TYPE_Q5_1, 32, 24, 32, 4);
G4Q_TRAITS(G4_TYPE_Q8_0, 32, 34, 32, 2);
G4Q_TRAITS(G4_TYPE_Q2_K, 256, 84, 32, 4);
G4Q_TRAITS(G4_TYPE_Q3_K, 256, 110, 32, 2);
G4Q_TRAITS(G4_TYPE_Q4_K, 256, 144, 32, 16);
G4Q_TRAITS(G4_TYPE_Q5_K, 256, 176, 32, 16);
G4Q_TRAITS(G4_TYPE_Q6_K, 256, 210, 32, 2);
#undef G4Q_TRAITS

/* Calls FN<type>(args...) for a supported runtime type: the one switch from an
 * enum g4_type to a template. Evaluates to false for other types. */
#define G4Q_DISPATCH(type, CALL)                                                      \
    ([&]() -> bool {                                                                  \
        switch (type) {                                                               \
        case G4_TYPE_F32: CALL(G4_TYPE_F32); return true;                             \
        case G4_TYPE_F16: CALL(G4_TYPE_F16); return true;                             \
        case G4_TYPE_BF16: CALL(G4_TYPE_BF16); return true;                           \
        case G4_TYPE_Q4_0: CALL(G4_TYPE_Q4_0); return true;                           \
        case G4_TYPE_Q4_1: CALL(G4_TYPE_Q4_1); return true;                           \
        case G4_TYPE_Q5_0: CALL(G4_TYPE_Q5_0); return true;                           \
        case G4_TYPE_Q5_1: CALL(G4_TYPE_Q5_1); return true;                           \
        case G4_TYPE_Q8_0: CALL(G4_TYPE_Q8_0); return true;                           \
        case G4_TYPE_Q2_K: CALL(G4_TYPE_Q2_K); return true;                           \
        case G4_TYPE_Q3_K: CALL(G4_TYPE_Q3_K); return true;                           \
        case G4_TYPE_Q4_K: CALL(G4_TYPE_Q4_K); return true;                           \
        case G4_TYPE_Q5_K: CALL(G4_TYPE_Q5_K); return true;                           \
        case G4_TYPE_Q6_K: CALL(G4_TYPE_Q6_K); return true;                           \
        default: return false;                                                        \
        }                                                                             \
    }())

/* ---- scalar helpers ------------------------------------------------------------ */

/* A load of V from p, which is aligned for V (a plain load on the device; memcpy
 * on the host, where the bytes may have been written as another type). */
template <typename V> __host__ __device__ inline V g4q_load(const uint8_t *p) {
#if G4Q_DEVICE
    return *reinterpret_cast<const V *>(p);
#else
    V v;
    memcpy(&v, p, sizeof v);
    return v;
#endif
}

__host__ __device__ inline float g4q_bits_to_float(uint32_t u) {
#if G4Q_DEVICE
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* a * b and a + b, each rounded once: never contracted into an FMA. */
__host__ __device__ inline float g4q_mul(float a, float b) {
    G4Q_NO_CONTRACT
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

__host__ __device__ inline float g4q_add(float a, float b) {
    G4Q_NO_CONTRACT
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

__host__ __device__ inline float g4q_sub(float a, float b) {
    G4Q_NO_CONTRACT
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

/* (float)q for |q| < 2^22, exactly. On the device without an int-to-float
 * conversion (a slow instruction): q added to the bits of 1.5 * 2^23, minus that. */
__host__ __device__ inline float g4q_int_to_float(int q) {
#if G4Q_DEVICE
    return g4q_sub(__int_as_float(0x4B400000 + q), 12582912.0f);
#else
    return (float)q;
#endif
}

/* As g4_f16_to_f32 (quant.c): subnormals, inf and NaN (made quiet) included. */
__host__ __device__ inline float g4q_f16(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return g4q_bits_to_float(sign | 0x7f800000 | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp == 0) {
        if (mant == 0) return g4q_bits_to_float(sign);
        const float v = g4q_mul(g4q_int_to_float((int)mant), 0x1p-24f);
        return sign ? -v : v;
    }
    return g4q_bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
}

__host__ __device__ inline float g4q_bf16(uint16_t b) {
    return g4q_bits_to_float((uint32_t)b << 16);
}

__host__ __device__ inline uint16_t g4q_u16(const uint8_t *p) { return g4q_load<uint16_t>(p); }

/* ---- chunks ------------------------------------------------------------------- */

template <int T> __host__ __device__ inline void g4q_dequant_chunk(const uint8_t *row, int c, float *out);

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_F32>(const uint8_t *row, int c, float *out) {
    const uint8_t *p = row + (size_t)c * 32;
    const float4 a = g4q_load<float4>(p), b = g4q_load<float4>(p + 16);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}

/* The 8 16-bit values of a 16-byte piece, in order. */
__host__ __device__ inline void g4q_halves(const uint8_t *p, uint16_t h[8]) {
    const uint4 v = g4q_load<uint4>(p);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    for (int k = 0; k < 4; k++) {
        h[2 * k] = (uint16_t)(w[k] & 0xffff);
        h[2 * k + 1] = (uint16_t)(w[k] >> 16);
    }
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_F16>(const uint8_t *row, int c, float *out) {
    uint16_t h[8];
    g4q_halves(row + (size_t)c * 16, h);
    for (int k = 0; k < 8; k++) out[k] = g4q_f16(h[k]);
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_BF16>(const uint8_t *row, int c, float *out) {
    uint16_t h[8];
    g4q_halves(row + (size_t)c * 16, h);
    for (int k = 0; k < 8; k++) out[k] = g4q_bf16(h[k]);
}

/* 16 bytes at a 2-byte aligned address. */
__host__ __device__ inline void g4q_bytes16(const uint8_t *p, uint8_t b[16]) {
    for (int k = 0; k < 8; k++) {
        const uint16_t v = g4q_u16(p + 2 * k);
        b[2 * k] = (uint8_t)(v & 0xff);
        b[2 * k + 1] = (uint8_t)(v >> 8);
    }
}

/* The 32 elements' 4-bit parts of a 32-block: element j in the low nibble of
 * byte j, element j + 16 in the high nibble. */
__host__ __device__ inline void g4q_nibbles32(const uint8_t *qs, int q[32]) {
    uint8_t b[16];
    g4q_bytes16(qs, b);
    for (int j = 0; j < 16; j++) {
        q[j] = b[j] & 0x0f;
        q[j + 16] = b[j] >> 4;
    }
}

__host__ __device__ inline uint32_t g4q_qh32(const uint8_t *qh) {
    return (uint32_t)g4q_u16(qh) | (uint32_t)g4q_u16(qh + 2) << 16;
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q4_0>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)c * sizeof(g4q_block_q4_0);
    const float d = g4q_f16(g4q_u16(b));
    int q[32];
    g4q_nibbles32(b + 2, q);
    for (int j = 0; j < 32; j++) out[j] = g4q_mul(g4q_int_to_float(q[j] - 8), d);
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q4_1>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)c * sizeof(g4q_block_q4_1);
    const float d = g4q_f16(g4q_u16(b)), m = g4q_f16(g4q_u16(b + 2));
    int q[32];
    g4q_nibbles32(b + 4, q);
    for (int j = 0; j < 32; j++) out[j] = g4q_add(g4q_mul(g4q_int_to_float(q[j]), d), m);
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q5_0>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)c * sizeof(g4q_block_q5_0);
    const float d = g4q_f16(g4q_u16(b));
    const uint32_t qh = g4q_qh32(b + 2);
    int q[32];
    g4q_nibbles32(b + 6, q);
    for (int j = 0; j < 32; j++) out[j] = g4q_mul(g4q_int_to_float((q[j] | (int)((qh >> j) & 1) << 4) - 16), d);
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q5_1>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)c * sizeof(g4q_block_q5_1);
    const float d = g4q_f16(g4q_u16(b)), m = g4q_f16(g4q_u16(b + 2));
    const uint32_t qh = g4q_qh32(b + 4);
    int q[32];
    g4q_nibbles32(b + 8, q);
    for (int j = 0; j < 32; j++)
        out[j] = g4q_add(g4q_mul(g4q_int_to_float(q[j] | (int)((qh >> j) & 1) << 4), d), m);
}

template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q8_0>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)c * sizeof(g4q_block_q8_0);
    const float d = g4q_f16(g4q_u16(b));
    for (int k = 0; k < 16; k++) {
        const uint16_t v = g4q_u16(b + 2 + 2 * k);
        out[2 * k] = g4q_mul(g4q_int_to_float((int8_t)(v & 0xff)), d);
        out[2 * k + 1] = g4q_mul(g4q_int_to_float((int8_t)(v >> 8)), d);
    }
}

/* K-quants: chunk c of a row is piece s = c % 8 of super-block c / 8. */

/* Q2_K: piece s covers bytes qs[32 * (s / 4) + l] (l < 32) at bits 2 * (s % 4),
 * sub-block (scale) 2 * s + l / 16: as ggml's loops over n, shift and half. */
template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q2_K>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)(c / 8) * sizeof(g4q_block_q2_K);
    const int s = c % 8, shift = 2 * (s % 4);
    const float d = g4q_f16(g4q_u16(b + 80)), min = g4q_f16(g4q_u16(b + 82));
    const uint8_t *q = b + 16 + 32 * (s / 4);
    for (int half = 0; half < 2; half++) {
        const uint8_t sc = b[2 * s + half];
        const float dl = g4q_mul(d, g4q_int_to_float(sc & 0xf)), ml = g4q_mul(min, g4q_int_to_float(sc >> 4));
        uint8_t v[16];
        for (int k = 0; k < 4; k++) {
            const uint32_t w = g4q_load<uint32_t>(q + 16 * half + 4 * k);
            for (int e = 0; e < 4; e++) v[4 * k + e] = (uint8_t)(w >> (8 * e));
        }
        for (int l = 0; l < 16; l++)
            out[16 * half + l] = g4q_sub(g4q_mul(dl, g4q_int_to_float((v[l] >> shift) & 3)), ml);
    }
}

/* Q3_K: as Q2_K, the third bit in hmask[l] at bit s, scales as q3_scale in quant_k.c. */
template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q3_K>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)(c / 8) * sizeof(g4q_block_q3_K);
    const int s = c % 8, shift = 2 * (s % 4);
    const float d_all = g4q_f16(g4q_u16(b + 108));
    const uint8_t *hm = b, *q = b + 32 + 32 * (s / 4), *scales = b + 96;
    for (int half = 0; half < 2; half++) {
        const int j = 2 * s + half;
        const int lo = j < 8 ? scales[j] & 0xf : scales[j - 8] >> 4;
        const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        const float dl = g4q_mul(d_all, g4q_int_to_float((lo | hi << 4) - 32));
        uint8_t qv[16], hv[16];
        g4q_bytes16(q + 16 * half, qv);
        g4q_bytes16(hm + 16 * half, hv);
        for (int l = 0; l < 16; l++) {
            const int v = ((qv[l] >> shift) & 3) - (((hv[l] >> s) & 1) ? 0 : 4);
            out[16 * half + l] = g4q_mul(dl, g4q_int_to_float(v));
        }
    }
}

/* Scale and min (6 bits each) of sub-block j of a Q4_K/Q5_K scales array. */
__host__ __device__ inline void g4q_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* The 32 bytes qs[32 * (s / 2) ..] of a Q4_K/Q5_K piece s (16-byte aligned). */
__host__ __device__ inline void g4q_bytes32(const uint8_t *p, uint8_t v[32]) {
    for (int k = 0; k < 2; k++) {
        const uint4 w = g4q_load<uint4>(p + 16 * k);
        const uint32_t u[4] = {w.x, w.y, w.z, w.w};
        for (int i = 0; i < 4; i++)
            for (int e = 0; e < 4; e++) v[16 * k + 4 * i + e] = (uint8_t)(u[i] >> (8 * e));
    }
}

/* Q4_K: piece s is sub-block s: the low (s even) or high (s odd) nibbles of qs[32 * (s / 2) + l]. */
template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q4_K>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)(c / 8) * sizeof(g4q_block_q4_K);
    const int s = c % 8;
    const float d = g4q_f16(g4q_u16(b)), min = g4q_f16(g4q_u16(b + 2));
    int sc, m;
    g4q_scale_min_k4(s, b + 4, &sc, &m);
    const float d1 = g4q_mul(d, g4q_int_to_float(sc)), m1 = g4q_mul(min, g4q_int_to_float(m));
    uint8_t v[32];
    g4q_bytes32(b + 16 + 32 * (s / 2), v);
    const int shift = 4 * (s % 2);
    for (int l = 0; l < 32; l++) out[l] = g4q_sub(g4q_mul(d1, g4q_int_to_float((v[l] >> shift) & 0xf)), m1);
}

/* Q5_K: as Q4_K, the fifth bit of element l of piece s in qh[l], bit s. */
template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q5_K>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)(c / 8) * sizeof(g4q_block_q5_K);
    const int s = c % 8;
    const float d = g4q_f16(g4q_u16(b)), min = g4q_f16(g4q_u16(b + 2));
    int sc, m;
    g4q_scale_min_k4(s, b + 4, &sc, &m);
    const float d1 = g4q_mul(d, g4q_int_to_float(sc)), m1 = g4q_mul(min, g4q_int_to_float(m));
    uint8_t v[32], h[32];
    g4q_bytes32(b + 48 + 32 * (s / 2), v);
    g4q_bytes32(b + 16, h);
    const int shift = 4 * (s % 2);
    for (int l = 0; l < 32; l++) {
        const int q = ((v[l] >> shift) & 0xf) + (((h[l] >> s) & 1) ? 16 : 0);
        out[l] = g4q_sub(g4q_mul(d1, g4q_int_to_float(q)), m1);
    }
}

/* Q6_K: piece s is elements 32 * (s % 4) + l of half s / 4 (128 elements, ql
 * from 64 * (s / 4), qh from 32 * (s / 4), scales from 8 * (s / 4)): ql[l] low
 * nibble (quarter 0), ql[l + 32] low (1), ql[l] high (2), ql[l + 32] high (3);
 * the top 2 bits at qh[l] >> 2 * quarter; scale 2 * quarter + l / 16. */
template <> __host__ __device__ inline void g4q_dequant_chunk<G4_TYPE_Q6_K>(const uint8_t *row, int c, float *out) {
    const uint8_t *b = row + (size_t)(c / 8) * sizeof(g4q_block_q6_K);
    const int s = c % 8, half = s / 4, quarter = s % 4;
    const float d = g4q_f16(g4q_u16(b + 208));
    const uint8_t *ql = b + 64 * half + 32 * (quarter % 2), *qh = b + 128 + 32 * half;
    const int8_t *sc = (const int8_t *)(b + 192 + 8 * half);
    const int lshift = 4 * (quarter / 2), hshift = 2 * quarter;
    for (int g = 0; g < 2; g++) {
        const float ds = g4q_mul(d, g4q_int_to_float(sc[2 * quarter + g]));
        uint8_t lv[16], hv[16];
        g4q_bytes16(ql + 16 * g, lv);
        g4q_bytes16(qh + 16 * g, hv);
        for (int l = 0; l < 16; l++) {
            const int q = (((lv[l] >> lshift) & 0xf) | ((hv[l] >> hshift) & 3) << 4) - 32;
            out[16 * g + l] = g4q_mul(ds, g4q_int_to_float(q));
        }
    }
}

/* ---- runtime checks ------------------------------------------------------------ */

/* The traits of a runtime type; false for a type the GPU matmuls do not take. */
struct g4q_info {
    int block, bytes, chunk, align;
};

static inline bool g4q_type_info(enum g4_type type, g4q_info *info) {
#define G4Q_INFO(T) *info = g4q_info{g4q_traits<T>::block, g4q_traits<T>::bytes, g4q_traits<T>::chunk, g4q_traits<T>::align}
    return G4Q_DISPATCH(type, G4Q_INFO);
#undef G4Q_INFO
}

/* Why the kernels cannot read matrix w (with experts expert_stride bytes apart,
 * 0 for one matrix), or NULL when they can: a supported type, 0 < n_in <=
 * G4K_MAX_ROW in whole chunks, rows long enough, and data, row_bytes and
 * expert_stride aligned as the type's loads need. */
static inline const char *g4q_matrix_error(const g4k_matrix *w, size_t expert_stride) {
    g4q_info info;
    if (!g4q_type_info(w->type, &info)) return "the GPU does not take this weight type";
    if (w->n_in < 1 || w->n_in > G4K_MAX_ROW) return "row length out of range (1 to 65536)";
    if (w->n_out < 0 || w->n_out > INT32_MAX) return "row count out of range";
    if (w->n_in % info.block != 0 || w->n_in % info.chunk != 0)
        return "row length is not a whole number of blocks (of 8 elements for float types)";
    if (w->row_bytes < (size_t)(w->n_in / info.block) * (size_t)info.bytes) return "row_bytes shorter than a row";
    if ((uintptr_t)w->data % (uintptr_t)info.align != 0 || w->row_bytes % (size_t)info.align != 0 ||
        expert_stride % (size_t)info.align != 0)
        return "weights misaligned for the type's loads (data, row and expert strides need 16 bytes for float "
               "types, Q4_K and Q5_K)";
    return NULL;
}

#endif
