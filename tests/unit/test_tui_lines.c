/* test_tui_lines.c: the chat UI's plain-text wrapping (app/tui/lines.c): exact lines for
 * known inputs, display widths of wide characters, and for random text of ASCII words, CJK,
 * emoji and invalid bytes at many widths: no line wider than the width, nothing lost. */
#include "tui/ui.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The lines as one string, each followed by '|'. */
static char *joined(const tui_lines *l) {
    tui_buf b = {0};
    for (int i = 0; i < l->n; i++) {
        tui_buf_append(&b, l->v[i].text, strlen(l->v[i].text));
        tui_buf_append(&b, "|", 1);
    }
    return b.s ? b.s : strdup("");
}

static void expect_wrap(const char *text, int width, const char *prefix, const char *want) {
    tui_lines l = {0};
    assert_int_equal(tui_lines_wrap(&l, text, strlen(text), width, prefix, 0, 0), 0);
    char *got = joined(&l);
    assert_string_equal(got, want);
    free(got);
    tui_lines_clear(&l);
}

static void test_wrap_words(void **state) {
    (void)state;
    expect_wrap("the quick brown fox jumps", 10, "", "the quick|brown fox|jumps|");
    expect_wrap("the quick brown fox jumps", 80, "", "the quick brown fox jumps|");
    expect_wrap("one\ntwo\n\nthree", 80, "", "one|two||three|");
    expect_wrap("", 10, "> ", "> |");
    expect_wrap("abcdefghijkl", 5, "", "abcde|fghij|kl|");       /* a long word is broken */
    expect_wrap("ab cd ef", 7, "  ", "  ab cd|  ef|");             /* the prefix counts */
    expect_wrap("日本語のテキスト", 6, "", "日本語|のテキ|スト|");    /* 2 columns each */
}

static void test_widths(void **state) {
    (void)state;
    assert_int_equal(tui_text_width("abc", 3), 3);
    assert_int_equal(tui_text_width("日本", strlen("日本")), 4);
    assert_int_equal(tui_text_width("e\xcc\x81", 3), 1);     /* combining acute: 0 columns */
    assert_int_equal(tui_text_width("\xff\xfe", 2), 2);      /* invalid bytes: 1 each */
    assert_int_equal(tui_text_width("🙂", strlen("🙂")), 2);
}

static void test_random_text_fits(void **state) {
    (void)state;
    static const char *const pieces[] = {"word", "a", "longerwordthanmost", "日本語", "🙂", "\xff", "e\xcc\x81", " ", " ", "\n"};
    srand(7);
    for (int round = 0; round < 300; round++) {
        tui_buf text = {0};
        int n = rand() % 60;
        for (int i = 0; i < n; i++) {
            const char *p = pieces[rand() % (int)(sizeof pieces / sizeof *pieces)];
            tui_buf_append(&text, p, strlen(p));
        }
        if (!text.s) tui_buf_append(&text, "", 0);
        int width = 4 + rand() % 60;
        tui_lines l = {0};
        assert_int_equal(tui_lines_wrap(&l, text.s, text.len, width, "", 0, 0), 0);
        size_t kept = 0;
        for (int i = 0; i < l.n; i++) {
            const char *s = l.v[i].text;
            assert_true(tui_text_width(s, strlen(s)) <= width);
            for (const char *c = s; *c; c++) kept += *c != ' ';
        }
        size_t want = 0; /* every byte but spaces and newlines survives */
        for (size_t i = 0; i < text.len; i++) want += text.s[i] != ' ' && text.s[i] != '\n';
        assert_int_equal(kept, want);
        tui_lines_clear(&l);
        tui_buf_free(&text);
    }
}

int main(void) {
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        printf("skip: no C.UTF-8 locale\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_words),
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_random_text_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
