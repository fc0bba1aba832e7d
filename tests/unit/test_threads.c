/* test_threads.c: the CPU thread pool (kernels/cpu/pool.c) and the ops that run
 * on it. Every task runs exactly once for any mix of tasks and threads (more
 * threads than tasks included); no wake-up is lost over 10k jobs that need every
 * thread, with pauses long enough for the workers, or the caller, to fall asleep;
 * matmul on every weight type, attention, and the logits of every fixture model
 * are the same to the bit on 1, 2, 3 and 4 threads. */
#include "testutil.h"
#include "modelutil.h"
#include "gemma4.h"
#include "cpu/pool.h"
#include "model/quant.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the pool ------------------------------------------------------------------- */

typedef struct {
    atomic_int *count;  /* [n_tasks] times each task ran */
    int n_threads;
    atomic_int bad_thread;
} count_job;

static void count_task(void *arg, int task, int thread) {
    count_job *j = arg;
    atomic_fetch_add(&j->count[task], 1);
    if (thread < 0 || thread >= j->n_threads) atomic_store(&j->bad_thread, 1);
}

static void check_each_once(g4k_pool *pool, int n_tasks, atomic_int *count) {
    count_job job = {.count = count, .n_threads = g4k_pool_size(pool)};
    atomic_init(&job.bad_thread, 0);
    for (int i = 0; i < n_tasks; i++) atomic_init(&count[i], 0);
    g4k_pool_run(pool, n_tasks, count_task, &job);
    for (int i = 0; i < n_tasks; i++)
        if (atomic_load(&count[i]) != 1)
            fail_msg("%d threads, %d tasks: task %d ran %d times", job.n_threads, n_tasks, i, atomic_load(&count[i]));
    assert_int_equal(atomic_load(&job.bad_thread), 0);
}

static void test_every_task_once(void **state) {
    (void)state;
    static const int threads[] = {1, 2, 3, 4, 5, 8, 16};
    static const int tasks[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 100, 1000};
    atomic_int *count = malloc(1000 * sizeof *count);
    assert_non_null(count);
    for (size_t n = 0; n < sizeof tasks / sizeof *tasks; n++) check_each_once(NULL, tasks[n], count);
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        g4k_pool *pool = g4k_pool_new(threads[t]);
        assert_non_null(pool);
        assert_int_equal(g4k_pool_size(pool), threads[t]);
        for (int rep = 0; rep < 3; rep++)
            for (size_t n = 0; n < sizeof tasks / sizeof *tasks; n++) check_each_once(pool, tasks[n], count);
        g4k_pool_free(pool);
    }
    free(count);
}

static void test_sizes(void **state) {
    (void)state;
    assert_int_equal(g4k_pool_size(NULL), 1);
    g4k_pool_free(NULL);
    g4k_pool *pool = g4k_pool_new(0); /* counts as 1 */
    assert_non_null(pool);
    assert_int_equal(g4k_pool_size(pool), 1);
    g4k_pool_free(pool);
}

static void add_task(void *arg, int task, int thread) {
    atomic_fetch_add((atomic_long *)arg, task + 1);
}

/* Tiny jobs back to back, with pauses now and then around the spin time, so
 * that jobs are posted to workers that spin, that sleep, and that are just
 * going to sleep, or still inside the last job. */
