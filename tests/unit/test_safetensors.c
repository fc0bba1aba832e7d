/* test_safetensors.c: the safetensors parser on the shared fixtures, checkpoint
 * directories (single file and a sharded copy written here), and small malformed
 * images, one per class of defect. */
#include "testutil.h"

#include "gemma4.h"
#include "model/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An image: 8-byte header length, the JSON text, then data_bytes of payload. */
static unsigned char *make_image(const char *json, size_t data_bytes, size_t *size) {
    size_t n = strlen(json);
    *size = 8 + n + data_bytes;
    unsigned char *p = malloc(*size);
    assert_non_null(p);
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(p + 8, json, n);
    for (size_t i = 0; i < data_bytes; i++) p[8 + n + i] = (unsigned char)i;
    return p;
}

static int is_zeroed(const g4_st_file *f) {
    return f->tensors.tensors == NULL && f->tensors.n == 0 && f->owned == NULL;
}

static void expect_fail_image(const unsigned char *p, size_t size, const char *words) {
    g4_st_file f;
    int rc = g4_st_parse(&f, p, size);
    if (rc == 0 || !strstr(g4_last_error(), words))
        fail_msg("expected failure with '%s', got rc %d: '%s'", words, rc, g4_last_error());
    assert_true(is_zeroed(&f));
}

static void expect_fail(const char *json, size_t data_bytes, const char *words) {
    size_t size;
    unsigned char *p = make_image(json, data_bytes, &size);
    expect_fail_image(p, size, words);
    free(p);
}

/* ---- fixtures ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    size_t n_tensors;
    const char *embed_name;
    int64_t embd;
    int type;
} fixture;

static const fixture fixtures[] = {
    { "dense-bf16", 86, "model.language_model.embed_tokens.weight", 64, G4_TYPE_BF16 },
    { "dense-tiny", 86, "model.language_model.embed_tokens.weight", 64, G4_TYPE_F32 },
    { "keqv", 85, "model.embed_tokens.weight", 96, G4_TYPE_F32 },
    { "moe", 133, "model.language_model.embed_tokens.weight", 64, G4_TYPE_F32 },
    { "ple-kvshare", 160, "model.language_model.embed_tokens.weight", 64, G4_TYPE_F32 },
};

static void test_fixture_files(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    for (size_t m = 0; m < sizeof fixtures / sizeof fixtures[0]; m++) {
        const fixture *fx = &fixtures[m];
        size_t size;
        unsigned char *buf = tu_read_file(
            tu_path("%s/fixtures/models/%s/model.safetensors", tu_shared(), fx->name), &size);
        assert_non_null(buf);
        g4_st_file f;
        if (g4_st_parse(&f, buf, size)) fail_msg("%s: %s", fx->name, g4_last_error());
        assert_int_equal(f.tensors.n, fx->n_tensors);
        const g4_tensor *t = g4_tensor_set_find(&f.tensors, fx->embed_name);
        assert_non_null(t);
        assert_int_equal(t->type, fx->type);
        assert_int_equal(t->n_dims, 2);
        assert_int_equal(t->ne[0], fx->embd);   /* HF [512, embd] -> ggml {embd, 512} */
        assert_int_equal(t->ne[1], 512);
        assert_int_equal(t->ne[2], 1);
        assert_int_equal(t->nbytes, (size_t)(512 * fx->embd * (fx->type == G4_TYPE_F32 ? 4 : 2)));
        assert_true((const unsigned char *)t->data > buf &&
                    (const unsigned char *)t->data + t->nbytes <= buf + size);
        for (size_t i = 1; i < f.tensors.n; i++)
            assert_true(strcmp(f.tensors.tensors[i - 1].name, f.tensors.tensors[i].name) < 0);
        g4_st_free(&f);
        free(buf);
    }
}

/* ---- directories --------------------------------------------------------------------- */

static const char *make_dir(const char *name) {
    const char *dir = tu_path("%s/%s", tu_tmpdir(), name);
    mkdir(dir, 0755);
    return dir;
}

