/* matmul.c: weight-matrix times activations on the CPU, for every weight type.
 * f32 weight batches go to OpenBLAS when it is built in. Otherwise the tokens'
 * activations are converted once to the type the weight type's dot kernel pairs
 * with (dot.h: Q8_0, Q8_1 or Q8_K blocks, as llama.cpp does), the output rows are
 * split into chunks over the pool's threads, and each row is dotted with every
 * token. Every output element is one dot product in one fixed order, whatever
 * the split. */
#include "backend.h"
#include "pool.h"
#include "dot.h"
#include "gemm.h"
#include "model/quant.h"

#ifdef G4_HAVE_BLAS
#include <cblas.h>
#endif

/* A task gets at least this many multiply-adds: smaller products stay on fewer threads. */
#define MIN_TASK_MACS (1 << 14)
/* Batches of this many tokens or more go to the AMX tiles (gemm.h) where the CPU
 * has them: unpacking the weights to bf16 costs about as much as 2 to 5 tokens'
 * dot products. BF16 weights are exact there, and their activations go split
 * (hi + lo), so that BF16 models keep f32 accuracy as in their dot products; F32
 * and F16 weights stay on the exact paths, as bf16 would round them. */
#define AMX_MIN_TOKENS 8
/* Kernels that take several tokens per pass over the weights (dot_rows_tokens)
 * stay ahead of the tiles up to more tokens: a decoding step of many sequences
 * then costs about one weight stream, with no unpacking. */
#define AMX_MIN_TOKENS_MULTI 32
/* The pool scratch slot of the converted activations. */
#define ACT_SLOT 0
/* Bytes of the longest converted activation row (G4K_MAX_ROW floats as F32). */
#define ACT_ROW_MAX (G4K_MAX_ROW * sizeof(float))
/* Tasks per thread: a few, so that a thread held up elsewhere is made up for by the others. */
#define TASKS_PER_THREAD 4

static float dot(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y[t][o] for the rows o in [o0, o1) and every token t: f32 weights. */
static void matmul_rows_f32(const g4k_matrix *w, const float *x, int n_tok, float *y, int64_t o0, int64_t o1) {
    const int64_t n_in = w->n_in, n_out = w->n_out;
    for (int64_t o = o0; o < o1; o++) {
        const float *row = (const float *)((const char *)w->data + o * w->row_bytes);
        for (int t = 0; t < n_tok; t++) y[(size_t)t * n_out + o] = dot(row, x + (size_t)t * n_in, n_in);
    }
}

/* The same for other weight types: the rows against each token's converted
 * activation row (act: n_tok rows of act_bytes). */
static void matmul_rows_kernel(const g4k_matrix *w, const g4k_dot_kernel *k, const char *act, size_t act_bytes,
                               int n_tok, float *y, int64_t o0, int64_t o1) {
    const void *rows = (const char *)w->data + o0 * w->row_bytes;
    if (k->dot_rows_tokens && n_tok > 1) { /* the weights read once for every token */
        k->dot_rows_tokens(rows, w->row_bytes, (int)(o1 - o0), act, act_bytes, n_tok, w->n_in, y + o0, (size_t)w->n_out);
        return;
    }
    for (int t = 0; t < n_tok; t++)
        k->dot_rows(rows, w->row_bytes, (int)(o1 - o0), act + (size_t)t * act_bytes, w->n_in, y + (size_t)t * w->n_out + o0);
}

typedef struct {
    const g4k_matrix *w;
    const float *x;
    const g4k_dot_kernel *kernel; /* NULL for f32 weights */
    const char *act;              /* x converted for the kernel: n_tok rows of act_bytes */
    size_t act_bytes;
    int n_tok;
    float *y;
    int64_t rows;                 /* output rows per task */
} matmul_job;

static void matmul_task(void *arg, int task, int thread) {
    (void)thread;
    const matmul_job *j = arg;
    int64_t o0 = (int64_t)task * j->rows, o1 = o0 + j->rows < j->w->n_out ? o0 + j->rows : j->w->n_out;
    if (j->kernel)
        matmul_rows_kernel(j->w, j->kernel, j->act, j->act_bytes, j->n_tok, j->y, o0, o1);
    else
        matmul_rows_f32(j->w, j->x, j->n_tok, j->y, o0, o1);
}

typedef struct {
    const g4k_dot_kernel *kernel;
    const float *x;
    int64_t n_in;
    char *act;
    size_t act_bytes;
} convert_job;

static void convert_task(void *arg, int task, int thread) {
    (void)thread;
    const convert_job *j = arg;
    j->kernel->quantize_act(j->x + (size_t)task * j->n_in, j->act + (size_t)task * j->act_bytes, j->n_in);
}

/* Output rows per task: about TASKS_PER_THREAD tasks per thread, each worth
 * MIN_TASK_MACS or more, in multiples of 16 rows (whole cache lines of y, and
 * whole groups of the 16-row interleaved types). */
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
    const g4k_dot_kernel *kernel = w->type != G4_TYPE_F32 ? g4k_dot_for(w->type) : NULL;
    const int amx_min = kernel && kernel->dot_rows_tokens ? AMX_MIN_TOKENS_MULTI : AMX_MIN_TOKENS;
    if (n_tok >= amx_min && w->type != G4_TYPE_F32 && w->type != G4_TYPE_F16 &&
        g4k_gemm_amx(pool, w, x, n_tok, y, w->type == G4_TYPE_BF16))
        return;
    matmul_job job = {.w = w, .x = x, .n_tok = n_tok, .y = y, .rows = rows_per_task(w, n_tok, g4k_pool_size(pool))};
    if (w->type != G4_TYPE_F32) {
        /* the activations in the kernel's type, once per token (not once per row) */
        job.kernel = kernel;
        job.act_bytes = job.kernel->act_row_size(w->n_in);
        char *act = g4k_pool_scratch(pool, ACT_SLOT, job.act_bytes * (size_t)n_tok);
        if (!act) { /* out of memory: one token at a time, its row on the stack */
            char row[ACT_ROW_MAX];
            job.act = row;
            job.n_tok = 1;
            for (int t = 0; t < n_tok; t++, job.y += w->n_out) {
                job.kernel->quantize_act(x + (size_t)t * w->n_in, row, w->n_in);
                g4k_pool_run(pool, (int)((w->n_out + job.rows - 1) / job.rows), matmul_task, &job);
            }
            return;
        }
        convert_job conv = {.kernel = job.kernel, .x = x, .n_in = w->n_in, .act = act, .act_bytes = job.act_bytes};
        g4k_pool_run(pool, n_tok, convert_task, &conv);
        job.act = act;
    }
    g4k_pool_run(pool, (int)((w->n_out + job.rows - 1) / job.rows), matmul_task, &job);
}
