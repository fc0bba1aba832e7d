/* matmul.c: weight-matrix times activations on the CPU, for every weight type.
 * f32 weights go to OpenBLAS when it is built in; other types dequantize one
 * weight row at a time and reuse it for every token of the batch. */
#include "backend.h"
#include "model/quant.h"

#ifdef G4_HAVE_BLAS
#include <cblas.h>
#endif

static float dot(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void g4k_matmul(const g4k_matrix *w, const float *x, int n_tok, float *y) {
    const int64_t n_in = w->n_in, n_out = w->n_out;
    if (w->type == G4_TYPE_F32) {
#ifdef G4_HAVE_BLAS
        if (n_tok > 1 && w->row_bytes == (size_t)n_in * sizeof(float)) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tok, (int)n_out, (int)n_in,
                        1.0f, x, (int)n_in, w->data, (int)n_in, 0.0f, y, (int)n_out);
            return;
        }
#endif
        for (int64_t o = 0; o < n_out; o++) {
            const float *row = (const float *)((const char *)w->data + o * w->row_bytes);
            for (int t = 0; t < n_tok; t++) y[(size_t)t * n_out + o] = dot(row, x + (size_t)t * n_in, n_in);
        }
        return;
    }
    float row[G4K_MAX_ROW];
    for (int64_t o = 0; o < n_out; o++) {
        g4_dequantize_row(w->type, (const char *)w->data + o * w->row_bytes, row, n_in);
        for (int t = 0; t < n_tok; t++) y[(size_t)t * n_out + o] = dot(row, x + (size_t)t * n_in, n_in);
    }
}
