/* matmul.c: weight-matrix times activations on the CPU, for every weight type.
 * f32 weight batches go to OpenBLAS when it is built in; otherwise the output
 * rows are split into chunks over the pool's threads, and each thread dequantizes
 * one weight row at a time and reuses it for every token of the batch. Every
 * output element is one dot product in one fixed order, whatever the split. */
#include "backend.h"
#include "pool.h"
#include "model/quant.h"

#ifdef G4_HAVE_BLAS
#include <cblas.h>
#endif

/* A task gets at least this many multiply-adds: smaller products stay on fewer threads. */
#define MIN_TASK_MACS (1 << 14)
/* Tasks per thread: a few, so that a thread held up elsewhere is made up for by the others. */
#define TASKS_PER_THREAD 4

static float dot(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y[t][o] for the rows o in [o0, o1) and every token t. */
static void matmul_rows(const g4k_matrix *w, const float *x, int n_tok, float *y, int64_t o0, int64_t o1) {
    const int64_t n_in = w->n_in, n_out = w->n_out;
    if (w->type == G4_TYPE_F32) {
        for (int64_t o = o0; o < o1; o++) {
            const float *row = (const float *)((const char *)w->data + o * w->row_bytes);
            for (int t = 0; t < n_tok; t++) y[(size_t)t * n_out + o] = dot(row, x + (size_t)t * n_in, n_in);
        }
        return;
    }
    float row[G4K_MAX_ROW];
    for (int64_t o = o0; o < o1; o++) {
        g4_dequantize_row(w->type, (const char *)w->data + o * w->row_bytes, row, n_in);
        for (int t = 0; t < n_tok; t++) y[(size_t)t * n_out + o] = dot(row, x + (size_t)t * n_in, n_in);
    }
}

typedef struct {
    const g4k_matrix *w;
    const float *x;
    int n_tok;
    float *y;
    int64_t rows;       /* output rows per task */
} matmul_job;

static void matmul_task(void *arg, int task, int thread) {
    const matmul_job *j = arg;
    int64_t o0 = (int64_t)task * j->rows, o1 = o0 + j->rows < j->w->n_out ? o0 + j->rows : j->w->n_out;
    matmul_rows(j->w, j->x, j->n_tok, j->y, o0, o1);
}

/* Output rows per task: about TASKS_PER_THREAD tasks per thread, each worth
 * MIN_TASK_MACS or more, in multiples of 16 rows (whole cache lines of y). */
static int64_t rows_per_task(const g4k_matrix *w, int n_tok, int n_threads) {
    int64_t tasks = (int64_t)n_threads * TASKS_PER_THREAD;
    int64_t rows = (w->n_out + tasks - 1) / tasks;
    int64_t min_rows = MIN_TASK_MACS / (w->n_in * n_tok) + 1;
    if (rows < min_rows) rows = min_rows;
    return (rows + 15) / 16 * 16;
}

void g4k_matmul(g4k_pool *pool, const g4k_matrix *w, const float *x, int n_tok, float *y) {
    if (w->n_out < 1 || n_tok < 1) return;
#ifdef G4_HAVE_BLAS
    if (w->type == G4_TYPE_F32 && n_tok > 1 && w->row_bytes == (size_t)w->n_in * sizeof(float)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_tok, (int)w->n_out, (int)w->n_in,
                    1.0f, x, (int)w->n_in, w->data, (int)w->n_in, 0.0f, y, (int)w->n_out);
        return;
    }
#endif
    matmul_job job = {.w = w, .x = x, .n_tok = n_tok, .y = y, .rows = rows_per_task(w, n_tok, g4k_pool_size(pool))};
    g4k_pool_run(pool, (int)((w->n_out + job.rows - 1) / job.rows), matmul_task, &job);
}
