/* emu_internal.h: what the parts of the emulated GPU share: the stream queue that
 * launches, copies and GEMMs go through (runtime.cpp), the grid runner
 * (threads.cpp), and the checks of device addresses. Not seen by kernels. */
#ifndef G4_GPU_EMU_INTERNAL_H
#define G4_GPU_EMU_INTERNAL_H

#include "cuda_runtime.h"

#include <functional>

namespace g4emu {

/* Queues op on stream (0: the default stream), or records it when the stream is
 * being captured. cudaSuccess, or the error that refused it. */
cudaError_t enqueue(cudaStream_t stream, std::function<void()> op);

/* Whether [p, p + bytes) lies inside one live device allocation. */
bool is_device_range(const void *p, size_t bytes);

/* Records error as the calling thread's last error and returns it. */
cudaError_t set_error(cudaError_t error);

/* Runs every block of a launch, one after another (threads.cpp). */
void run_grid(const launch_config &cfg, const char *name, const char *file, int line,
              const std::function<void()> &body);

/* Prints "g4emu: what" and aborts: a kernel or API misuse a GPU would not forgive. */
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace g4emu

#endif