static const char *dtype_name(int type) {
    return type == G4_TYPE_F32 ? "F32" : type == G4_TYPE_BF16 ? "BF16" : "F16";
}

/* Writes the tensors of src whose index i satisfies (i % 2 == parity), or all of
 * them when parity < 0, as a safetensors file. Adds an extra copy of `extra` if set. */
static void write_shard(const char *path, const g4_tensor_set *src, int parity,
                        const g4_tensor *extra) {
    json_t *root = json_object();
    size_t offset = 0;
    for (size_t i = 0; i <= src->n; i++) {
        const g4_tensor *t = i < src->n ? &src->tensors[i] : extra;
        if (!t || (i < src->n && parity >= 0 && (int)(i % 2) != parity)) continue;
        json_t *shape = json_array();
        for (int d = t->n_dims - 1; d >= 0; d--) json_array_append_new(shape, json_integer(t->ne[d]));
        json_object_set_new(root, t->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_name(t->type),
                                      "shape", shape, "data_offsets", (json_int_t)offset,
                                      (json_int_t)(offset + t->nbytes)));
        offset += t->nbytes;
    }
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *text = json_dumps(root, JSON_COMPACT);
    size_t size;
    unsigned char *image = make_image(text, offset, &size);
    unsigned char *data = image + 8 + strlen(text);
    for (size_t i = 0; i <= src->n; i++) {
        const g4_tensor *t = i < src->n ? &src->tensors[i] : extra;
        if (!t || (i < src->n && parity >= 0 && (int)(i % 2) != parity)) continue;
        memcpy(data, t->data, t->nbytes);
        data += t->nbytes;
    }
    assert_int_equal(tu_write_file(path, image, size), 0);
    free(image);
    free(text);
    json_decref(root);
}

/* Writes an index mapping even tensors to shard A and odd ones to shard B. */
static void write_index(const char *dir, const g4_tensor_set *src, const char *shard_a,
                        const char *shard_b, const char *extra_name) {
    json_t *map = json_object();
    for (size_t i = 0; i < src->n; i++)
        json_object_set_new(map, src->tensors[i].name, json_string(i % 2 ? shard_b : shard_a));
    if (extra_name) json_object_set_new(map, extra_name, json_string(shard_a));
    json_t *root = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 0, "weight_map", map);
    assert_int_equal(json_dump_file(root, tu_path("%s/model.safetensors.index.json", dir), 0), 0);
    json_decref(root);
}

static void expect_same_tensors(const g4_tensor_set *a, const g4_tensor_set *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const g4_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_dims, y->n_dims);
        assert_memory_equal(x->ne, y->ne, sizeof x->ne);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
    }
}

static void expect_dir_fails(const char *dir, const char *words) {
    g4_st_dir d;
    int rc = g4_st_open_dir(&d, dir);
    if (rc == 0 || !strstr(g4_last_error(), words))
        fail_msg("%s: expected failure with '%s', got rc %d: '%s'", dir, words, rc, g4_last_error());
    assert_int_equal(d.n_files, 0);
    assert_null(d.tensors.tensors);
}

