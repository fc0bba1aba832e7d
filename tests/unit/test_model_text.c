/* test_model_text.c: what a loaded model brings for the text layer: its
 * tokenizer, its chat template (GGUF tokenizer.chat_template, HF
 * chat_template.jinja or tokenizer_config.json, else the built-in canonical
 * one) and its sampling defaults (generation_config.json). */
#include "testutil.h"
#include "gemma4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_text(const char *path, const char *text) { return tu_write_file(path, text, strlen(text)); }

static void test_gguf_brings_vocab_and_template(void **state) {
    (void)state;
    if (!tu_shared()) { skip(); return; }
    g4_model *m = g4_model_load(tu_path("%s/fixtures/models/moe/model.gguf", tu_shared()));
    assert_non_null(m);
    const g4_vocab *v = g4_model_vocab(m);
    assert_non_null(v);
    assert_int_equal(g4_vocab_size(v), 512);
    assert_int_equal(g4_vocab_bos(v), 2);
    const char *tpl = g4_model_chat_template(m);
    assert_non_null(tpl);
    assert_true(tpl != g4_chat_template_builtin(0) && tpl != g4_chat_template_builtin(1)); /* the file's own */
    assert_non_null(strstr(tpl, "format_parameters"));
    g4_sampler_params p = g4_model_sampler_params(m), d = g4_sampler_default_params();
    assert_true(p.temperature == d.temperature && p.top_k == d.top_k && p.top_p == d.top_p);
    g4_model_free(m);
}

static void test_hf_dir_template_and_generation_config(void **state) {
    (void)state;
    if (!tu_shared()) { skip(); return; }
    const char *dir = tu_path("%s/hf", tu_tmpdir());
    const char *src = tu_path("%s/fixtures/models/dense-tiny", tu_shared());
    assert_int_equal(tu_system("mkdir -p %s && cp %s/config.json %s/model.safetensors %s/", dir, src, src, dir), 0);

    /* no template, no tokenizer, no generation config: built-in template (small: dense), defaults */
    g4_model *m = g4_model_load(dir);
    assert_non_null(m);
    assert_null(g4_model_vocab(m));
    assert_ptr_equal(g4_model_chat_template(m), g4_chat_template_builtin(0));
    g4_model_free(m);

    /* tokenizer_config.json's chat_template, then chat_template.jinja over it */
    assert_int_equal(write_text(tu_path("%s/tokenizer_config.json", dir), "{\"chat_template\": \"T1{{ x }}\"}"), 0);
    assert_int_equal(write_text(tu_path("%s/generation_config.json", dir),
                                "{\"do_sample\": true, \"temperature\": 0.7, \"top_k\": 20, \"top_p\": 0.8}"), 0);
    m = g4_model_load(dir);
    assert_non_null(m);
    assert_string_equal(g4_model_chat_template(m), "T1{{ x }}");
    g4_sampler_params p = g4_model_sampler_params(m);
    assert_true(p.temperature > 0.69f && p.temperature < 0.71f);
    assert_int_equal(p.top_k, 20);
    g4_model_free(m);
    assert_int_equal(write_text(tu_path("%s/chat_template.jinja", dir), "T2"), 0);
    m = g4_model_load(dir);
    assert_non_null(m);
    assert_string_equal(g4_model_chat_template(m), "T2");
    g4_model_free(m);

    /* a malformed generation_config.json is an error naming the file */
    assert_int_equal(write_text(tu_path("%s/generation_config.json", dir), "{\"top_k\": -3}"), 0);
    assert_null(g4_model_load(dir));
    assert_non_null(strstr(g4_last_error(), "generation_config.json"));
    tu_system("rm -rf %s", dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_brings_vocab_and_template),
        cmocka_unit_test(test_hf_dir_template_and_generation_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
