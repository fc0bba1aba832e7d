/* runtime.cuh: the GPU runtime the kernels are written against: CUDA, or HIP
 * through kernels/hip/cuda_to_hip.h when built with hipcc (-DG4_HIP=1). Kernels
 * use 32-lane warps everywhere (shuffles pass width 32), so the same code runs on
 * AMD's 64-lane wavefronts. */
#ifndef G4_CUDA_RUNTIME_CUH
#define G4_CUDA_RUNTIME_CUH

#ifdef G4_HIP
#include "hip/cuda_to_hip.h"
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#define G4G_WARP 32

#endif
