/* safetensors.c: strict, zero-copy parsing of safetensors files (an 8-byte header
 * length, a JSON header, then the tensor bytes) and of checkpoint directories,
 * either one model.safetensors or shards listed by model.safetensors.index.json.
 * Shapes are reversed into ggml order; every offset and size is checked. */
#include "safetensors.h"
#include "../base/error.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER_BYTES (100u << 20)

typedef struct {
    const char *name;
    int elem_size;
    enum g4_type type;      /* G4_TYPE_UNKNOWN: kept and checked, but not computable */
} dtype_info;

static const dtype_info dtypes[] = {
    { "F32", 4, G4_TYPE_F32 },        { "F16", 2, G4_TYPE_F16 },
    { "BF16", 2, G4_TYPE_BF16 },      { "F64", 8, G4_TYPE_UNKNOWN },
    { "I64", 8, G4_TYPE_UNKNOWN },    { "I32", 4, G4_TYPE_UNKNOWN },
    { "I16", 2, G4_TYPE_UNKNOWN },    { "I8", 1, G4_TYPE_UNKNOWN },
    { "U8", 1, G4_TYPE_UNKNOWN },     { "BOOL", 1, G4_TYPE_UNKNOWN },
    { "F8_E4M3", 1, G4_TYPE_UNKNOWN }, { "F8_E5M2", 1, G4_TYPE_UNKNOWN },
    { "U16", 2, G4_TYPE_UNKNOWN },    { "U32", 4, G4_TYPE_UNKNOWN },
    { "U64", 8, G4_TYPE_UNKNOWN },
};

static const dtype_info *find_dtype(const char *name) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
    return NULL;
}

/* A non-negative JSON integer, or -1. */
static int64_t json_count(const json_t *v) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 ? -1 : (int64_t)x;
}

/* ---- one file -------------------------------------------------------------------- */

/* Reads "shape" into t->ne (reversed into ggml order) and returns the element count. */
static int read_shape(const json_t *entry, g4_tensor *t, uint64_t *elements) {
    const json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape)) return g4_error("missing or non-array \"shape\"");
    size_t n = json_array_size(shape);
    if (n > G4_MAX_DIMS)
        return g4_error("shape has %zu dimensions (at most %d are supported)", n, G4_MAX_DIMS);
    /* A 0-d scalar becomes a 1-d tensor of one element, as in GGUF. */
    t->n_dims = n > 0 ? (int)n : 1;
    for (int d = 0; d < G4_MAX_DIMS; d++) t->ne[d] = 1;
    uint64_t nonzero_product = 1;
    bool has_zero = false;
    for (size_t i = 0; i < n; i++) {
        int64_t dim = json_count(json_array_get(shape, i));
        if (dim < 0) return g4_error("shape entry %zu is not a non-negative integer", i);
        if (dim == 0) has_zero = true;
        else if ((uint64_t)dim > INT64_MAX / nonzero_product)
            return g4_error("shape product overflows at entry %zu (%" PRId64 ")", i, dim);
        else nonzero_product *= (uint64_t)dim;
        t->ne[n - 1 - i] = dim;
    }
    *elements = has_zero ? 0 : nonzero_product;
    return 0;
}

static int read_entry(const json_t *entry, const unsigned char *data, size_t data_size,
                      g4_tensor *t) {
    if (!json_is_object(entry)) return g4_error("entry is not an object");
    const json_t *dtype_json = json_object_get(entry, "dtype");
    if (!json_is_string(dtype_json)) return g4_error("missing or non-string \"dtype\"");
    const dtype_info *dtype = find_dtype(json_string_value(dtype_json));
    if (!dtype) return g4_error("unknown dtype '%s'", json_string_value(dtype_json));
    t->type = dtype->type;

    uint64_t elements = 0;
    if (read_shape(entry, t, &elements)) return -1;

    const json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_array(offsets) || json_array_size(offsets) != 2)
        return g4_error("missing \"data_offsets\" or it is not [begin, end]");
    int64_t begin = json_count(json_array_get(offsets, 0));
    int64_t end = json_count(json_array_get(offsets, 1));
    if (begin < 0 || end < 0) return g4_error("data_offsets are not non-negative integers");
    if (begin > end)
        return g4_error("data_offsets [%" PRId64 ", %" PRId64 "] are reversed", begin, end);
    if ((uint64_t)end > data_size)
        return g4_error("data_offsets end %" PRId64 " is past the end of the data section "
                        "(%zu bytes)", end, data_size);
    if (elements > UINT64_MAX / (uint64_t)dtype->elem_size)
        return g4_error("byte size of %" PRIu64 " %s elements overflows", elements, dtype->name);
    uint64_t nbytes = elements * (uint64_t)dtype->elem_size;
    if (nbytes != (uint64_t)(end - begin))
        return g4_error("data_offsets span %" PRId64 " bytes but %" PRIu64 " %s elements need %"
                        PRIu64, end - begin, elements, dtype->name, nbytes);
    t->data = data + begin;
    t->nbytes = (size_t)nbytes;
    return 0;
}