static void test_directories(void **state) {
    (void)state;
    if (!tu_shared()) skip();
    g4_st_dir ref;
    const char *fixture_dir = tu_path("%s/fixtures/models/dense-tiny", tu_shared());
    if (g4_st_open_dir(&ref, fixture_dir)) fail_msg("%s", g4_last_error());
    assert_int_equal(ref.n_files, 1);
    assert_int_equal(ref.tensors.n, 86);
    const g4_tensor_set *src = &ref.tensors;

    /* A faithful two-shard copy loads to the same set. */
    const char *dir = make_dir("sharded");
    write_shard(tu_path("%s/a.safetensors", dir), src, 0, NULL);
    write_shard(tu_path("%s/b.safetensors", dir), src, 1, NULL);
    write_index(dir, src, "a.safetensors", "b.safetensors", NULL);
    g4_st_dir d;
    if (g4_st_open_dir(&d, dir)) fail_msg("%s", g4_last_error());
    assert_int_equal(d.n_files, 2);
    expect_same_tensors(&d.tensors, &ref.tensors);
    g4_st_close_dir(&d);

    /* A single rewritten file too. */
    dir = make_dir("single");
    write_shard(tu_path("%s/model.safetensors", dir), src, -1, NULL);
    if (g4_st_open_dir(&d, dir)) fail_msg("%s", g4_last_error());
    expect_same_tensors(&d.tensors, &ref.tensors);
    g4_st_close_dir(&d);

    dir = make_dir("missing-shard");
    write_shard(tu_path("%s/a.safetensors", dir), src, 0, NULL);
    write_index(dir, src, "a.safetensors", "b.safetensors", NULL);
    expect_dir_fails(dir, "names shard 'b.safetensors': cannot open");

    dir = make_dir("absent-tensor");
    write_shard(tu_path("%s/a.safetensors", dir), src, 0, NULL);
    write_shard(tu_path("%s/b.safetensors", dir), src, 1, NULL);
    write_index(dir, src, "a.safetensors", "b.safetensors", "ghost.weight");
    expect_dir_fails(dir, "index names tensor 'ghost.weight' in shard 'a.safetensors', but that "
                          "shard does not have it");

    dir = make_dir("two-shards");
    write_shard(tu_path("%s/a.safetensors", dir), src, 0, NULL);
    write_shard(tu_path("%s/b.safetensors", dir), src, 1, &src->tensors[0]);
    write_index(dir, src, "a.safetensors", "b.safetensors", NULL);
    expect_dir_fails(dir, tu_path("tensor '%s' appears in two shards, 'a.safetensors' and "
                                  "'b.safetensors'", src->tensors[0].name));

    dir = make_dir("unlisted");
    write_shard(tu_path("%s/b.safetensors", dir), src, 1, NULL);
    g4_tensor renamed = src->tensors[0];
    renamed.name = "zz.unlisted";
    write_shard(tu_path("%s/a.safetensors", dir), src, 0, &renamed);
    write_index(dir, src, "a.safetensors", "b.safetensors", NULL);
    expect_dir_fails(dir, "tensor 'zz.unlisted' in shard 'a.safetensors' is not listed");

    dir = make_dir("slash");
    write_index(dir, src, "a.safetensors", "../b.safetensors", NULL);
    expect_dir_fails(dir, "names shard '../b.safetensors', which is not a plain file name");
    write_index(dir, src, "a.safetensors", "sub/b.safetensors", NULL);
    expect_dir_fails(dir, "which is not a plain file name");

    dir = make_dir("bad-index");
    assert_int_equal(tu_write_file(tu_path("%s/model.safetensors.index.json", dir), "{\"x\":1}", 7), 0);
    expect_dir_fails(dir, "missing or non-object \"weight_map\"");
    assert_int_equal(tu_write_file(tu_path("%s/model.safetensors.index.json", dir), "{", 1), 0);
    expect_dir_fails(dir, "bad JSON");

    dir = make_dir("empty");
    expect_dir_fails(dir, tu_path("no model.safetensors or model.safetensors.index.json in %s", dir));

    g4_st_close_dir(&ref);
}

/* ---- malformed images ------------------------------------------------------------------ */

#define OK_ENTRY "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"

