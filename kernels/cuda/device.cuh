/* device.cuh: what the kernels of every .cu file share about a device: the
 * g4g_device object (stream, library handles, scratch, the first error) and
 * the error recording around launches. Internal to kernels/cuda. */
#ifndef G4_CUDA_DEVICE_CUH
#define G4_CUDA_DEVICE_CUH

#include "runtime.cuh"
#include "gpu.h"

#include <stddef.h>

struct g4g_device {
    int index;
    cudaStream_t stream;
#ifndef G4_HIP
    cublasHandle_t blas;            /* on the stream */
#endif
    char name[160];
    int sm_count, cc_major, cc_minor;
    size_t total_memory;
    double peak_bandwidth;          /* bytes/s, 0 when unknown */
    bool capturing;                 /* between g4g_graph_begin and g4g_graph_end */
    char error[512];                /* the first error, "" when none */
    /* Working memory of the matrix products (dequantized weight tiles), grown on
     * demand outside graph recordings; matmul.cu owns it. */
    void *gemm_scratch;
    size_t gemm_scratch_bytes;
};

/* Records the first error: "what: message". Later ones are dropped. */
void g4g_fail(g4g_device *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks a runtime call's result; records and returns false on failure. */
bool g4g_ok(g4g_device *dev, cudaError_t rc, const char *what);

/* Makes dev's GPU the calling thread's current one: every entry point that
 * launches, copies or allocates calls it first. */
static inline bool g4g_use(g4g_device *dev) {
    return g4g_ok(dev, cudaSetDevice(dev->index), "cudaSetDevice");
}

/* After a kernel launch: records a launch failure (bad configuration, no device). */
#define G4G_LAUNCHED(dev, what) g4g_ok((dev), cudaGetLastError(), (what))

/* Blocks of `threads` threads covering n items. */
static inline unsigned g4g_blocks(long long n, int threads) {
    return (unsigned)((n + threads - 1) / threads);
}

#endif
