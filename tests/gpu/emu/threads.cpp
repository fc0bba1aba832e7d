/* threads.cpp: how the emulated GPU runs a grid: its blocks one after another in
 * grid order, each block's threads as coroutines on the calling thread (their
 * own small stacks, taken from a pool and reused), scheduled round-robin from a
 * run queue. A thread runs until it reaches a barrier or ends:
 *   __syncthreads waits until every thread of the block is at the same one;
 *   a warp shuffle waits until every lane its mask names is at the same shuffle,
 *   each lane having left its value, then reads its partner's.
 * Misuse aborts with the kernel, the block and the threads involved: a thread
 * that ends while others wait at (or later reach) a __syncthreads, threads at
 * different __syncthreads, a shuffle whose mask names a lane that ended or is
 * elsewhere, and a block whose threads all wait but no barrier can complete.
 *
 * Two schedules (G4_GPU_EMU_SCHEDULE): "round-robin" (the default) resumes ready
 * threads in the order they became ready; "warp" always resumes the lowest ready
 * thread, so that one warp runs as far as it can before the next starts: a
 * missing __syncthreads between warps then shows as a wrong result.
 *
 * Coroutines switch with a few instructions on x86-64 (callee-saved registers
 * and the stack pointer) and with ucontext elsewhere; under AddressSanitizer the
 * stack switches are announced to it. */
#include "emu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define G4EMU_ASAN 1
#else
#define G4EMU_ASAN 0
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace g4emu {

__thread coordinates now;

namespace {

/* Bytes of a coroutine stack (pages are only committed when touched). */
constexpr size_t STACK_BYTES = G4EMU_ASAN ? (size_t)1 << 20 : (size_t)256 << 10;

/* ---- contexts -------------------------------------------------------------------- */

#if defined(__x86_64__)
extern "C" void g4emu_switch(void **save_sp, void *to_sp);
/* Saves the callee-saved registers on the current stack, stores the stack pointer
 * in *save_sp, loads to_sp and restores the registers saved there. */
asm(R"(
    .text
    .globl g4emu_switch
    .hidden g4emu_switch
    .type g4emu_switch, @function
g4emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size g4emu_switch, .-g4emu_switch
)");

struct context {
    void *sp;
};

/* A context that starts entry() at the top of stack: the 6 registers g4emu_switch
 * pops, then entry as the address it returns to, then a null return address for
 * entry, so that entry starts with the stack aligned as after a call. */
void context_init(context *c, char *stack, size_t bytes, void (*entry)()) {
    uintptr_t top = ((uintptr_t)stack + bytes) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)entry;
    for (int i = 0; i < 6; i++) *--sp = 0;
    c->sp = sp;
}

void context_switch(context *from, context *to) {
    g4emu_switch(&from->sp, to->sp);
}
#else
struct context {
    ucontext_t uc;
};

void context_init(context *c, char *stack, size_t bytes, void (*entry)()) {
    if (getcontext(&c->uc) != 0) die("getcontext failed");
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = bytes;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, entry, 0);
}

void context_switch(context *from, context *to) {
    if (swapcontext(&from->uc, &to->uc) != 0) die("swapcontext failed");
}
#endif

/* ---- stacks ----------------------------------------------------------------------- */

/* Stacks of finished coroutines, for the next ones (per host thread). */
thread_local std::vector<char *> free_stacks;

char *take_stack() {
    if (!free_stacks.empty()) {
        char *s = free_stacks.back();
        free_stacks.pop_back();
#if G4EMU_ASAN
        __asan_unpoison_memory_region(s, STACK_BYTES); /* frames a finished thread left */
#endif
        return s;
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, STACK_BYTES + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("cannot map a %zu-byte coroutine stack", STACK_BYTES);
    if (mprotect(m, page, PROT_NONE) != 0) die("cannot protect a coroutine stack's guard page");
    return (char *)m + page;
}

/* ---- one grid ---------------------------------------------------------------------- */

enum thread_state { FRESH, READY, RUNNING, AT_SYNC, AT_SHUFFLE, DONE };

struct emu_thread {
    context ctx;
    char *stack;
    thread_state state;
    site where;   /* the barrier it waits at */
    unsigned mask; /* of the shuffle it waits at */
#if G4EMU_ASAN
    void *fake_stack;
#endif
};

struct warp_state {
    unsigned arrived;    /* lanes at the pending shuffle */
    unsigned ended;      /* lanes whose thread has ended */
    unsigned mask;
    site where;
    shuffle_kind kind;
    unsigned gen;        /* shuffles completed: values alternate between two slots */
    uint64_t bits[2][32];
};

struct grid_run {
    const char *name, *file;
    int line;
    const std::function<void()> *body;
    dim3 grid, block;
    int n_threads;
    std::vector<emu_thread> threads;
    std::vector<warp_state> warps;
    bool warp_order;        /* the "warp" schedule */
    std::vector<int> queue; /* round-robin: ring of ready threads */
    size_t q_head, q_count;
    std::vector<uint64_t> ready_bits; /* warp order: bit t = thread t is ready */
    int current;
    int n_done;
    int sync_arrived;
    site sync_where;
    context scheduler;
    std::vector<unsigned char> dyn_shared;
#if G4EMU_ASAN
    void *sched_fake;
    const void *sched_bottom;
    size_t sched_size;
#endif
};

__thread grid_run *running;

bool same_site(site a, site b) {
    return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0);
}