static void test_many_tiny_runs(void **state) {
    (void)state;
    for (int threads = 2; threads <= 4; threads++) {
        g4k_pool *pool = g4k_pool_new(threads);
        assert_non_null(pool);
        atomic_long sum;
        atomic_init(&sum, 0);
        long expect = 0;
        for (int r = 0; r < 10000; r++) {
            int n = 2 + r % 7;
            g4k_pool_run(pool, n, add_task, &sum);
            expect += (long)n * (n + 1) / 2;
            if (r % 97 == 0) usleep((useconds_t)(50 + r % 400)); /* 50-450 µs */
        }
        assert_int_equal(atomic_load(&sum), expect);
        g4k_pool_free(pool);
    }
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A job of one task per thread, each waiting for all to arrive: it completes
 * only if every worker wakes up and takes part. */
typedef struct {
    atomic_int arrived;
    int n;
    atomic_int timed_out;
} meet_job;

static void meet_task(void *arg, int task, int thread) {
    meet_job *j = arg;
    atomic_fetch_add(&j->arrived, 1);
    double start = seconds();
    while (atomic_load(&j->arrived) < j->n) {
        sched_yield();
        if (seconds() - start > 10.0) { atomic_store(&j->timed_out, 1); return; }
    }
}

/* 10k jobs that need every worker, some posted to spinning workers and some,
 * after a pause longer than the spin, to sleeping ones: a lost wake-up times out. */
static void test_no_lost_wakeups(void **state) {
    (void)state;
    for (int threads = 2; threads <= 4; threads++) {
        g4k_pool *pool = g4k_pool_new(threads);
        assert_non_null(pool);
        int runs = threads == 2 ? 10000 : 2000;
        for (int r = 0; r < runs; r++) {
            meet_job job = {.n = threads};
            atomic_init(&job.arrived, 0);
            atomic_init(&job.timed_out, 0);
            g4k_pool_run(pool, threads, meet_task, &job);
            if (atomic_load(&job.timed_out)) fail_msg("%d threads, run %d: a worker never came", threads, r);
            if (r % 50 == 0) usleep((useconds_t)(100 + r % 500)); /* 100-600 µs */
        }
        g4k_pool_free(pool);
    }
}

/* Workers slower than the caller's spin: the caller sleeps and is woken. */
static void slow_worker_task(void *arg, int task, int thread) {
    if (thread != 0) usleep(400);
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void test_caller_waits(void **state) {
    (void)state;
    g4k_pool *pool = g4k_pool_new(3);
    assert_non_null(pool);
    atomic_long done;
    atomic_init(&done, 0);
    for (int r = 0; r < 200; r++) g4k_pool_run(pool, 4, slow_worker_task, &done);
    assert_int_equal(atomic_load(&done), 800);
    g4k_pool_free(pool);
}

/* Tasks long enough that the workers must take some: more than one thread works. */
typedef struct {
    atomic_int used[4];
} spread_job;

static void spread_task(void *arg, int task, int thread) {
    spread_job *j = arg;
    atomic_store(&j->used[thread], 1);
    usleep(2000);
}

static void test_workers_take_part(void **state) {
    (void)state;
    g4k_pool *pool = g4k_pool_new(4);
    assert_non_null(pool);
    spread_job job;
    for (int i = 0; i < 4; i++) atomic_init(&job.used[i], 0);
    g4k_pool_run(pool, 16, spread_task, &job);
    int used = 0;
    for (int i = 0; i < 4; i++) used += atomic_load(&job.used[i]);
    assert_true(used >= 2);
    g4k_pool_free(pool);
}

/* Pools started and stopped, idle, busy and just after a job. */
static void test_start_stop(void **state) {
    (void)state;
    atomic_long sum;
    atomic_init(&sum, 0);
    for (int r = 0; r < 100; r++) {
        g4k_pool *pool = g4k_pool_new(1 + r % 5);
        assert_non_null(pool);
        for (int k = 0; k < r % 3; k++) g4k_pool_run(pool, 8, add_task, &sum);
        if (r % 10 == 0) usleep(500);
        g4k_pool_free(pool);
    }
}

/* ---- ops on the pool: the same bits on any number of threads ------------------- */

static float frand(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return (float)(*s >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static void test_matmul_any_threads(void **state) {
    (void)state;
    static const enum g4_type types[] = {G4_TYPE_F32, G4_TYPE_F16, G4_TYPE_BF16, G4_TYPE_Q8_0,
                                         G4_TYPE_Q4_0, G4_TYPE_Q4_K, G4_TYPE_Q6_K};
    static const int outs[] = {1, 17, 333, 1000};
    static const int toks[] = {1, 2, 5};
    const int n_in = 512;
    uint32_t seed = 7;
    float *wf = malloc((size_t)1000 * n_in * sizeof *wf), *x = malloc((size_t)5 * n_in * sizeof *x);
    float *ref = malloc((size_t)5 * 1000 * sizeof *ref), *y = malloc((size_t)5 * 1000 * sizeof *y);
    assert_true(wf && x && ref && y);
    for (int i = 0; i < 1000 * n_in; i++) wf[i] = frand(&seed);
    for (int i = 0; i < 5 * n_in; i++) x[i] = frand(&seed);
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        size_t row = g4_row_size(types[ti], n_in);
        char *data = malloc(row * 1000);
        assert_non_null(data);
        for (int o = 0; o < 1000; o++) g4_quantize_row(types[ti], wf + (size_t)o * n_in, data + o * row, n_in);
        for (size_t oi = 0; oi < sizeof outs / sizeof *outs; oi++)
            for (size_t k = 0; k < sizeof toks / sizeof *toks; k++) {
                g4k_matrix w = {.type = types[ti], .n_in = n_in, .n_out = outs[oi], .row_bytes = row, .data = data};
                size_t n_y = (size_t)toks[k] * outs[oi];
                for (int threads = 1; threads <= 4; threads++) {
                    g4k_pool *pool = g4k_pool_new(threads);
                    assert_non_null(pool);
                    memset(y, 0xff, n_y * sizeof *y); /* NaNs where nothing is written */
                    g4k_matmul(pool, &w, x, toks[k], threads == 1 ? ref : y);
                    if (threads > 1 && memcmp(y, ref, n_y * sizeof *y))
                        fail_msg("%s [%d x %d] x %d tokens: %d threads differ from 1", g4_type_info(types[ti])->name,
                                 outs[oi], n_in, toks[k], threads);
                    g4k_pool_free(pool);
                }
                for (size_t i = 0; i < n_y; i++) assert_false(isnan(ref[i]));
            }
        free(data);
    }
    free(wf), free(x), free(ref), free(y);
}

static void test_attention_any_threads(void **state) {
    (void)state;
    enum { NQ = 8, NKV = 2, D = 32, RING = 64, NT = 6 };
    uint32_t seed = 11;
    float *k = malloc(RING * NKV * D * sizeof *k), *v = malloc(RING * NKV * D * sizeof *v);
    float *q = malloc(NT * NQ * D * sizeof *q), *ref = malloc(NT * NQ * D * sizeof *ref);
    float *out = malloc(NT * NQ * D * sizeof *out);
    const size_t scratch_len = g4k_attention_scratch_size(4, NT, NQ, D, RING);
    float *scratch = malloc(scratch_len * sizeof *scratch);
    assert_true(k && v && q && ref && out && scratch);
    for (int i = 0; i < RING * NKV * D; i++) k[i] = frand(&seed), v[i] = frand(&seed);
    for (int i = 0; i < NT * NQ * D; i++) q[i] = frand(&seed);
    /* spans from one key to the whole ring, some wrapping around it */
    g4k_kv_span span[NT] = {{k, v, 0, 0}, {k, v, 0, 40}, {k, v, 30, 93}, {k, v, 60, 70}, {k, v, 1, 64}, {k, v, 100, 120}};
    for (int threads = 1; threads <= 4; threads++) {
        g4k_pool *pool = g4k_pool_new(threads);
        assert_non_null(pool);
        g4k_attention(pool, threads == 1 ? ref : out, q, NT, NQ, NKV, D, span, RING, scratch, scratch_len);
        if (threads > 1) assert_memory_equal(out, ref, NT * NQ * D * sizeof *out);
        g4k_pool_free(pool);
    }
    free(k), free(v), free(q), free(ref), free(out), free(scratch);
}

/* Decoding: one token's heads are one tile, spread over the threads by key blocks,
 * rows and output elements; every thread count, and the token alone or in a batch,
 * give the same bits. */
static void test_attention_decode_split(void **state) {
    (void)state;
    enum { NQ = 8, NKV = 1, D = 80, RING = 400, NT = 5 };
    uint32_t seed = 12;
    float *k = malloc(RING * NKV * D * sizeof *k), *v = malloc(RING * NKV * D * sizeof *v);
    float *q = malloc(NT * NQ * D * sizeof *q), *batch = malloc(NT * NQ * D * sizeof *batch);
    float *out = malloc(NQ * D * sizeof *out);
    const size_t scratch_len = g4k_attention_scratch_size(4, NT, NQ, D, RING);
    float *scratch = malloc(scratch_len * sizeof *scratch);
    assert_true(k && v && q && batch && out && scratch);
    for (int i = 0; i < RING * NKV * D; i++) k[i] = frand(&seed), v[i] = frand(&seed);
    for (int i = 0; i < NT * NQ * D; i++) q[i] = frand(&seed);
    g4k_kv_span span[NT] = {{k, v, 0, 399}, {k, v, 100, 450}, {k, v, 0, 130}, {k, v, 7, 7}, {k, v, 390, 600}};
    g4k_attention(NULL, batch, q, NT, NQ, NKV, D, span, RING, scratch, scratch_len);
    for (int threads = 1; threads <= 4; threads++) {
        g4k_pool *pool = g4k_pool_new(threads);
        assert_non_null(pool);
        for (int t = 0; t < NT; t++) {
            memset(out, 0xff, NQ * D * sizeof *out);
            g4k_attention(pool, out, q + t * NQ * D, 1, NQ, NKV, D, &span[t], RING, scratch, scratch_len);
            if (memcmp(out, batch + t * NQ * D, NQ * D * sizeof *out))
                fail_msg("token %d alone on %d threads differs from the batch", t, threads);
        }
        g4k_pool_free(pool);
    }
    free(k), free(v), free(q), free(batch), free(out), free(scratch);
}

/* ---- whole models ------------------------------------------------------------- */

static const char *fixtures[] = {"dense-tiny", "ple-kvshare", "keqv", "moe", "dense-bf16"};

static void test_model_logits_any_threads(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
        g4_model *m = g4_model_load(tu_path("%s/fixtures/models/%s/model.gguf", shared, fixtures[f]));
        if (!m) fail_msg("%s: %s", fixtures[f], g4_last_error());
        mu_golden *gold = malloc(sizeof *gold);
        assert_non_null(gold);
        assert_int_equal(mu_read_golden(tu_path("%s/fixtures/models/%s/golden.json", shared, fixtures[f]), gold), 0);
        int n = gold->n_tokens;
        int chunks[] = {0, 1, 7}; /* the prompt at once, token by token, and in pieces */
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            float *ref = mu_eval_threads(m, gold->tokens, n, chunks[c], 0, 1);
            assert_non_null(ref);
            mu_split threads[] = {{chunks[c], 0, 2}, {chunks[c], 0, 3}, {chunks[c], 0, 4}};
            double d;
            int bad = mu_check_splits(m, gold->tokens, n, ref, threads, 3, 0, &d); /* the same bits */
            if (bad >= 0)
                fail_msg("%s, chunk %d: %d threads differ from 1 by %g", fixtures[f], chunks[c],
                         threads[bad].threads, d);
            free(ref);
        }
        free(gold);
        g4_model_free(m);
    }
}

static void test_context_threads_param(void **state) {
    (void)state;
    const char *shared = tu_shared();
    if (!shared) { skip(); return; }
    g4_model *m = g4_model_load(tu_path("%s/fixtures/models/dense-tiny/model.gguf", shared));
    assert_non_null(m);
    g4_context_params p = g4_context_default_params();
    assert_int_equal(p.n_threads, 0);
    p.n_ctx = 16;
    p.n_threads = -1;
    assert_null(g4_context_new(m, &p));
    assert_non_null(strstr(g4_last_error(), "n_threads"));
    p.n_threads = 3;
    g4_context *ctx = g4_context_new(m, &p);
    assert_non_null(ctx);
    int32_t ids[4] = {2, 10, 11, 12};
    g4_batch b = {.n_tokens = 4, .token = ids};
    assert_int_equal(g4_decode(ctx, &b), 0);
    g4_context_free(ctx);
    g4_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_many_tiny_runs),
        cmocka_unit_test(test_no_lost_wakeups),
        cmocka_unit_test(test_caller_waits),
        cmocka_unit_test(test_workers_take_part),
        cmocka_unit_test(test_start_stop),
        cmocka_unit_test(test_matmul_any_threads),
        cmocka_unit_test(test_attention_any_threads),
        cmocka_unit_test(test_attention_decode_split),
        cmocka_unit_test(test_model_logits_any_threads),
        cmocka_unit_test(test_context_threads_param),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
