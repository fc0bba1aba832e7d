/* tensor.c: sorting and lookup of tensor sets by name. */
#include "tensor.h"
#include "../base/error.h"

#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b) {
    return strcmp(((const g4_tensor *)a)->name, ((const g4_tensor *)b)->name);
}

int g4_tensor_set_sort(g4_tensor_set *set) {
    if (set->n > 1) qsort(set->tensors, set->n, sizeof *set->tensors, by_name);
    for (size_t i = 1; i < set->n; i++)
        if (strcmp(set->tensors[i - 1].name, set->tensors[i].name) == 0)
            return g4_error("duplicate tensor name '%s'", set->tensors[i].name);
    return 0;
}

const g4_tensor *g4_tensor_set_find(const g4_tensor_set *set, const char *name) {
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, set->tensors[mid].name);
        if (c == 0) return &set->tensors[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}
