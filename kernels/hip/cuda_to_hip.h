/* cuda_to_hip.h: builds kernels/cuda with hipcc. Maps each cuda* name the
 * sources use to its hip* twin (only those: a name missing here fails the HIP
 * build, which is how a new one gets noticed), and the CUDA 9+ *_sync warp
 * shuffles to HIP's maskless ones. Shuffles always pass width 32, so a 64-lane
 * AMD wavefront behaves as two 32-lane warps. Included by kernels/cuda/runtime.cuh
 * when G4_HIP is defined; there is no cuBLAS on HIP. */
#ifndef G4_HIP_CUDA_TO_HIP_H
#define G4_HIP_CUDA_TO_HIP_H

#include <hip/hip_runtime.h>

/* ---- errors ---- */
#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaGetErrorString hipGetErrorString
#define cudaGetLastError hipGetLastError

/* ---- devices ---- */
#define cudaDeviceProp hipDeviceProp_t
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaSetDevice hipSetDevice
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaDeviceGetAttribute hipDeviceGetAttribute
#define cudaDevAttrMemoryClockRate hipDeviceAttributeMemoryClockRate
#define cudaDevAttrGlobalMemoryBusWidth hipDeviceAttributeMemoryBusWidth
#define cudaMemGetInfo hipMemGetInfo

/* ---- streams ---- */
#define cudaStream_t hipStream_t
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamDestroy hipStreamDestroy
#define cudaStreamSynchronize hipStreamSynchronize

/* ---- memory ---- */
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMallocHost hipHostMalloc
#define cudaFreeHost hipHostFree
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice

/* ---- graphs ---- */
#define cudaGraph_t hipGraph_t
#define cudaGraphExec_t hipGraphExec_t
#define cudaStreamBeginCapture hipStreamBeginCapture
#define cudaStreamEndCapture hipStreamEndCapture
#define cudaStreamCaptureModeThreadLocal hipStreamCaptureModeThreadLocal
#define cudaGraphInstantiateWithFlags hipGraphInstantiateWithFlags
#define cudaGraphLaunch hipGraphLaunch
#define cudaGraphExecDestroy hipGraphExecDestroy
#define cudaGraphDestroy hipGraphDestroy

/* ---- warp shuffles (the mask is implied: every lane of the warp takes part) ---- */
#define __shfl_xor_sync(mask, var, lane_mask, width) __shfl_xor((var), (lane_mask), (width))

#endif
