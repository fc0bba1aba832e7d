/* quant_host.cu: host-only check of kernels/cuda/quant.cuh (no GPU needed): for
 * every type the GPU matmuls take, random rows quantized with g4_quantize_row are
 * dequantized chunk by chunk with g4q_dequant_chunk on the host and compared bit
 * for bit with the engine's g4_dequantize_row; the chunk traits are checked
 * against g4_type_info. Prints PASS or the first mismatch of each type (FAIL);
 * exits non-zero on any failure. */
#include "cuda/quant.cuh"
extern "C" {
#include "model/quant.h" /* a C header without its own extern "C" */
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW 1024  /* elements per row: 4 K-quant super-blocks, 32 small blocks */
#define ROWS 24   /* random rows per type, each with a different spread */

/* xorshift64*: a fixed sequence, so that a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rng_uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* Row r: values of very different spreads and offsets (some rows all zero, some
 * with huge or tiny values, one with f16 subnormal scales), so that every scale
 * and minimum path of the quantizers is taken. */
static void fill_row(float *x, int r) {
    const double spread = r == 0 ? 0.0 : pow(10.0, (double)(r % 12) - 6.0);
    const double offset = r % 3 == 0 ? 0.0 : (r % 3 == 1 ? spread : -2.0 * spread);
    for (int i = 0; i < ROW; i++) x[i] = (float)(offset + spread * (2.0 * rng_uniform() - 1.0));
    if (r == 5) x[17] = 1000.0f * (float)spread; /* one outlier */
}

/* Returns 0 when the GPU dequantization of T matches the engine's for every row. */
template <int T> static int check_type(void) {
    typedef g4q_traits<T> tr;
    const g4_type_traits *info = g4_type_info(T);
    if (!info || info->block_size != tr::block || info->type_size != tr::bytes) {
        printf("FAIL %s: traits (block %d, bytes %d) differ from the engine's\n", info ? info->name : "?", tr::block,
               tr::bytes);
        return 1;
    }
    const size_t row_bytes = g4_row_size((enum g4_type)T, ROW);
    /* a 16-byte aligned buffer, as the device loads assume */
    uint8_t *q = (uint8_t *)aligned_alloc(16, (row_bytes + 15) / 16 * 16);
    float x[ROW], want[ROW], got[ROW];
    int bad = 0;
    for (int r = 0; r < ROWS && !bad; r++) {
        fill_row(x, r);
        if (g4_quantize_row((enum g4_type)T, x, q, ROW) != row_bytes) {
            printf("FAIL %s: g4_quantize_row wrote an unexpected size\n", info->name);
            bad = 1;
            break;
        }
        g4_dequantize_row((enum g4_type)T, q, want, ROW);
        memset(got, 0xff, sizeof got);
        for (int c = 0; c < ROW / tr::chunk; c++) g4q_dequant_chunk<T>(q, c, got + c * tr::chunk);
        for (int i = 0; i < ROW; i++) {
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                printf("FAIL %s: row %d element %d: %.9g (GPU code) vs %.9g (engine)\n", info->name, r, i,
                       (double)got[i], (double)want[i]);
                bad = 1;
                break;
            }
        }
    }
    free(q);
    if (!bad) printf("PASS %s (%d rows of %d)\n", info->name, ROWS, ROW);
    return bad;
}

/* Every f16 bit pattern through g4q_f16 against g4_f16_to_f32 (NaN bits included). */
static int check_f16_all(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        const float a = g4q_f16((uint16_t)h), b = g4_f16_to_f32((uint16_t)h);
        if (memcmp(&a, &b, sizeof a) != 0) {
            printf("FAIL f16 0x%04x: %.9g vs %.9g\n", h, (double)a, (double)b);
            return 1;
        }
    }
    printf("PASS f16 conversion (all 65536 values)\n");
    return 0;
}

int main(void) {
    int failures = check_f16_all();
    failures += check_type<G4_TYPE_F32>();
    failures += check_type<G4_TYPE_F16>();
    failures += check_type<G4_TYPE_BF16>();
    failures += check_type<G4_TYPE_Q4_0>();
    failures += check_type<G4_TYPE_Q4_1>();
    failures += check_type<G4_TYPE_Q5_0>();
    failures += check_type<G4_TYPE_Q5_1>();
    failures += check_type<G4_TYPE_Q8_0>();
    failures += check_type<G4_TYPE_Q2_K>();
    failures += check_type<G4_TYPE_Q3_K>();
    failures += check_type<G4_TYPE_Q4_K>();
    failures += check_type<G4_TYPE_Q5_K>();
    failures += check_type<G4_TYPE_Q6_K>();
    /* the runtime table agrees with the templates, and refuses what the GPU does not take */
    g4q_info info;
    if (g4q_type_info(G4_TYPE_Q8_K, &info) || g4q_type_info(G4_TYPE_Q8_0_R16, &info) ||
        !g4q_type_info(G4_TYPE_Q6_K, &info) || info.bytes != 210 || info.chunk != 32) {
        printf("FAIL g4q_type_info\n");
        failures++;
    } else {
        printf("PASS g4q_type_info\n");
    }
    printf("%s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