const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

const char *shuffle_name(shuffle_kind k) {
    switch (k) {
    case SHFL_IDX: return "__shfl_sync";
    case SHFL_XOR: return "__shfl_xor_sync";
    case SHFL_UP: return "__shfl_up_sync";
    case SHFL_DOWN: return "__shfl_down_sync";
    }
    return "a shuffle";
}

/* "kernel K (launched at F:L), block (x,y,z)" */
std::string where_in(const grid_run *g) {
    char s[512];
    snprintf(s, sizeof s, "kernel %s (launched at %s:%d), block (%u,%u,%u)", g->name, base_name(g->file), g->line,
             now.block_idx.x, now.block_idx.y, now.block_idx.z);
    return s;
}

[[noreturn]] void kernel_fail(const grid_run *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kernel_fail(const grid_run *g, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die("%s: %s", where_in(g).c_str(), msg);
}

void push(grid_run *g, int t) {
    if (g->warp_order)
        g->ready_bits[(size_t)t / 64] |= (uint64_t)1 << (t % 64);
    else
        g->queue[(g->q_head + g->q_count) % g->queue.size()] = t;
    g->q_count++;
}

int pop(grid_run *g) {
    g->q_count--;
    if (g->warp_order) {
        for (size_t i = 0;; i++)
            if (g->ready_bits[i]) {
                const int b = __builtin_ctzll(g->ready_bits[i]);
                g->ready_bits[i] &= g->ready_bits[i] - 1;
                return (int)(i * 64) + b;
            }
    }
    const int t = g->queue[g->q_head];
    g->q_head = (g->q_head + 1) % g->queue.size();
    return t;
}

/* G4_GPU_EMU_SCHEDULE: "warp", or round-robin (unset, empty or "round-robin"). */
bool warp_schedule() {
    static const int chosen = [] {
        const char *s = getenv("G4_GPU_EMU_SCHEDULE");
        if (!s || !*s || strcmp(s, "round-robin") == 0) return 0;
        if (strcmp(s, "warp") == 0) return 1;
        fprintf(stderr, "g4emu: G4_GPU_EMU_SCHEDULE is \"%s\": use \"round-robin\" or \"warp\"\n", s);
        exit(2);
    }();
    return chosen == 1;
}

uint3 thread_coords(const grid_run *g, int t) {
    const unsigned u = (unsigned)t;
    return uint3{u % g->block.x, (u / g->block.x) % g->block.y, u / (g->block.x * g->block.y)};
}

/* The running thread waits: back to the scheduler until a barrier releases it. */
void wait_here(grid_run *g, thread_state state, site where, unsigned mask) {
    emu_thread &me = g->threads[g->current];
    me.state = state;
    me.where = where;
    me.mask = mask;
#if G4EMU_ASAN
    __sanitizer_start_switch_fiber(&me.fake_stack, g->sched_bottom, g->sched_size);
#endif
    context_switch(&me.ctx, &g->scheduler);
#if G4EMU_ASAN
    __sanitizer_finish_switch_fiber(me.fake_stack, &g->sched_bottom, &g->sched_size);
#endif
}

/* The end of a thread: nobody may be waiting for it at a barrier. */
[[noreturn]] void thread_exit(grid_run *g) {
    const int t = g->current, lane = t % 32;
    emu_thread &me = g->threads[t];
    if (g->sync_arrived > 0)
        kernel_fail(g, "thread %d ended while %d threads wait at __syncthreads (%s:%d): every thread must reach every "
                       "__syncthreads",
                    t, g->sync_arrived, base_name(g->sync_where.file), g->sync_where.line);
    const warp_state &w = g->warps[(size_t)t / 32];
    if (w.arrived && (w.mask >> lane & 1u))
        kernel_fail(g, "thread %d (lane %d) ended while lanes 0x%08x of its warp wait for it at %s (%s:%d)", t, lane,
                    w.arrived, shuffle_name(w.kind), base_name(w.where.file), w.where.line);
    me.state = DONE;
    g->warps[(size_t)t / 32].ended |= 1u << lane;
    g->n_done++;
#if G4EMU_ASAN
    __sanitizer_start_switch_fiber(NULL, g->sched_bottom, g->sched_size);
#endif
    context_switch(&me.ctx, &g->scheduler);
    abort(); /* never resumed */
}

void thread_entry() {
    grid_run *g = running;
#if G4EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &g->sched_bottom, &g->sched_size);
#endif
    (*g->body)();
    thread_exit(g);
}

std::string describe_threads(const grid_run *g) {
    std::string out;
    int start = 0;
    for (int t = 1; t <= g->n_threads; t++) {
        const emu_thread &a = g->threads[start];
        if (t < g->n_threads) {
            const emu_thread &b = g->threads[t];
            if (b.state == a.state && (a.state != AT_SYNC && a.state != AT_SHUFFLE ? true : same_site(a.where, b.where)))
                continue;
        }
        char line[256];
        const char *what = a.state == AT_SYNC      ? "wait at __syncthreads"
                           : a.state == AT_SHUFFLE ? "wait at a shuffle"
                           : a.state == DONE       ? "ended"
                                                   : "have not run";
        if (a.state == AT_SYNC || a.state == AT_SHUFFLE)
            snprintf(line, sizeof line, "\n  threads %d-%d %s (%s:%d)", start, t - 1, what, base_name(a.where.file),
                     a.where.line);
        else
            snprintf(line, sizeof line, "\n  threads %d-%d %s", start, t - 1, what);
        out += line;
        start = t;
    }
    return out;
}

void run_block(grid_run *g) {
    for (int t = 0; t < g->n_threads; t++) {
        g->threads[t].state = FRESH;
        g->threads[t].stack = NULL;
    }
    for (warp_state &w : g->warps) w.arrived = 0, w.ended = 0, w.gen = 0;
    g->q_head = 0;
    g->q_count = 0;
    for (int t = 0; t < g->n_threads; t++) push(g, t);
    g->n_done = 0;
    g->sync_arrived = 0;
    /* shared memory starts with whatever the last block left; make a read of it show */
    if (!g->dyn_shared.empty()) memset(g->dyn_shared.data(), 0xff, g->dyn_shared.size());

    while (g->q_count) {
        const int t = pop(g);
        emu_thread &th = g->threads[t];
        g->current = t;
        now.thread_idx = thread_coords(g, t);
        if (th.state == FRESH) {
            th.stack = take_stack();
            context_init(&th.ctx, th.stack, STACK_BYTES, thread_entry);
        }
        th.state = RUNNING;
#if G4EMU_ASAN
        __sanitizer_start_switch_fiber(&g->sched_fake, th.stack, STACK_BYTES);
#endif
        context_switch(&g->scheduler, &th.ctx);
#if G4EMU_ASAN
        __sanitizer_finish_switch_fiber(g->sched_fake, NULL, NULL);
#endif
        if (th.state == DONE) {
            free_stacks.push_back(th.stack);
            th.stack = NULL;
        }
    }
    if (g->n_done != g->n_threads)
        kernel_fail(g, "deadlock: no thread can go on%s", describe_threads(g).c_str());
}

} // namespace

