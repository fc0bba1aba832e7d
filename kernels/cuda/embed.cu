/* embed.cu: token embedding on the device (g4g_embed): rows of a weight table of
 * any matmul type, dequantized as the CPU does (quant.cuh) and scaled. One thread
 * per chunk of a row (8 or 32 values); consecutive threads take consecutive chunks
 * of a row, so a row's bytes are read together. */
#include "device.cuh"
#include "quant.cuh"

#include <stdint.h>

#define EMBED_THREADS 256

/* out[t][i] = table[ids[t]][i] * scale for t < n; a row id outside [0, n_rows)
 * gives zeros (the caller checks ids). */
template <int T>
__global__ void embed_kernel(const uint8_t *table, size_t row_bytes, int n_rows, int n_in, const int32_t *ids, int n,
                             float scale, float *out) {
    constexpr int CH = g4q_traits<T>::chunk;
    const int per_row = n_in / CH;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * per_row) return;
    const int t = (int)(i / per_row), c = (int)(i % per_row);
    const int32_t id = ids[t];
    float v[CH];
    if (id >= 0 && id < n_rows) {
        g4q_dequant_chunk<T>(table + (size_t)id * row_bytes, c, v);
#pragma unroll
        for (int j = 0; j < CH; j++) v[j] = g4q_mul(v[j], scale);
    } else {
#pragma unroll
        for (int j = 0; j < CH; j++) v[j] = 0.0f;
    }
    float *dst = out + (size_t)t * (size_t)n_in + (size_t)c * CH;
#pragma unroll
    for (int j = 0; j < CH; j++) dst[j] = v[j];
}

template <int T>
static void launch_embed(g4g_device *dev, const g4k_matrix *table, const int32_t *ids, int n, float scale,
                         float *out) {
    const long long threads = (long long)n * (table->n_in / g4q_traits<T>::chunk);
    embed_kernel<T><<<g4g_blocks(threads, EMBED_THREADS), EMBED_THREADS, 0, dev->stream>>>(
        (const uint8_t *)table->data, table->row_bytes, (int)table->n_out, (int)table->n_in, ids, n, scale, out);
    G4G_LAUNCHED(dev, "embed");
}

void g4g_embed(g4g_device *dev, const g4k_matrix *table, const int32_t *ids, int n, float scale, float *out) {
    if (!dev || !table || n <= 0 || !g4g_use(dev)) return;
    const char *why = g4q_matrix_error(table, 0);
    if (why) {
        g4g_fail(dev, "embed: %s (type %d, %lld x %lld)", why, (int)table->type, (long long)table->n_out,
                 (long long)table->n_in);
        return;
    }
#define EMBED_CALL(T) launch_embed<T>(dev, table, ids, n, scale, out)
    G4Q_DISPATCH(table->type, EMBED_CALL);
#undef EMBED_CALL
}
