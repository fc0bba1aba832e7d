/* device.cu: the device behind kernels/gpu.h: opening and closing it (stream,
 * cuBLAS handle on CUDA), its name and memory, the first-error record, device
 * and page-locked host memory, copies, and graph recording and replay. Every
 * public function that talks to the runtime first makes dev's GPU current, so
 * several devices can be open in one process. */
#include "device.cuh"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct g4g_graph {
    cudaGraph_t g;
    cudaGraphExec_t exec;
};

/* ---- errors ---------------------------------------------------------------------- */

void g4g_fail(g4g_device *dev, const char *fmt, ...) {
    if (!dev || dev->error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev->error, sizeof dev->error, fmt, ap);
    va_end(ap);
}

bool g4g_ok(g4g_device *dev, cudaError_t rc, const char *what) {
    if (rc == cudaSuccess) return true;
    g4g_fail(dev, "%s: %s", what, cudaGetErrorString(rc));
    return false;
}

const char *g4g_error(const g4g_device *dev) {
    if (!dev) return "no GPU device is open";
    return dev->error[0] ? dev->error : NULL;
}

void g4g_clear_error(g4g_device *dev) {
    if (dev) dev->error[0] = '\0';
}

/* Refuses an operation that would wait for the host (or change memory) while a
 * graph is being recorded. */
static bool not_recording(g4g_device *dev, const char *what) {
    if (!dev->capturing) return true;
    g4g_fail(dev, "%s: not allowed while a graph is being recorded", what);
    return false;
}

/* ---- the device ------------------------------------------------------------------ */

int g4g_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: not an error here */
        return 0;
    }
    return n > 0 ? n : 0;
}

const char *g4g_backend_name(void) {
#ifdef G4_HIP
    return "HIP";
#else
    return "CUDA";
#endif
}

/* "NVIDIA H200 (sm_90, 139.8 GiB)"; on HIP the architecture is gcnArchName up to
 * its first ':' ("gfx90a"). */
static void describe(g4g_device *dev, const cudaDeviceProp *prop) {
    const double gib = (double)prop->totalGlobalMem / (1024.0 * 1024.0 * 1024.0);
#ifdef G4_HIP
    char arch[64];
    snprintf(arch, sizeof arch, "%.40s", prop->gcnArchName);
    arch[strcspn(arch, ":")] = '\0';
    snprintf(dev->name, sizeof dev->name, "%.100s (%.40s, %.1f GiB)", prop->name, arch, gib);
#else
    snprintf(dev->name, sizeof dev->name, "%.100s (sm_%d%d, %.1f GiB)", prop->name, prop->major, prop->minor, gib);
#endif
}

/* 2 transfers per clock (DDR) * clock (kHz) * 1000 * bus width in bytes; 0 when
 * the runtime does not say. */
static double peak_bandwidth(int index) {
    int clock_khz = 0, bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, index) != cudaSuccess ||
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0.0;
    }
    if (clock_khz <= 0 || bus_bits <= 0) return 0.0;
    return 2.0 * clock_khz * 1000.0 * (bus_bits / 8.0);
}

