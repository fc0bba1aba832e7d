/* g4emu.h: the device side of the emulated GPU (G4_GPU_EMU): what CUDA kernels
 * see (__global__ and friends, threadIdx/blockIdx/blockDim/gridDim, __shared__,
 * __syncthreads, warp shuffles, atomics, the bit casts and _rn intrinsics, min/max,
 * float4/uint4/dim3) and the launch that tests/gpu/emu/rewrite.py puts in place of
 * kern<<<grid, block, shared, stream>>>(args).
 *
 * A launch is queued on its stream (or recorded into a graph) and runs later on
 * the CPU, one block after another; a block's threads are coroutines on the
 * calling thread (threads.cpp). __shared__ variables are function statics, which
 * is right because only one block runs at a time. Barriers and shuffles check
 * that every thread (every lane) takes part and abort with the kernel's name when
 * one does not. Included first by every rewritten source. */
#ifndef G4_GPU_EMU_H
#define G4_GPU_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- vector types -------------------------------------------------------------- */

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

struct alignas(16) float4 {
    float x, y, z, w;
};

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};

typedef struct CUstream_st *cudaStream_t;

/* ---- declaration specifiers ----------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __shared__ static

namespace g4emu {

/* Where a barrier or shuffle is in the source, for the messages. */
struct site {
    const char *file;
    int line;
};

/* The running thread's coordinates (set by the scheduler before it resumes one). */
struct coordinates {
    uint3 thread_idx, block_idx, block_dim, grid_dim;
};
extern __thread coordinates now;

void syncthreads(site where);
/* Deposits bits for the warp, waits for every lane of mask, returns lane src's
 * bits (src is computed per lane by the caller; -1: own value). */
enum shuffle_kind { SHFL_IDX, SHFL_XOR, SHFL_UP, SHFL_DOWN };
uint64_t shuffle(site where, unsigned mask, uint64_t bits, shuffle_kind kind, int operand, int width);
/* The block's dynamic shared memory (extern __shared__ arrays). */
void *dynamic_shared();

template <typename T> inline T shuffle_typed(site where, unsigned mask, T v, shuffle_kind kind, int operand, int width) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move 4- or 8-byte values");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = shuffle(where, mask, bits, kind, operand, width);
    T out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* ---- launches -------------------------------------------------------------------- */

struct launch_config {
    dim3 grid, block;
    size_t shared;
    cudaStream_t stream;
};

inline launch_config make_config(dim3 grid, dim3 block, size_t shared = 0, cudaStream_t stream = 0) {
    return launch_config{grid, block, shared, stream};
}

/* Checks the configuration (the launch error goes to cudaGetLastError) and queues
 * body, which runs one thread of the kernel, for every thread of the grid. */
void enqueue_kernel(const launch_config &cfg, const char *name, const char *file, int line, std::function<void()> body);

/* kernel<<<cfg>>>(args...): the arguments are converted to the parameter types and
 * copied now, as CUDA copies them at the launch. */
template <typename... P, typename... A>
void launch(const launch_config &cfg, const char *name, const char *file, int line, void (*kernel)(P...),
            A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A), "a kernel launch passes every parameter");
    std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
    enqueue_kernel(cfg, name, file, line, [kernel, params]() { std::apply(kernel, params); });
}

} // namespace g4emu

#define G4EMU_SITE (g4emu::site{__FILE__, __LINE__})

#define threadIdx (g4emu::now.thread_idx)
#define blockIdx (g4emu::now.block_idx)
#define blockDim (g4emu::now.block_dim)
#define gridDim (g4emu::now.grid_dim)
static constexpr int warpSize = 32;

#define __syncthreads() g4emu::syncthreads(G4EMU_SITE)

/* ---- warp shuffles (width defaults to the warp, as in CUDA) ----------------------- */