static void test_small_valid_images(void **state) {
    (void)state;
    size_t size;
    unsigned char *p = make_image(
        "{\"__metadata__\":{\"format\":\"pt\"}," OK_ENTRY ","
        "\"ids\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]},"
        "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[48,50]},"
        "\"e\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[50,50]},"
        "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[1,2,2,2],\"data_offsets\":[50,58]}}   ",
        58, &size);
    g4_st_file f;
    if (g4_st_parse(&f, p, size)) fail_msg("%s", g4_last_error());
    assert_int_equal(f.tensors.n, 5);
    const g4_tensor *t = g4_tensor_set_find(&f.tensors, "w");
    assert_int_equal(t->type, G4_TYPE_F32);
    assert_int_equal(t->ne[0], 3);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->nbytes, 24);
    assert_ptr_equal(t->data, p + size - 58);
    t = g4_tensor_set_find(&f.tensors, "ids");
    assert_int_equal(t->type, G4_TYPE_UNKNOWN);
    assert_int_equal(t->nbytes, 24);
    t = g4_tensor_set_find(&f.tensors, "s");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(g4_tensor_nelements(t), 1);
    t = g4_tensor_set_find(&f.tensors, "e");
    assert_int_equal(t->ne[0], 5);
    assert_int_equal(t->ne[1], 0);
    assert_int_equal(t->nbytes, 0);
    t = g4_tensor_set_find(&f.tensors, "q");
    assert_int_equal(t->n_dims, 4);
    assert_int_equal(t->ne[3], 1);
    assert_null(g4_tensor_set_find(&f.tensors, "__metadata__"));
    g4_st_free(&f);
    free(p);

    p = make_image("{}", 0, &size);
    assert_int_equal(g4_st_parse(&f, p, size), 0);
    assert_int_equal(f.tensors.n, 0);
    g4_st_free(&f);
    free(p);
}

static void test_bad_header_length(void **state) {
    (void)state;
    size_t size;
    unsigned char *p = make_image("{" OK_ENTRY "}", 24, &size);
    p[0] += 100;
    expect_fail_image(p, size, "extends past the end of the file");
    memset(p, 0xff, 8);
    expect_fail_image(p, size, "header length 18446744073709551615 extends past the end");
    expect_fail_image(p, 5, "truncated header length");
    free(p);
}

static void test_bad_json(void **state) {
    (void)state;
    expect_fail("{\"w\":", 0, "bad JSON header");
    expect_fail("", 0, "bad JSON header");
    expect_fail("[1,2]", 0, "header is not a JSON object");
    expect_fail("{" OK_ENTRY "," OK_ENTRY "}", 24, "duplicate");
    expect_fail("{\"__metadata__\":[1]}", 0, "\"__metadata__\" is not an object");
    expect_fail("{\"__metadata__\":{\"a\":1}}", 0, "\"__metadata__\" entry 'a' is not a string");
    expect_fail("{\"w\":5}", 0, "tensor 'w': entry is not an object");
}

static void test_bad_entries(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w': missing or non-string \"dtype\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing or non-array \"shape\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "missing \"data_offsets\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                "shape entry 0 is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2, 2.5],\"data_offsets\":[0,8]}}", 8,
                "shape entry 1 is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                "shape entry 0 is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                "data_offsets [8, 0] are reversed");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,7]}}", 8,
                "data_offsets are not non-negative integers");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8,
                "data_offsets end 16 is past the end of the data section (8 bytes)");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16,
                "data_offsets span 8 bytes but 3 F32 elements need 12");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
                8, "shape product overflows");
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,8]}}",
                8, "shape product overflows");
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}",
                8, "byte size of 4611686018427387904 F64 elements overflows");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
                "shape has 5 dimensions (at most 4 are supported)");
    expect_fail("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                "unknown dtype 'Q4_K'");
    expect_fail("{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                "missing or non-string \"dtype\"");
}

static void test_every_truncation_fails(void **state) {
    (void)state;
    size_t size;
    unsigned char *p = make_image(
        "{\"__metadata__\":{\"format\":\"pt\"}," OK_ENTRY ","
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}", 32, &size);
    g4_st_file f;
    assert_int_equal(g4_st_parse(&f, p, size), 0);
    g4_st_free(&f);
    for (size_t n = 0; n < size; n++) {
        unsigned char *copy = malloc(n ? n : 1);   /* exact size, so ASan sees overreads */
        memcpy(copy, p, n);
        if (g4_st_parse(&f, copy, n) == 0) fail_msg("prefix of %zu bytes parsed", n);
        assert_true(is_zeroed(&f));
        free(copy);
    }
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_files),
        cmocka_unit_test(test_directories),
        cmocka_unit_test(test_small_valid_images),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_every_truncation_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
