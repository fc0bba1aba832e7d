/* pool.h: the parallel-for the CPU ops run on a g4k_pool (backend.h); internal
 * to kernels/cpu. */
#ifndef G4K_CPU_POOL_H
#define G4K_CPU_POOL_H

#include "backend.h"

/* Calls fn(arg, task, thread) once for every task in [0, n_tasks), spread over the
 * pool's threads, and returns when all are done. thread (0 .. g4k_pool_size - 1)
 * names the thread running the task, for per-thread scratch; the caller is thread
 * 0 and takes part. Tasks run in no particular order and must not call
 * g4k_pool_run themselves. A NULL pool, one of one thread, or a single task runs
 * inline. */
void g4k_pool_run(g4k_pool *pool, int n_tasks, void (*fn)(void *arg, int task, int thread), void *arg);

/* Scratch the ops keep between calls: a 64-byte aligned buffer of at least
 * `bytes`, grown on demand and freed with the pool; slot (< G4K_POOL_SLOTS) names
 * independent buffers. Only the thread that calls ops with the pool may use it
 * (workers get it passed through the task argument). A NULL pool has per-thread
 * slots that live as long as the thread. NULL when memory runs out. */
#define G4K_POOL_SLOTS 4
void *g4k_pool_scratch(g4k_pool *pool, int slot, size_t bytes);

#endif
