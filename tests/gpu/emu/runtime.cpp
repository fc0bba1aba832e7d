/* runtime.cpp: the CUDA runtime calls of the emulated GPU (cuda_runtime.h).
 *
 * One device, "Emulated GPU on the CPU", reported as sm_90 with 132
 * multiprocessors (so that launch shapes chosen from the properties are an
 * H100/H200's) and 16 GiB: allocations past that fail as on a full GPU. Device
 * and page-locked memory are host heap blocks the emulator keeps track of; new
 * device memory is filled with 0xff bytes (NaN as floats), so results that read
 * memory nobody wrote show. Copies check their direction and that the device
 * side lies inside one allocation.
 *
 * A stream queues its work (launches, copies, fills, GEMMs) and runs it, in
 * order, when the host waits: cudaStreamSynchronize, a copy to or from pageable
 * host memory (which CUDA makes synchronous), cudaFree and the other implicitly
 * synchronizing calls. So a host buffer changed before its stream reached an
 * asynchronous copy from it gives the wrong result here too. While a stream is
 * captured its work is recorded instead; a graph launch queues the recorded work
 * again, reading host and device buffers as they are when it runs. During a
 * capture (modes Global and ThreadLocal, both taken per thread) the calls CUDA
 * refuses are refused the same way: allocation, freeing, synchronization and
 * copies with pageable host memory fail with cudaErrorStreamCaptureUnsupported
 * and invalidate the capture, whose end then fails. */
#include "emu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <vector>

struct CUstream_st {
    std::vector<std::function<void()>> pending;
    bool capturing;
    bool capture_invalid;
    cudaStreamCaptureMode mode;
    g4emu_graph *graph;
};

struct g4emu_graph {
    std::vector<std::function<void()>> ops;
};

struct g4emu_graph_exec {
    std::vector<std::function<void()>> ops;
};