g4g_device *g4g_open(int index, char *err, size_t err_len) {
    const int count = g4g_device_count();
    if (count == 0) {
        snprintf(err, err_len, "no %s GPU found (is the driver installed and a GPU visible to this process?)",
                 g4g_backend_name());
        return NULL;
    }
    if (index < 0 || index >= count) {
        snprintf(err, err_len, "GPU %d does not exist: this machine has %d (0 .. %d)", index, count, count - 1);
        return NULL;
    }
    cudaError_t rc = cudaSetDevice(index);
    cudaDeviceProp prop;
    if (rc == cudaSuccess) rc = cudaGetDeviceProperties(&prop, index);
    if (rc != cudaSuccess) {
        snprintf(err, err_len, "cannot use GPU %d: %s", index, cudaGetErrorString(rc));
        (void)cudaGetLastError();
        return NULL;
    }
    g4g_device *dev = (g4g_device *)calloc(1, sizeof *dev);
    if (!dev) {
        snprintf(err, err_len, "out of host memory opening GPU %d", index);
        return NULL;
    }
    dev->index = index;
    dev->sm_count = prop.multiProcessorCount;
    dev->cc_major = prop.major;
    dev->cc_minor = prop.minor;
    dev->total_memory = prop.totalGlobalMem;
    dev->peak_bandwidth = peak_bandwidth(index);
    describe(dev, &prop);
    if ((rc = cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        snprintf(err, err_len, "cannot create a stream on GPU %d: %s", index, cudaGetErrorString(rc));
        (void)cudaGetLastError();
        free(dev);
        return NULL;
    }
#ifndef G4_HIP
    cublasStatus_t st = cublasCreate(&dev->blas);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasSetStream(dev->blas, dev->stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, err_len, "cannot start cuBLAS on GPU %d: %s", index, cublasGetStatusString(st));
        if (dev->blas) (void)cublasDestroy(dev->blas);
        (void)cudaStreamDestroy(dev->stream);
        free(dev);
        return NULL;
    }
#endif
    return dev;
}

void g4g_close(g4g_device *dev) {
    if (!dev) return;
    if (cudaSetDevice(dev->index) == cudaSuccess) {
        if (dev->capturing) { /* end a recording left open, and drop it */
            cudaGraph_t g = NULL;
            if (cudaStreamEndCapture(dev->stream, &g) == cudaSuccess && g) (void)cudaGraphDestroy(g);
        }
        (void)cudaStreamSynchronize(dev->stream);
#ifndef G4_HIP
        (void)cublasDestroy(dev->blas);
#endif
        if (dev->gemm_scratch) (void)cudaFree(dev->gemm_scratch);
        (void)cudaStreamDestroy(dev->stream);
    }
    (void)cudaGetLastError();
    free(dev);
}

const char *g4g_name(const g4g_device *dev) {
    return dev->name;
}

void g4g_memory(const g4g_device *dev, size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = *total_bytes = 0;
    if (cudaSetDevice(dev->index) != cudaSuccess || cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        *free_bytes = *total_bytes = 0;
    }
}

double g4g_peak_bandwidth(const g4g_device *dev) {
    return dev->peak_bandwidth;
}

/* ---- memory ---------------------------------------------------------------------- */

void *g4g_alloc(g4g_device *dev, size_t bytes) {
    if (!not_recording(dev, "g4g_alloc") || !g4g_use(dev)) return NULL;
    void *p = NULL;
    char what[96];
    snprintf(what, sizeof what, "cudaMalloc of %zu bytes", bytes);
    if (!g4g_ok(dev, cudaMalloc(&p, bytes ? bytes : 1), what)) return NULL;
    return p;
}

void g4g_free(g4g_device *dev, void *p) {
    if (!p || !not_recording(dev, "g4g_free") || !g4g_use(dev)) return;
    g4g_ok(dev, cudaFree(p), "cudaFree");
}

void *g4g_host_alloc(g4g_device *dev, size_t bytes) {
    if (!not_recording(dev, "g4g_host_alloc") || !g4g_use(dev)) return NULL;
    void *p = NULL;
    char what[96];
    snprintf(what, sizeof what, "cudaMallocHost of %zu bytes", bytes);
    if (!g4g_ok(dev, cudaMallocHost(&p, bytes ? bytes : 1), what)) return NULL;
    return p;
}

void g4g_host_free(g4g_device *dev, void *p) {
    if (!p || !not_recording(dev, "g4g_host_free") || !g4g_use(dev)) return;
    g4g_ok(dev, cudaFreeHost(p), "cudaFreeHost");
}

int g4g_upload(g4g_device *dev, void *dst, const void *host_src, size_t bytes) {
    if (!not_recording(dev, "g4g_upload") || !g4g_use(dev)) return -1;
    if (bytes == 0) return 0;
    if (!g4g_ok(dev, cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, dev->stream), "upload") ||
        !g4g_ok(dev, cudaStreamSynchronize(dev->stream), "upload (waiting for the copy)"))
        return -1;
    return 0;
}

