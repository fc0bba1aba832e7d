/* repack.c: copies Q8_0 weight matrices into the Q8_0_R16 layout (dot.h,
 * g4k_block_q8_0x16) that the matrix-vector kernels read 16 rows at a time
 * with one vpdpbusd per 4 elements of all 16 rows (as llama.cpp's AMX build
 * packs its Q8_0 weights at load). */
#include "backend.h"
#include "cpu/dot.h"

#include <stdbool.h>
#include <string.h>

size_t g4k_repacked_size(const g4k_matrix *w) {
    const bool fits = w->type == G4_TYPE_Q8_0 && w->n_out > 0 && w->n_out % 16 == 0 && w->n_in > 0 &&
                      w->n_in % G4K_QK == 0 && w->row_bytes == (size_t)(w->n_in / G4K_QK) * sizeof(g4k_block_q8_0);
    return fits && g4k_dot_avx512(G4_TYPE_Q8_0_R16) ? (size_t)w->n_out * w->row_bytes : 0;
}

g4k_matrix g4k_repack(const g4k_matrix *w, void *dst) {
    const int64_t nb = w->n_in / G4K_QK;
    g4k_block_q8_0x16 *out = dst;
    for (int64_t group = 0; group < w->n_out / 16; group++) {
        for (int64_t b = 0; b < nb; b++, out++) {
            for (int r = 0; r < 16; r++) {
                const g4k_block_q8_0 *src =
                    (const g4k_block_q8_0 *)((const uint8_t *)w->data + (size_t)(16 * group + r) * w->row_bytes) + b;
                out->d[r] = src->d;
                for (int g = 0; g < 8; g++) {
                    uint32_t quads;
                    memcpy(&quads, src->qs + 4 * g, 4);
                    quads ^= 0x80808080u;
                    memcpy(out->qs + 64 * g + 4 * r, &quads, 4);
                }
            }
        }
    }
    return (g4k_matrix){.type = G4_TYPE_Q8_0_R16, .n_in = w->n_in, .n_out = w->n_out, .row_bytes = w->row_bytes, .data = dst};
}
