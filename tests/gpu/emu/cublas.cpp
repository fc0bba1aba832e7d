/* cublas.cpp: the emulated GPU's cuBLAS (cublas_v2.h): handles bound to a stream
 * and column-major GEMMs C = alpha op(A) op(B) + beta C as plain loops with f32
 * accumulation (each product added by an FMA, as on the GPU), queued on the
 * handle's stream. The arguments are checked as cuBLAS checks them (sizes and
 * leading dimensions; type combinations it supports), and the elements a call
 * reads and writes must lie inside device allocations, else the process aborts
 * naming the call: on a GPU that would be an illegal address or a silent misread
 * of a neighbouring buffer. alpha and beta are read at the call (host pointer
 * mode); beta = 0 does not read C. */
#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "emu_internal.h"

#include <math.h>
#include <string.h>

struct g4emu_blas {
    cudaStream_t stream;
};

namespace {

size_t type_bytes(cudaDataType t) {
    return t == CUDA_R_32F ? 4 : 2;
}

float f16_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t u;
    if (exp == 0x1f)
        u = sign | 0x7f800000u | (mant << 13);
    else if (exp == 0) {
        const float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    } else
        u = sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float element(const void *p, cudaDataType t, size_t i) {
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_16BF: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case CUDA_R_16F: return f16_to_float(((const uint16_t *)p)[i]);
    }
    return NAN;
}

/* Elements a column-major rows x cols matrix with leading dimension ld spans. */
size_t span(int rows, int cols, int ld) {
    return rows == 0 || cols == 0 ? 0 : (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
}

struct gemm_args {
    cublasOperation_t transa, transb;
    int m, n, k;
    float alpha, beta;
    const void *a;
    cudaDataType a_type;
    int lda;
    const void *b;
    cudaDataType b_type;
    int ldb;
    float *c;
    int ldc;
};

void run_gemm(const gemm_args &g) {
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) {
            float acc = 0.0f;
            for (int l = 0; l < g.k; l++) {
                const size_t ai = g.transa == CUBLAS_OP_N ? (size_t)l * g.lda + i : (size_t)i * g.lda + l;
                const size_t bi = g.transb == CUBLAS_OP_N ? (size_t)j * g.ldb + l : (size_t)l * g.ldb + j;
                acc = fmaf(element(g.a, g.a_type, ai), element(g.b, g.b_type, bi), acc);
            }
            float *c = g.c + (size_t)j * g.ldc + i;
            *c = g.beta == 0.0f ? g.alpha * acc : g.alpha * acc + g.beta * *c;
        }
}

cublasStatus_t gemm(cublasHandle_t h, const char *call, const gemm_args &g) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ok_ops = (g.transa == CUBLAS_OP_N || g.transa == CUBLAS_OP_T || g.transa == CUBLAS_OP_C) &&
                        (g.transb == CUBLAS_OP_N || g.transb == CUBLAS_OP_T || g.transb == CUBLAS_OP_C);
    const int a_rows = g.transa == CUBLAS_OP_N ? g.m : g.k, a_cols = g.transa == CUBLAS_OP_N ? g.k : g.m;
    const int b_rows = g.transb == CUBLAS_OP_N ? g.k : g.n, b_cols = g.transb == CUBLAS_OP_N ? g.n : g.k;
    if (!ok_ops || g.m < 0 || g.n < 0 || g.k < 0 || g.lda < (a_rows > 1 ? a_rows : 1) ||
        g.ldb < (b_rows > 1 ? b_rows : 1) || g.ldc < (g.m > 1 ? g.m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (g.m == 0 || g.n == 0) return CUBLAS_STATUS_SUCCESS;
    const size_t a_bytes = span(a_rows, a_cols, g.lda) * type_bytes(g.a_type);
    const size_t b_bytes = span(b_rows, b_cols, g.ldb) * type_bytes(g.b_type);
    const size_t c_bytes = span(g.m, g.n, g.ldc) * sizeof(float);
    if (a_bytes && !g4emu::is_device_range(g.a, a_bytes))
        g4emu::die("%s: A (%d x %d, lda %d) at %p is not inside one device allocation", call, a_rows, a_cols, g.lda, g.a);
    if (b_bytes && !g4emu::is_device_range(g.b, b_bytes))
        g4emu::die("%s: B (%d x %d, ldb %d) at %p is not inside one device allocation", call, b_rows, b_cols, g.ldb, g.b);
    if (!g4emu::is_device_range(g.c, c_bytes))
        g4emu::die("%s: C (%d x %d, ldc %d) at %p is not inside one device allocation", call, g.m, g.n, g.ldc,
                   (void *)g.c);
    const gemm_args copy = g;
    if (g4emu::enqueue(h->stream, [copy]() { run_gemm(copy); }) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

} // namespace

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new g4emu_blas{NULL};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown error";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float *alpha, const float *a, int lda, const float *b, int ldb,
                           const float *beta, float *c, int ldc) {
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    return gemm(handle, "cublasSgemm",
                gemm_args{transa, transb, m, n, k, *alpha, *beta, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, c, ldc});
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void *alpha, const void *a, cudaDataType a_type, int lda, const void *b,
                            cudaDataType b_type, int ldb, const void *beta, void *c, cudaDataType c_type, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    (void)algo;
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    /* f32 accumulation with f32 output takes A and B of one type: f32, f16 or bf16 */
    if (compute != CUBLAS_COMPUTE_32F || c_type != CUDA_R_32F || a_type != b_type ||
        (a_type != CUDA_R_32F && a_type != CUDA_R_16F && a_type != CUDA_R_16BF))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(handle, "cublasGemmEx",
                gemm_args{transa, transb, m, n, k, *(const float *)alpha, *(const float *)beta, a, a_type, lda, b,
                          b_type, ldb, (float *)c, ldc});
}
