/* gemm.h (internal to kernels/cpu): matrix-matrix products for batches of tokens. */
#ifndef G4K_CPU_GEMM_H
#define G4K_CPU_GEMM_H

#include "backend.h" /* g4k_matrix, g4k_pool */

#include <stdbool.h>
#include <stdint.h>

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok, like g4k_matmul (backend.h), with AMX-BF16 tiles:
 * weights dequantized to bf16 panel by panel as they are used (never a whole-matrix copy),
 * activations rounded to bf16 (round-to-nearest-even), f32 accumulation. With `split`
 * the activations are hi + lo, two bf16 each (x - hi - lo is 2^-16 of x or less), and
 * every tile product runs for both: twice the work, nearly f32 accuracy. Spread over the pool's threads;
 * every output element is computed in the same order whatever the thread count (bit-identical results for 1..N threads).
 * Returns false without writing y when it cannot: no AMX-BF16 on this CPU or the OS refuses the tile state,
 * w->type without a bf16 unpacker, n_in not a multiple of 32, or out of memory. The caller then uses another path. */
bool g4k_gemm_amx(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y, bool split);

/* True when this CPU and OS allow AMX-BF16 (asks the OS for the tile state once per process). */
bool g4k_amx_available(void);

/* ---- internal: weight rows to bf16 (gemm_unpack.c) ------------------------------------ */

/* Converts n elements (a whole number of the type's blocks, starting at a block boundary)
 * of a weight row to bf16: exactly g4_f32_to_bf16 of what g4_dequantize_row gives. */
typedef void (*g4k_bf16_unpacker)(const void *src, uint16_t *dst, int64_t n);

/* The unpacker for a weight type, or NULL when the type has none. The unpackers use
 * AVX-512 (F, BW, VL, BF16): call them only when g4k_amx_available() is true. */
g4k_bf16_unpacker g4k_bf16_unpacker_for(enum g4_type type);

/* Q8_0_R16 (16 rows interleaved, dot.h) has no row to unpack: this unpacks elements
 * [k0, k0 + nk) (multiples of 32) of the 16 rows of the group at `group` straight into
 * nk/32 B tiles (tile i at tiles + 512 i; tile row p holds, for each row r, the pair of
 * elements k0 + 32 i + 2p and + 1), with the bf16 values the Q8_0 unpacker gives for the
 * rows before repacking. Same CPU condition. */
void g4k_unpack_tiles_q8_0_r16(const void *group, int64_t k0, int nk, uint16_t *tiles);

/* dst[i] = g4_f32_to_bf16(src[i]) for i < n (n a multiple of 16); same CPU condition. */
void g4k_f32_to_bf16(const float *src, uint16_t *dst, int64_t n);

#endif
