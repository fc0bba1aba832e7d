/* quant.h: element types and their block layouts (bit-compatible with ggml):
 * sizes, conversion of rows to f32 and back. The matmul kernels build on these. */
#ifndef G4_QUANT_H
#define G4_QUANT_H

#include "tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;   /* "F32", "BF16", "Q4_K", ... as ggml names them */
    int block_size;     /* elements per block (1 for float types) */
    int type_size;      /* bytes per block */
    bool quantized;
} g4_type_traits;

/* Traits of a type this engine can read, or NULL for an unknown/unsupported id. */
const g4_type_traits *g4_type_info(int type);

/* Type by ggml name ("q4_k", "Q4_K", "bf16", ...), or G4_TYPE_UNKNOWN. */
enum g4_type g4_type_from_name(const char *name);

/* Bytes of a row of n elements; 0 if n is not a whole number of blocks or the
 * type is unknown, or the size would overflow. */
size_t g4_row_size(enum g4_type type, int64_t n);

/* Converts n elements (a whole number of blocks) of src to f32. */
void g4_dequantize_row(enum g4_type type, const void *src, float *dst, int64_t n);

/* Encodes n f32 values (a whole number of blocks) as type (ggml's reference
 * quantizers); returns the bytes written. Used by the model generator and tests. */
size_t g4_quantize_row(enum g4_type type, const float *src, void *dst, int64_t n);

/* The row converters of one type (NULL for an unsupported type), for callers
 * that look them up once per tensor instead of once per row. */
typedef void (*g4_dequantize_fn)(const void *src, float *dst, int64_t n);
typedef void (*g4_quantize_fn)(const float *src, void *dst, int64_t n);
g4_dequantize_fn g4_dequantizer(enum g4_type type);
g4_quantize_fn g4_quantizer(enum g4_type type);

/* K-quants (quant_k.c): super-blocks of G4_QK_K elements. These take a whole
 * number of blocks; g4_dequantize_row and g4_quantize_row reach them by type. */
#define G4_QK_K 256
#define G4_Q2_K_SIZE 84
#define G4_Q3_K_SIZE 110
#define G4_Q4_K_SIZE 144
#define G4_Q5_K_SIZE 176
#define G4_Q6_K_SIZE 210
#define G4_Q8_K_SIZE 292
void g4_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void g4_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void g4_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void g4_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void g4_dequantize_row_q6_K(const void *src, float *dst, int64_t n);
void g4_dequantize_row_q8_K(const void *src, float *dst, int64_t n);
void g4_quantize_row_q2_K(const float *src, void *dst, int64_t n);
void g4_quantize_row_q3_K(const float *src, void *dst, int64_t n);
void g4_quantize_row_q4_K(const float *src, void *dst, int64_t n);
void g4_quantize_row_q5_K(const float *src, void *dst, int64_t n);
void g4_quantize_row_q6_K(const float *src, void *dst, int64_t n);
void g4_quantize_row_q8_K(const float *src, void *dst, int64_t n);

/* Scalar conversions. */
float g4_f16_to_f32(uint16_t h);
uint16_t g4_f32_to_f16(float f);     /* round to nearest even */
float g4_bf16_to_f32(uint16_t b);
uint16_t g4_f32_to_bf16(float f);    /* round to nearest even, NaN kept */

#endif