template <typename T> inline T g4emu_shfl(g4emu::site s, unsigned m, T v, g4emu::shuffle_kind k, int op, int width = 32) {
    return g4emu::shuffle_typed(s, m, v, k, op, width);
}
#define __shfl_sync(mask, var, ...) g4emu_shfl(G4EMU_SITE, (mask), (var), g4emu::SHFL_IDX, __VA_ARGS__)
#define __shfl_xor_sync(mask, var, ...) g4emu_shfl(G4EMU_SITE, (mask), (var), g4emu::SHFL_XOR, __VA_ARGS__)
#define __shfl_up_sync(mask, var, ...) g4emu_shfl(G4EMU_SITE, (mask), (var), g4emu::SHFL_UP, __VA_ARGS__)
#define __shfl_down_sync(mask, var, ...) g4emu_shfl(G4EMU_SITE, (mask), (var), g4emu::SHFL_DOWN, __VA_ARGS__)

/* ---- atomics: threads of a block never run at the same time, so a plain
 * read-modify-write is atomic ---------------------------------------------------------- */

#define G4EMU_ATOMIC_ADD(T)                                                            \
    inline T atomicAdd(T *p, T v) {                                                    \
        const T old = *p;                                                              \
        *p = old + v;                                                                  \
        return old;                                                                    \
    }
G4EMU_ATOMIC_ADD(int)
G4EMU_ATOMIC_ADD(unsigned)
G4EMU_ATOMIC_ADD(unsigned long long)
G4EMU_ATOMIC_ADD(float)
G4EMU_ATOMIC_ADD(double)
#undef G4EMU_ATOMIC_ADD

#define G4EMU_ATOMIC_MINMAX(T)                                                         \
    inline T atomicMax(T *p, T v) {                                                    \
        const T old = *p;                                                              \
        if (v > old) *p = v;                                                           \
        return old;                                                                    \
    }                                                                                  \
    inline T atomicMin(T *p, T v) {                                                    \
        const T old = *p;                                                              \
        if (v < old) *p = v;                                                           \
        return old;                                                                    \
    }                                                                                  \
    inline T atomicExch(T *p, T v) {                                                   \
        const T old = *p;                                                              \
        *p = v;                                                                        \
        return old;                                                                    \
    }                                                                                  \
    inline T atomicCAS(T *p, T compare, T v) {                                         \
        const T old = *p;                                                              \
        if (old == compare) *p = v;                                                    \
        return old;                                                                    \
    }
G4EMU_ATOMIC_MINMAX(int)
G4EMU_ATOMIC_MINMAX(unsigned)
G4EMU_ATOMIC_MINMAX(unsigned long long)
#undef G4EMU_ATOMIC_MINMAX

/* ---- bit casts and correctly rounded arithmetic (built with -ffp-contract=off) --- */

template <typename To, typename From> inline To g4emu_bits(From v) {
    static_assert(sizeof(To) == sizeof(From), "bit casts keep the size");
    To out;
    memcpy(&out, &v, sizeof out);
    return out;
}
inline float __int_as_float(int v) { return g4emu_bits<float>(v); }
inline float __uint_as_float(unsigned v) { return g4emu_bits<float>(v); }
inline int __float_as_int(float v) { return g4emu_bits<int>(v); }
inline unsigned __float_as_uint(float v) { return g4emu_bits<unsigned>(v); }
inline double __longlong_as_double(long long v) { return g4emu_bits<double>(v); }
inline long long __double_as_longlong(double v) { return g4emu_bits<long long>(v); }

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

/* CUDA's integer and float min/max overloads. */
#define G4EMU_MINMAX(T)                                                                \
    inline T min(T a, T b) { return a < b ? a : b; }                                   \
    inline T max(T a, T b) { return a > b ? a : b; }
G4EMU_MINMAX(int)
G4EMU_MINMAX(unsigned)
G4EMU_MINMAX(long)
G4EMU_MINMAX(unsigned long)
G4EMU_MINMAX(long long)
G4EMU_MINMAX(unsigned long long)
#undef G4EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }

#endif
