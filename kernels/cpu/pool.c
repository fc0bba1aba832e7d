/* pool.c: g4k_pool, the CPU backend's persistent worker threads, and
 * g4k_pool_run, the parallel-for the ops use.
 *
 * One atomic word, `state`, holds the job number, whether the job is closed, and
 * how many workers are inside it. The caller writes a job and opens it with a new
 * number; workers that see it enter (unless it was closed meanwhile), claim tasks
 * from an atomic counter until none are left, and leave. The caller claims tasks
 * too, then waits until no worker is inside and closes the job. A worker that
 * wakes late finds the job closed and never touches it, so the caller waits only
 * for workers that took part: a descheduled or sleeping worker costs nothing.
 *
 * Between jobs a thread spins on `state` for up to SPIN_NS (the gaps between the
 * ops of one token are shorter, so a token's jobs find the workers awake),
 * yielding its core every few microseconds in case another thread needs it, and
 * then sleeps on a condition variable. A sleeper announces itself (n_asleep,
 * caller_asleep) before its last look at `state`, and the other side looks at the
 * announcement after changing `state` (all sequentially consistent), so no
 * wake-up is lost and none is paid for while everyone is awake. No global state. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifdef G4_HAVE_BLAS
#include <cblas.h>
#endif

#define WORKER_STACK (2u << 20) /* the ops keep up to a matrix row on the stack (G4K_MAX_ROW floats = 256 KiB) */
#define SPIN_NS 200000          /* how long an idle thread spins before it sleeps */

typedef struct {
    void *data;
    size_t bytes;
} g4k_scratch;

/* state: job number << 32 | CLOSED | workers inside */
#define CLOSED ((uint64_t)1 << 31)
#define INSIDE (CLOSED - 1)
#define JOB(s) ((uint32_t)((s) >> 32))

typedef struct {
    g4k_pool *pool;
    int index;                  /* 1 .. n_threads - 1 (the caller is thread 0) */
    pthread_t tid;
} worker;

struct g4k_pool {
    int n_threads;              /* the caller and the workers */
    int n_started;              /* workers running */
    worker *workers;            /* [n_threads - 1] */

    /* the job: written by the caller while it is closed, read by workers inside it */
    void (*fn)(void *arg, int task, int thread);
    void *arg;
    int n_tasks;
    atomic_int next;            /* the next unclaimed task */
    _Atomic uint64_t state;     /* job number, CLOSED, workers inside */
    atomic_bool stop;

    pthread_mutex_t lock;       /* guards the sleeps below */
    pthread_cond_t wake;        /* workers sleep here for the next job */
    pthread_cond_t done;        /* the caller sleeps here for the workers to leave */
    atomic_int n_asleep;        /* workers waiting on `wake` */
    atomic_bool caller_asleep;  /* the caller is waiting on `done` */

    g4k_scratch scratch[G4K_POOL_SLOTS];
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One step of a bounded spin: false once about SPIN_NS have passed since the
 * first step. Every 64 steps it reads the clock and yields the core. */
static bool spin(unsigned *steps, int64_t *start) {
    cpu_relax();
    if (++*steps % 64) return true;
    sched_yield();
    int64_t t = now_ns();
    if (*steps == 64) *start = t;
    return t - *start < SPIN_NS;
}

/* ---- workers ------------------------------------------------------------------- */

/* Waits for a job numbered other than `seen`; returns the state that shows it. */
static uint64_t wait_for_job(g4k_pool *pool, uint32_t seen) {
    uint64_t s;
    unsigned steps = 0;
    int64_t start = 0;
    do {
        s = atomic_load_explicit(&pool->state, memory_order_acquire);
        if (JOB(s) != seen) return s;
    } while (spin(&steps, &start));
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->n_asleep, 1);
    while (JOB(s = atomic_load(&pool->state)) == seen) pthread_cond_wait(&pool->wake, &pool->lock);
    atomic_fetch_sub(&pool->n_asleep, 1);
    pthread_mutex_unlock(&pool->lock);
    return s;
}

static void run_tasks(g4k_pool *pool, int thread) {
    int task;
    while ((task = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed)) < pool->n_tasks)
        pool->fn(pool->arg, task, thread);
}

/* Enters job `job` unless it is closed or gone; true if it did. */
static bool enter(g4k_pool *pool, uint64_t s, uint32_t job) {
    while (JOB(s) == job && !(s & CLOSED))
        if (atomic_compare_exchange_weak(&pool->state, &s, s + 1)) return true;
    return false;
}

