/* cuda_bf16.h (emulated GPU): the bfloat16 storage type and CUDA's conversions:
 * float to bf16 rounds to nearest even (NaN becomes the canonical 0x7fff), bf16 to
 * float is exact. */
#ifndef G4_GPU_EMU_CUDA_BF16_H
#define G4_GPU_EMU_CUDA_BF16_H

#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    __nv_bfloat16 b;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        b.bits = 0x7fff;
        return b;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    b.bits = (uint16_t)(u >> 16);
    return b;
}

inline float __bfloat162float(__nv_bfloat16 b) {
    const uint32_t u = (uint32_t)b.bits << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
