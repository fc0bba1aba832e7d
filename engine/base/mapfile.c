/* mapfile.c: mmap of model files, with errors that name the file. */
#include "mapfile.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int g4_map_file(g4_mapped_file *out, const char *path) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return g4_error("cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return g4_error("cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return g4_error("%s is not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g4_error("cannot map %s: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void g4_unmap_file(g4_mapped_file *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

/* [p, p + n) widened to whole pages. */
static void whole_pages(const void *p, size_t n, uintptr_t *start, uintptr_t *end) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    *start = (uintptr_t)p / page * page;
    *end = ((uintptr_t)p + n + page - 1) / page * page;
}

void g4_map_prefetch(const void *p, size_t n) {
    uintptr_t start, end;
    whole_pages(p, n, &start, &end);
    madvise((void *)start, end - start, MADV_POPULATE_READ);
}

void g4_map_release(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t start = ((uintptr_t)p + page - 1) / page * page, end = ((uintptr_t)p + n) / page * page;
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}