/* Leaves the job; the last one out wakes the caller if it sleeps. */
static void leave(g4k_pool *pool) {
    uint64_t s = atomic_fetch_sub(&pool->state, 1) - 1;
    if ((s & INSIDE) == 0 && atomic_load(&pool->caller_asleep)) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    g4k_pool *pool = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint64_t s = wait_for_job(pool, seen);
        if (atomic_load(&pool->stop)) return NULL;
        seen = JOB(s);
        if (enter(pool, s, seen)) {
            run_tasks(pool, w->index);
            leave(pool);
        }
    }
}

/* ---- the caller ---------------------------------------------------------------- */

/* Opens the job written before it (a new number), waking sleeping workers. */
static void open_job(g4k_pool *pool) {
    uint64_t s = atomic_load_explicit(&pool->state, memory_order_relaxed);
    atomic_store(&pool->state, (uint64_t)(JOB(s) + 1) << 32);
    if (atomic_load(&pool->n_asleep) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Closes the job if no worker is inside; true if it did. */
static bool try_close(g4k_pool *pool) {
    uint64_t s = atomic_load(&pool->state);
    return (s & INSIDE) == 0 && atomic_compare_exchange_strong(&pool->state, &s, s | CLOSED);
}

static void close_job(g4k_pool *pool) {
    unsigned steps = 0;
    int64_t start = 0;
    do {
        if (try_close(pool)) return;
    } while (spin(&steps, &start));
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->caller_asleep, true);
    while (!try_close(pool)) pthread_cond_wait(&pool->done, &pool->lock);
    atomic_store(&pool->caller_asleep, false);
    pthread_mutex_unlock(&pool->lock);
}

void g4k_pool_run(g4k_pool *pool, int n_tasks, void (*fn)(void *arg, int task, int thread), void *arg) {
    if (!pool || pool->n_threads == 1 || n_tasks <= 1) {
        for (int task = 0; task < n_tasks; task++) fn(arg, task, 0);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    pool->n_tasks = n_tasks;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    open_job(pool);
    run_tasks(pool, 0);
    close_job(pool);
}

/* ---- scratch ------------------------------------------------------------------- */

static _Thread_local g4k_scratch thread_scratch[G4K_POOL_SLOTS]; /* for the NULL pool */

void *g4k_pool_scratch(g4k_pool *pool, int slot, size_t bytes) {
    g4k_scratch *s = pool ? &pool->scratch[slot] : &thread_scratch[slot];
    if (s->bytes < bytes) {
        size_t size = (bytes + 63) / 64 * 64;
        void *p = aligned_alloc(64, size);
        if (!p) return NULL;
        free(s->data);
        *s = (g4k_scratch){.data = p, .bytes = size};
    }
    return s->data;
}

/* ---- lifetime ------------------------------------------------------------------ */

int g4k_pool_size(const g4k_pool *pool) {
    return pool ? pool->n_threads : 1;
}

g4k_pool *g4k_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    g4k_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    atomic_init(&pool->state, CLOSED); /* job 0, which nobody runs */
    if (pthread_mutex_init(&pool->lock, NULL)) goto fail_lock;
    if (pthread_cond_init(&pool->wake, NULL)) goto fail_wake;
    if (pthread_cond_init(&pool->done, NULL)) goto fail_done;

    pthread_attr_t attr;
    bool ok = (pool->workers = calloc((size_t)n_threads, sizeof *pool->workers)) != NULL &&
              pthread_attr_init(&attr) == 0;
    if (ok) {
        ok = pthread_attr_setstacksize(&attr, WORKER_STACK) == 0;
        for (int i = 0; ok && i < n_threads - 1; i++) {
            worker *w = &pool->workers[i];
            *w = (worker){.pool = pool, .index = i + 1};
            if ((ok = pthread_create(&w->tid, &attr, worker_main, w) == 0)) pool->n_started++;
        }
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        g4k_pool_free(pool); /* stops the workers that did start */
        return NULL;
    }
#ifdef G4_HAVE_BLAS
    openblas_set_num_threads(n_threads); /* f32 batches go to OpenBLAS, which keeps its own threads */
#endif
    return pool;

fail_done:
    pthread_cond_destroy(&pool->wake);
fail_wake:
    pthread_mutex_destroy(&pool->lock);
fail_lock:
    free(pool);
    return NULL;
}

void g4k_pool_free(g4k_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stop, true);
    open_job(pool); /* a job number the workers see, and stop */
    for (int i = 0; i < pool->n_started; i++) pthread_join(pool->workers[i].tid, NULL);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    for (int i = 0; i < G4K_POOL_SLOTS; i++) free(pool->scratch[i].data);
    free(pool->workers);
    free(pool);
}