/* ---- the barriers ----------------------------------------------------------------- */

void syncthreads(site where) {
    grid_run *g = running;
    if (!g) die("__syncthreads called outside a kernel (%s:%d)", base_name(where.file), where.line);
    if (g->n_done > 0)
        kernel_fail(g, "thread %d reached __syncthreads (%s:%d) after %d threads of its block ended: every thread must "
                       "reach every __syncthreads",
                    g->current, base_name(where.file), where.line, g->n_done);
    if (g->sync_arrived == 0)
        g->sync_where = where;
    else if (!same_site(where, g->sync_where))
        kernel_fail(g, "threads wait at different __syncthreads: thread %d at %s:%d, %d others at %s:%d", g->current,
                    base_name(where.file), where.line, g->sync_arrived, base_name(g->sync_where.file),
                    g->sync_where.line);
    if (++g->sync_arrived < g->n_threads) {
        wait_here(g, AT_SYNC, where, 0);
        return;
    }
    g->sync_arrived = 0; /* the last one releases the others and goes on */
    for (int t = 0; t < g->n_threads; t++)
        if (g->threads[t].state == AT_SYNC) {
            g->threads[t].state = READY;
            push(g, t);
        }
}

uint64_t shuffle(site where, unsigned mask, uint64_t bits, shuffle_kind kind, int operand, int width) {
    grid_run *g = running;
    if (!g) die("%s called outside a kernel (%s:%d)", shuffle_name(kind), base_name(where.file), where.line);
    const int t = g->current, lane = t % 32, warp = t / 32;
    warp_state &w = g->warps[(size_t)warp];
    const int lanes = g->n_threads - warp * 32 < 32 ? g->n_threads - warp * 32 : 32;
    const unsigned existing = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
    if (!(mask >> lane & 1u))
        kernel_fail(g, "thread %d calls %s (%s:%d) with mask 0x%08x, which does not name its lane %d", t,
                    shuffle_name(kind), base_name(where.file), where.line, mask, lane);
    if (mask & ~existing)
        kernel_fail(g, "%s (%s:%d) with mask 0x%08x names lanes past the block's %d threads", shuffle_name(kind),
                    base_name(where.file), where.line, mask, g->n_threads);
    if (width < 1 || width > 32 || (width & (width - 1)))
        kernel_fail(g, "%s (%s:%d) with width %d (a power of two up to 32)", shuffle_name(kind), base_name(where.file),
                    where.line, width);
    if (mask & w.ended)
        kernel_fail(g, "thread %d reached %s (%s:%d) with mask 0x%08x, but lane %d of its warp has ended", t,
                    shuffle_name(kind), base_name(where.file), where.line, mask, __builtin_ctz(mask & w.ended));
    if (w.arrived == 0) {
        w.mask = mask;
        w.where = where;
        w.kind = kind;
    } else if (w.mask != mask || w.kind != kind || !same_site(w.where, where)) {
        kernel_fail(g, "lanes of warp %d are at different shuffles: lane %d at %s (%s:%d, mask 0x%08x), lanes 0x%08x at "
                       "%s (%s:%d, mask 0x%08x)",
                    warp, lane, shuffle_name(kind), base_name(where.file), where.line, mask, w.arrived,
                    shuffle_name(w.kind), base_name(w.where.file), w.where.line, w.mask);
    }
    const unsigned slot = w.gen & 1u;
    w.bits[slot][lane] = bits;
    w.arrived |= 1u << lane;
    if (w.arrived != mask) {
        wait_here(g, AT_SHUFFLE, where, mask);
    } else { /* the last lane releases the others and goes on */
        const unsigned waiting = w.arrived & ~(1u << lane);
        w.arrived = 0;
        w.gen++;
        for (unsigned rest = waiting; rest; rest &= rest - 1) {
            const int other = warp * 32 + __builtin_ctz(rest);
            g->threads[(size_t)other].state = READY;
            push(g, other);
        }
    }
    const int base = lane & ~(width - 1), last = base + width - 1;
    int src = lane;
    switch (kind) {
    case SHFL_IDX: src = base + (operand & (width - 1)); break;
    case SHFL_XOR: src = lane ^ operand; break;
    case SHFL_UP: src = lane - operand; break;
    case SHFL_DOWN: src = lane + operand; break;
    }
    if (src < 0 || src > last || (kind == SHFL_UP && src < base)) src = lane; /* outside the segment: own value */
    if (!(mask >> src & 1u))
        kernel_fail(g, "thread %d reads lane %d in %s (%s:%d), which mask 0x%08x does not name", t, src,
                    shuffle_name(kind), base_name(where.file), where.line, mask);
    return w.bits[slot][src];
}

