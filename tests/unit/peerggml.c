/* peerggml.c: loading llama.cpp's ggml libraries for the tests (peerggml.h). */
#include "peerggml.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dir/name into path; 0 when G4_PEER_LIB_DIR is unset. */
static int lib_path(char *path, size_t size, const char *name) {
    const char *dir = getenv("G4_PEER_LIB_DIR");
    if (!dir || !*dir) return 0;
    snprintf(path, size, "%s/%s", dir, name);
    return 1;
}

int peer_base_open(peer_base *b) {
    memset(b, 0, sizeof *b);
    char path[4096];
    if (!lib_path(path, sizeof path, "libggml-base.so")) return -1;
    /* global: the CPU libraries resolve their calls into it */
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        printf("cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    b->lib = lib;
    *(void **)&b->type_traits = dlsym(lib, "ggml_get_type_traits");
    *(void **)&b->quantize_q8_K = dlsym(lib, "quantize_row_q8_K_ref");
    *(void **)&b->dequantize_q8_K = dlsym(lib, "dequantize_row_q8_K");
    if (!b->type_traits) {
        printf("%s has no ggml_get_type_traits\n", path);
        peer_base_close(b);
        return -1;
    }
    return 0;
}

void peer_base_close(peer_base *b) {
    if (b->lib) dlclose(b->lib);
    memset(b, 0, sizeof *b);
}

int peer_cpu_open(peer_cpu *c, const char *variant) {
    memset(c, 0, sizeof *c);
    char name[256], path[4096];
    snprintf(name, sizeof name, "libggml-cpu-%s.so", variant);
    if (!lib_path(path, sizeof path, name)) return -1;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    void (*cpu_init)(void) = NULL;
    int (*score)(void) = NULL; /* 0 when this CPU lacks the instructions the build uses */
    *(void **)&cpu_init = dlsym(lib, "ggml_cpu_init");
    *(void **)&score = dlsym(lib, "ggml_backend_score");
    *(void **)&c->type_traits = dlsym(lib, "ggml_get_type_traits_cpu");
    const char *why = !cpu_init || !score || !c->type_traits ? "lacks the functions used here"
                      : score() == 0                          ? "needs instructions this CPU lacks"
                                                              : NULL;
    if (why) {
        printf("cannot use %s: it %s\n", path, why);
        dlclose(lib);
        memset(c, 0, sizeof *c);
        return -1;
    }
    cpu_init();
    c->lib = lib;
    c->variant = variant;
    return 0;
}

void peer_cpu_close(peer_cpu *c) {
    if (c->lib) dlclose(c->lib);
    memset(c, 0, sizeof *c);
}