void g4g_upload_async(g4g_device *dev, void *dst, const void *host_src, size_t bytes) {
    if (bytes == 0 || !g4g_use(dev)) return;
    g4g_ok(dev, cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, dev->stream), "upload_async");
}

int g4g_download(g4g_device *dev, void *host_dst, const void *src, size_t bytes) {
    if (!not_recording(dev, "g4g_download") || !g4g_use(dev)) return -1;
    if (bytes == 0) return 0;
    /* the copy is enqueued behind every earlier op, so it reads their results */
    if (!g4g_ok(dev, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, dev->stream), "download") ||
        !g4g_ok(dev, cudaStreamSynchronize(dev->stream), "download (waiting for the stream)"))
        return -1;
    return 0;
}

void g4g_copy(g4g_device *dev, void *dst, const void *src, size_t bytes) {
    if (bytes == 0 || !g4g_use(dev)) return;
    g4g_ok(dev, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, dev->stream), "copy");
}

void g4g_zero(g4g_device *dev, void *dst, size_t bytes) {
    if (bytes == 0 || !g4g_use(dev)) return;
    g4g_ok(dev, cudaMemsetAsync(dst, 0, bytes, dev->stream), "zero");
}

int g4g_sync(g4g_device *dev) {
    if (!not_recording(dev, "g4g_sync") || !g4g_use(dev)) return -1;
    g4g_ok(dev, cudaStreamSynchronize(dev->stream), "sync");
    return dev->error[0] ? -1 : 0;
}

/* ---- graphs ---------------------------------------------------------------------- */

int g4g_graph_begin(g4g_device *dev) {
    if (!not_recording(dev, "g4g_graph_begin") || !g4g_use(dev)) return -1;
    if (!g4g_ok(dev, cudaStreamBeginCapture(dev->stream, cudaStreamCaptureModeThreadLocal), "graph_begin"))
        return -1;
    dev->capturing = true;
    return 0;
}

/* A recording fails when ending or instantiating it fails, or when any error is
 * on record (one recorded op may be missing from the graph). */
int g4g_graph_end(g4g_device *dev, g4g_graph **out) {
    *out = NULL;
    if (!dev->capturing) {
        g4g_fail(dev, "g4g_graph_end: no graph is being recorded");
        return -1;
    }
    dev->capturing = false;
    if (!g4g_use(dev)) return -1;
    cudaGraph_t g = NULL;
    if (!g4g_ok(dev, cudaStreamEndCapture(dev->stream, &g), "graph_end")) {
        if (g) (void)cudaGraphDestroy(g);
        return -1;
    }
    if (dev->error[0]) {
        if (g) (void)cudaGraphDestroy(g);
        return -1;
    }
    cudaGraphExec_t exec = NULL;
    if (!g4g_ok(dev, cudaGraphInstantiateWithFlags(&exec, g, 0), "graph_end (instantiating)")) {
        (void)cudaGraphDestroy(g);
        return -1;
    }
    g4g_graph *graph = (g4g_graph *)malloc(sizeof *graph);
    if (!graph) {
        g4g_fail(dev, "graph_end: out of host memory");
        (void)cudaGraphExecDestroy(exec);
        (void)cudaGraphDestroy(g);
        return -1;
    }
    graph->g = g;
    graph->exec = exec;
    *out = graph;
    return 0;
}

void g4g_graph_launch(g4g_device *dev, g4g_graph *graph) {
    if (!g4g_use(dev)) return;
    g4g_ok(dev, cudaGraphLaunch(graph->exec, dev->stream), "graph_launch");
}

void g4g_graph_free(g4g_graph *graph) {
    if (!graph) return;
    (void)cudaGraphExecDestroy(graph->exec);
    (void)cudaGraphDestroy(graph->g);
    free(graph);
}