void *dynamic_shared() {
    grid_run *g = running;
    if (!g) die("extern __shared__ memory used outside a kernel");
    return g->dyn_shared.empty() ? NULL : g->dyn_shared.data();
}

/* ---- the grid --------------------------------------------------------------------- */

void run_grid(const launch_config &cfg, const char *name, const char *file, int line,
              const std::function<void()> &body) {
    if (running) die("kernel %s launched (%s:%d) from inside kernel %s", name, base_name(file), line, running->name);
    grid_run g;
    g.name = name;
    g.file = file;
    g.line = line;
    g.body = &body;
    g.grid = cfg.grid;
    g.block = cfg.block;
    g.n_threads = (int)(cfg.block.x * cfg.block.y * cfg.block.z);
    g.threads.resize((size_t)g.n_threads);
    g.warps.resize(((size_t)g.n_threads + 31) / 32);
    g.warp_order = warp_schedule();
    g.queue.resize((size_t)g.n_threads);
    g.ready_bits.assign(((size_t)g.n_threads + 63) / 64, 0);
    g.dyn_shared.resize(cfg.shared);
    now.block_dim = uint3{cfg.block.x, cfg.block.y, cfg.block.z};
    now.grid_dim = uint3{cfg.grid.x, cfg.grid.y, cfg.grid.z};
    running = &g;
    for (unsigned z = 0; z < cfg.grid.z; z++)
        for (unsigned y = 0; y < cfg.grid.y; y++)
            for (unsigned x = 0; x < cfg.grid.x; x++) {
                now.block_idx = uint3{x, y, z};
                run_block(&g);
            }
    running = NULL;
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("g4emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

} // namespace g4emu