static int check_metadata(const json_t *meta) {
    if (!json_is_object(meta)) return g4_error("\"__metadata__\" is not an object");
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)meta, key, value)
        if (!json_is_string(value)) return g4_error("\"__metadata__\" entry '%s' is not a string", key);
    return 0;
}

static int parse_header(g4_st_file *out, const json_t *root, const unsigned char *data,
                        size_t data_size) {
    if (!json_is_object(root)) return g4_error("header is not a JSON object");
    const json_t *meta = json_object_get(root, "__metadata__");
    if (meta && check_metadata(meta)) return -1;

    size_t n = json_object_size(root) - (meta ? 1 : 0), names_bytes = 0;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value) names_bytes += strlen(key) + 1;
    out->tensors.tensors = calloc(n ? n : 1, sizeof *out->tensors.tensors);
    char *names = out->owned = malloc(names_bytes ? names_bytes : 1);
    if (!out->tensors.tensors || !names) return g4_error("out of memory for %zu tensors", n);

    json_object_foreach((json_t *)root, key, value) {
        if (value == meta) continue;
        g4_tensor *t = &out->tensors.tensors[out->tensors.n++];
        size_t len = strlen(key) + 1;
        memcpy(names, key, len);
        t->name = names;
        names += len;
        if (read_entry(value, data, data_size, t)) return g4_error_prefix("tensor '%s'", key);
    }
    return g4_tensor_set_sort(&out->tensors);
}

