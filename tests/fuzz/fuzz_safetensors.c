/* fuzz_safetensors.c: libFuzzer target for the safetensors parser. On a successful
 * parse it touches every tensor's name and first and last data byte, so that an
 * offset that escapes the input shows up under AddressSanitizer. */
#include "model/safetensors.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    g4_st_file f;
    if (g4_st_parse(&f, data, size) != 0) return 0;
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < f.tensors.n; i++) {
        const g4_tensor *t = &f.tensors.tensors[i];
        sink ^= (unsigned char)strlen(t->name);
        if (t->nbytes) {
            sink ^= ((const unsigned char *)t->data)[0];
            sink ^= ((const unsigned char *)t->data)[t->nbytes - 1];
        }
        if (t->n_dims < 1 || t->n_dims > G4_MAX_DIMS) __builtin_trap();
        if (g4_tensor_set_find(&f.tensors, t->name) != t) __builtin_trap();
    }
    (void)sink;
    g4_st_free(&f);
    return 0;
}
