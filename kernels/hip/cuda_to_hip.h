/* cuda_to_hip.h: the CUDA runtime names kernels/cuda uses, mapped to HIP's, so
 * that hipcc builds the same sources (runtime.cuh includes it with -DG4_HIP).
 * Only the names the sources use: one #define per name, grouped by file. */
#ifndef G4_CUDA_TO_HIP_H
#define G4_CUDA_TO_HIP_H

#include <hip/hip_runtime.h>

/* ---- matmul.cu, embed.cu (and what device.cuh declares) ------------------------
 * Each guarded, so that the same name mapped by another group stays one mapping. */
#ifndef cudaError_t
#define cudaError_t hipError_t
#endif
#ifndef cudaSuccess
#define cudaSuccess hipSuccess
#endif
#ifndef cudaStream_t
#define cudaStream_t hipStream_t
#endif
#ifndef cudaGetLastError
#define cudaGetLastError hipGetLastError
#endif
#ifndef cudaMalloc
#define cudaMalloc hipMalloc
#endif
#ifndef cudaFree
#define cudaFree hipFree
#endif
#ifndef __shfl_xor_sync
#define __shfl_xor_sync(mask, var, lane_mask, width) __shfl_xor((var), (lane_mask), (width))
#endif

#endif