namespace g4emu {
namespace {

constexpr size_t TOTAL_MEMORY = (size_t)16 << 30;
constexpr size_t MAX_DYNAMIC_SHARED = 48 * 1024;

std::mutex lock;                              /* the maps, the stream set and memory_used */
std::map<uintptr_t, size_t> device_blocks;    /* base -> bytes */
std::map<uintptr_t, size_t> pinned_blocks;
std::set<CUstream_st *> streams;
size_t memory_used;
CUstream_st legacy_stream;                    /* stream 0 */

thread_local cudaError_t last_error = cudaSuccess;
thread_local std::vector<CUstream_st *> my_captures; /* streams this thread is capturing */

CUstream_st *resolve(cudaStream_t s) {
    return s ? s : &legacy_stream;
}

/* Whether [p, p + n) is inside one block of the map. Call with the lock held. */
bool in_blocks(const std::map<uintptr_t, size_t> &blocks, const void *p, size_t n) {
    const uintptr_t a = (uintptr_t)p;
    auto it = blocks.upper_bound(a);
    if (it == blocks.begin()) return false;
    --it;
    return a >= it->first && a - it->first <= it->second && n <= it->second - (a - it->first);
}

bool is_device(const void *p, size_t n) {
    std::lock_guard<std::mutex> hold(lock);
    return in_blocks(device_blocks, p, n);
}

bool is_pinned(const void *p, size_t n) {
    std::lock_guard<std::mutex> hold(lock);
    return in_blocks(pinned_blocks, p, n);
}

/* Any byte of p's block is device memory (for direction checks). */
bool touches_device(const void *p) {
    return is_device(p, 1);
}

/* A call CUDA refuses while this thread captures a stream (not in relaxed mode):
 * the capture is invalidated and the call fails. */
bool refused_in_capture() {
    bool refused = false;
    for (CUstream_st *s : my_captures)
        if (s->mode != cudaStreamCaptureModeRelaxed) {
            s->capture_invalid = true;
            refused = true;
        }
    if (refused) set_error(cudaErrorStreamCaptureUnsupported);
    return refused;
}

void run_pending(CUstream_st *s) {
    while (!s->pending.empty()) {
        std::vector<std::function<void()>> ops;
        ops.swap(s->pending);
        for (auto &op : ops) op();
    }
}

void run_all_streams() {
    std::vector<CUstream_st *> all;
    {
        std::lock_guard<std::mutex> hold(lock);
        all.assign(streams.begin(), streams.end());
    }
    run_pending(&legacy_stream);
    for (CUstream_st *s : all) run_pending(s);
}

cudaError_t allocate(std::map<uintptr_t, size_t> &blocks, bool device, void **p, size_t bytes) {
    if (!p) return set_error(cudaErrorInvalidValue);
    *p = NULL;
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    if (bytes == 0) return cudaSuccess;
    {
        std::lock_guard<std::mutex> hold(lock);
        if (device && bytes > TOTAL_MEMORY - memory_used) return set_error(cudaErrorMemoryAllocation);
    }
    void *m = NULL;
    if (posix_memalign(&m, 256, bytes) != 0) return set_error(cudaErrorMemoryAllocation);
    if (device) memset(m, 0xff, bytes);
    std::lock_guard<std::mutex> hold(lock);
    blocks[(uintptr_t)m] = bytes;
    if (device) memory_used += bytes;
    *p = m;
    return cudaSuccess;
}

cudaError_t release(std::map<uintptr_t, size_t> &blocks, bool device, void *p) {
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    if (!p) return cudaSuccess;
    run_all_streams(); /* freeing waits for the device */
    std::lock_guard<std::mutex> hold(lock);
    auto it = blocks.find((uintptr_t)p);
    if (it == blocks.end()) return set_error(cudaErrorInvalidValue);
    if (device) memory_used -= it->second;
    blocks.erase(it);
    free(p);
    return cudaSuccess;
}

/* The direction of a copy, checked against where its pointers are. */
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind *kind) {
    if (*kind == cudaMemcpyDefault)
        *kind = touches_device(src) ? (touches_device(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                                    : (touches_device(dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
    const bool dst_dev = *kind == cudaMemcpyHostToDevice || *kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = *kind == cudaMemcpyDeviceToHost || *kind == cudaMemcpyDeviceToDevice;
    if (*kind < cudaMemcpyHostToHost || *kind > cudaMemcpyDeviceToDevice) return set_error(cudaErrorInvalidMemcpyDirection);
    if (dst_dev ? !is_device(dst, bytes) : touches_device(dst)) return set_error(cudaErrorInvalidValue);
    if (src_dev ? !is_device(src, bytes) : touches_device(src)) return set_error(cudaErrorInvalidValue);
    return cudaSuccess;
}

} // namespace

cudaError_t set_error(cudaError_t error) {
    if (error != cudaSuccess) last_error = error;
    return error;
}

bool is_device_range(const void *p, size_t bytes) {
    return is_device(p, bytes);
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op) {
    CUstream_st *s = resolve(stream);
    if (s->capturing) {
        if (s->capture_invalid) return set_error(cudaErrorStreamCaptureInvalidated);
        s->graph->ops.push_back(std::move(op));
        return cudaSuccess;
    }
    s->pending.push_back(std::move(op));
    return cudaSuccess;
}

void enqueue_kernel(const launch_config &cfg, const char *name, const char *file, int line,
                    std::function<void()> body) {
    const dim3 g = cfg.grid, b = cfg.block;
    const unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    if (g.x < 1 || g.y < 1 || g.z < 1 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535 || b.x < 1 || b.y < 1 ||
        b.z < 1 || b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024) {
        set_error(cudaErrorInvalidConfiguration);
        return;
    }
    if (cfg.shared > MAX_DYNAMIC_SHARED) {
        set_error(cudaErrorInvalidValue);
        return;
    }
    enqueue(cfg.stream, [cfg, name, file, line, body]() { run_grid(cfg, name, file, line, body); });
}

} // namespace g4emu

using namespace g4emu;

/* ---- errors ------------------------------------------------------------------------- */

const char *cudaGetErrorName(cudaError_t error) {
    switch (error) {
#define NAME(e) \
    case e: return #e
        NAME(cudaSuccess);
        NAME(cudaErrorInvalidValue);
        NAME(cudaErrorMemoryAllocation);
        NAME(cudaErrorInvalidConfiguration);
        NAME(cudaErrorInvalidDevicePointer);
        NAME(cudaErrorInvalidMemcpyDirection);
        NAME(cudaErrorNoDevice);
        NAME(cudaErrorInvalidDevice);
        NAME(cudaErrorInvalidResourceHandle);
        NAME(cudaErrorIllegalState);
        NAME(cudaErrorNotSupported);
        NAME(cudaErrorStreamCaptureUnsupported);
        NAME(cudaErrorStreamCaptureInvalidated);
        NAME(cudaErrorStreamCaptureUnmatched);
        NAME(cudaErrorStreamCaptureWrongThread);
#undef NAME
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error) {
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError(void) {
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) {
    return last_error;
}

/* ---- the device ---------------------------------------------------------------------- */

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return set_error(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device) {
    if (!device) return set_error(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    if (!prop) return set_error(cudaErrorInvalidValue);
    if (device != 0) return set_error(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "Emulated GPU on the CPU");
    prop->totalGlobalMem = TOTAL_MEMORY;
    prop->sharedMemPerBlock = MAX_DYNAMIC_SHARED;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024, prop->maxThreadsDim[1] = 1024, prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 0x7fffffff, prop->maxGridSize[1] = 65535, prop->maxGridSize[2] = 65535;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 132;
    return cudaSuccess;
}

/* The memory clock and bus width are unknown (0): no peak bandwidth is claimed. */
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    if (!value) return set_error(cudaErrorInvalidValue);
    if (device != 0) return set_error(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMemoryClockRate:
    case cudaDevAttrGlobalMemoryBusWidth: *value = 0; return cudaSuccess;
    }
    return set_error(cudaErrorInvalidValue);
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    if (!free_bytes || !total_bytes) return set_error(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> hold(lock);
    *total_bytes = TOTAL_MEMORY;
    *free_bytes = TOTAL_MEMORY - memory_used;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    run_all_streams();
    return cudaSuccess;
}

/* ---- streams ------------------------------------------------------------------------- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags) {
    if (!stream || flags > cudaStreamNonBlocking) return set_error(cudaErrorInvalidValue);
    CUstream_st *s = new CUstream_st();
    std::lock_guard<std::mutex> hold(lock);
    streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) {
    return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    if (!stream) return set_error(cudaErrorInvalidResourceHandle);
    {
        std::lock_guard<std::mutex> hold(lock);
        if (!streams.erase(stream)) return set_error(cudaErrorInvalidResourceHandle);
    }
    if (stream->capturing) {
        my_captures.erase(std::remove(my_captures.begin(), my_captures.end(), stream), my_captures.end());
        delete stream->graph;
    }
    run_pending(stream);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    CUstream_st *s = resolve(stream);
    if (s == &legacy_stream)
        run_all_streams(); /* the legacy stream waits for the blocking streams; all of them is safe */
    else
        run_pending(s);
    return cudaSuccess;
}

/* ---- memory ---------------------------------------------------------------------------- */

cudaError_t cudaMalloc(void **p, size_t bytes) {
    return allocate(device_blocks, true, p, bytes);
}

cudaError_t cudaFree(void *p) {
    return release(device_blocks, true, p);
}

cudaError_t cudaMallocHost(void **p, size_t bytes) {
    return allocate(pinned_blocks, false, p, bytes);
}

cudaError_t cudaFreeHost(void *p) {
    return release(pinned_blocks, false, p);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    if (bytes == 0) return cudaSuccess;
    cudaError_t rc = check_copy(dst, src, bytes, &kind);
    if (rc != cudaSuccess) return rc;
    CUstream_st *s = resolve(stream);
    const bool pageable = (kind == cudaMemcpyHostToDevice && !is_pinned(src, bytes)) ||
                          (kind == cudaMemcpyDeviceToHost && !is_pinned(dst, bytes)) || kind == cudaMemcpyHostToHost;
    if (pageable) { /* CUDA waits for the stream and copies at once */
        if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
        run_pending(s);
        memmove(dst, src, bytes);
        return cudaSuccess;
    }
    return enqueue(stream, [dst, src, bytes]() { memmove(dst, src, bytes); });
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    if (bytes == 0) return cudaSuccess;
    cudaError_t rc = check_copy(dst, src, bytes, &kind);
    if (rc != cudaSuccess) return rc;
    run_all_streams();
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream) {
    if (bytes == 0) return cudaSuccess;
    if (!is_device(dst, bytes)) return set_error(cudaErrorInvalidValue);
    return enqueue(stream, [dst, value, bytes]() { memset(dst, value, bytes); });
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    if (refused_in_capture()) return cudaErrorStreamCaptureUnsupported;
    if (bytes == 0) return cudaSuccess;
    if (!is_device(dst, bytes)) return set_error(cudaErrorInvalidValue);
    run_all_streams();
    memset(dst, value, bytes);
    return cudaSuccess;
}

/* ---- graphs ---------------------------------------------------------------------------- */

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    if (!stream) return set_error(cudaErrorStreamCaptureUnsupported); /* the legacy stream cannot be captured */
    if (stream->capturing) return set_error(cudaErrorIllegalState);
    if (mode < cudaStreamCaptureModeGlobal || mode > cudaStreamCaptureModeRelaxed) return set_error(cudaErrorInvalidValue);
    stream->capturing = true;
    stream->capture_invalid = false;
    stream->mode = mode;
    stream->graph = new g4emu_graph();
    my_captures.push_back(stream);
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    if (!graph) return set_error(cudaErrorInvalidValue);
    *graph = NULL;
    if (!stream || !stream->capturing) return set_error(cudaErrorIllegalState);
    if (std::find(my_captures.begin(), my_captures.end(), stream) == my_captures.end())
        return set_error(cudaErrorStreamCaptureWrongThread);
    my_captures.erase(std::remove(my_captures.begin(), my_captures.end(), stream), my_captures.end());
    stream->capturing = false;
    g4emu_graph *g = stream->graph;
    stream->graph = NULL;
    if (stream->capture_invalid) {
        delete g;
        return set_error(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    if (!exec || !graph || flags != 0) return set_error(cudaErrorInvalidValue);
    *exec = new g4emu_graph_exec{graph->ops};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return set_error(cudaErrorInvalidValue);
    for (const auto &op : exec->ops) {
        const cudaError_t rc = enqueue(stream, op);
        if (rc != cudaSuccess) return rc;
    }
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    if (!exec) return set_error(cudaErrorInvalidValue);
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    if (!graph) return set_error(cudaErrorInvalidValue);
    delete graph;
    return cudaSuccess;
}