int g4_st_parse(g4_st_file *out, const void *buf, size_t size) {
    memset(out, 0, sizeof *out);
    const unsigned char *bytes = buf;
    if (size < 8)
        return g4_error("truncated header length: the file has %zu bytes, needs at least 8", size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
    if (header_len > size - 8)
        return g4_error("header length %" PRIu64 " extends past the end of the file (%zu bytes)",
                        header_len, size);
    if (header_len > ST_MAX_HEADER_BYTES)
        return g4_error("header length %" PRIu64 " exceeds the %u-byte limit", header_len,
                        ST_MAX_HEADER_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return g4_error("bad JSON header: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    const unsigned char *data = bytes + 8 + header_len;
    int rc = parse_header(out, root, data, size - 8 - (size_t)header_len);
    json_decref(root);
    if (rc) g4_st_free(out);
    return rc;
}

void g4_st_free(g4_st_file *f) {
    if (!f) return;
    free(f->tensors.tensors);
    free(f->owned);
    memset(f, 0, sizeof *f);
}

/* ---- checkpoint directories ------------------------------------------------------ */

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    else g4_error("out of memory");
    return p;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Maps and parses dir/name as the directory's file number i. */
static int load_shard(g4_st_dir *d, size_t i, const char *dir, const char *name) {
    char *path = join_path(dir, name);
    if (!path) return -1;
    int rc = g4_map_file(&d->files[i], path);
    if (rc == 0 && g4_st_parse(&d->parsed[i], d->files[i].data, d->files[i].size))
        rc = g4_error_prefix("%s", path);
    free(path);
    return rc;
}

/* Which of the directory's files holds NAME, starting from file `from`; n_files if none. */
static size_t file_with_tensor(const g4_st_dir *d, const char *name, size_t from) {
    for (size_t i = from; i < d->n_files; i++)
        if (g4_tensor_set_find(&d->parsed[i].tensors, name)) return i;
    return d->n_files;
}

/* Merges every file's tensors into d->tensors; a name in two files is an error. */
static int merge_tensors(g4_st_dir *d, const char *const *file_names) {
    size_t total = 0;
    for (size_t i = 0; i < d->n_files; i++) total += d->parsed[i].tensors.n;
    d->tensors.tensors = calloc(total ? total : 1, sizeof *d->tensors.tensors);
    if (!d->tensors.tensors) return g4_error("out of memory for %zu tensors", total);
    for (size_t i = 0; i < d->n_files; i++) {
        memcpy(d->tensors.tensors + d->tensors.n, d->parsed[i].tensors.tensors,
               d->parsed[i].tensors.n * sizeof *d->tensors.tensors);
        d->tensors.n += d->parsed[i].tensors.n;
    }
    if (g4_tensor_set_sort(&d->tensors) == 0) return 0;
    for (size_t i = 1; i < d->tensors.n; i++) {
        const char *name = d->tensors.tensors[i].name;
        if (strcmp(d->tensors.tensors[i - 1].name, name) != 0) continue;
        size_t a = file_with_tensor(d, name, 0), b = file_with_tensor(d, name, a + 1);
        if (b < d->n_files)
            return g4_error("tensor '%s' appears in two shards, '%s' and '%s'", name,
                            file_names[a], file_names[b]);
    }
    return -1;
}

/* Checks that each tensor of the weight map is in the shard it names, and that
 * every tensor in the shards is listed. */
static int check_weight_map(const g4_st_dir *d, const json_t *weight_map,
                            const char *const *shards) {
    const char *tensor;
    const json_t *value;
    json_object_foreach((json_t *)weight_map, tensor, value) {
        const char *shard = json_string_value(value);
        const char *const *found = bsearch(&shard, shards, d->n_files, sizeof *shards, by_string);
        size_t i = (size_t)(found - shards);
        if (!g4_tensor_set_find(&d->parsed[i].tensors, tensor))
            return g4_error("the index names tensor '%s' in shard '%s', but that shard does not "
                            "have it", tensor, shard);
    }
    for (size_t i = 0; i < d->n_files; i++)
        for (size_t k = 0; k < d->parsed[i].tensors.n; k++) {
            const char *name = d->parsed[i].tensors.tensors[k].name;
            if (!json_object_get(weight_map, name))
                return g4_error("tensor '%s' in shard '%s' is not listed in the index", name,
                                shards[i]);
        }
    return 0;
}

/* Reads the index's weight map and returns its distinct shard names, sorted. */
static int read_index(json_t *root, const json_t **weight_map, const char ***shards,
                      size_t *n_shards) {
    *weight_map = json_object_get(root, "weight_map");
    if (!json_is_object(*weight_map)) return g4_error("missing or non-object \"weight_map\"");
    size_t n = json_object_size(*weight_map), distinct = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) return g4_error("out of memory");
    const char *tensor;
    const json_t *value;
    json_object_foreach((json_t *)*weight_map, tensor, value) {
        const char *file = json_string_value(value);
        if (!file) {
            free(names);
            return g4_error("weight_map entry '%s' is not a string", tensor);
        }
        if (!file[0] || strchr(file, '/') || strstr(file, "..")) {
            free(names);
            return g4_error("weight_map entry '%s' names shard '%s', which is not a plain file "
                            "name", tensor, file);
        }
        names[distinct++] = file;
    }
    if (distinct > 1) qsort(names, distinct, sizeof *names, by_string);
    size_t unique = 0;
    for (size_t i = 0; i < distinct; i++)
        if (unique == 0 || strcmp(names[unique - 1], names[i]) != 0) names[unique++] = names[i];
    if (unique == 0) {
        free(names);
        return g4_error("\"weight_map\" is empty");
    }
    *shards = names;
    *n_shards = unique;
    return 0;
}

static int open_sharded(g4_st_dir *out, const char *dir, const char *index_path) {
    g4_mapped_file index_file;
    if (g4_map_file(&index_file, index_path)) return -1;
    json_error_t jerr;
    json_t *root = index_file.size ? json_loadb((const char *)index_file.data, index_file.size,
                                                JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!root) {
        if (index_file.size) g4_error("%s: bad JSON: %s (line %d)", index_path, jerr.text, jerr.line);
        else g4_error("%s is empty", index_path);
        g4_unmap_file(&index_file);
        return -1;
    }
    const json_t *weight_map = NULL;
    const char **shards = NULL;
    int rc = read_index(root, &weight_map, &shards, &out->n_files);
    if (rc) g4_error_prefix("%s", index_path);
    if (rc == 0) {
        out->files = calloc(out->n_files, sizeof *out->files);
        out->parsed = calloc(out->n_files, sizeof *out->parsed);
        if (!out->files || !out->parsed) rc = g4_error("out of memory");
    }
    for (size_t i = 0; rc == 0 && i < out->n_files; i++)
        if (load_shard(out, i, dir, shards[i]))
            rc = g4_error_prefix("%s names shard '%s'", index_path, shards[i]);
    if (rc == 0 && merge_tensors(out, shards)) rc = g4_error_prefix("%s", dir);
    if (rc == 0 && check_weight_map(out, weight_map, shards)) rc = g4_error_prefix("%s", index_path);
    free(shards);
    json_decref(root);
    g4_unmap_file(&index_file);
    return rc;
}

static int open_single(g4_st_dir *out, const char *dir, const char *name) {
    out->n_files = 1;
    out->files = calloc(1, sizeof *out->files);
    out->parsed = calloc(1, sizeof *out->parsed);
    if (!out->files || !out->parsed) return g4_error("out of memory");
    if (load_shard(out, 0, dir, name)) return -1;
    const char *names[] = { name };
    return merge_tensors(out, names);
}

int g4_st_open_dir(g4_st_dir *out, const char *dir) {
    memset(out, 0, sizeof *out);
    char *index_path = join_path(dir, "model.safetensors.index.json");
    char *single_path = join_path(dir, "model.safetensors");
    int rc;
    if (!index_path || !single_path) rc = -1;
    else if (file_exists(index_path)) rc = open_sharded(out, dir, index_path);
    else if (file_exists(single_path)) rc = open_single(out, dir, "model.safetensors");
    else rc = g4_error("no model.safetensors or model.safetensors.index.json in %s", dir);
    free(index_path);
    free(single_path);
    if (rc) g4_st_close_dir(out);
    return rc;
}

void g4_st_close_dir(g4_st_dir *d) {
    if (!d) return;
    free(d->tensors.tensors);
    for (size_t i = 0; i < d->n_files; i++) {
        if (d->parsed) g4_st_free(&d->parsed[i]);
        if (d->files) g4_unmap_file(&d->files[i]);
    }
    free(d->parsed);
    free(d->files);
    free(d->owned);
    memset(d, 0, sizeof *d);
}
