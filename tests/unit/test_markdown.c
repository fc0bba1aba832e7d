/* test_markdown.c: the Markdown renderer (app/tui/markdown.h). Expected lines
 * are written by hand from the layout rules in markdown.h and the brief (word
 * wrap, "│ " gutters, "•◦▪" bullets with hanging indent, code cut with "↩",
 * box-drawing tables shrunk to the width), at widths 80, 30 and 10; styles are
 * checked on the words they colour. Every rendered document is also checked
 * against the invariants the UI relies on: each line within the width (its
 * width recomputed with the C library's wcswidth), valid UTF-8 without control
 * characters, spans in order covering the line. Partial documents (as streamed),
 * invalid UTF-8 and random input, and the time to render 20 KB (printed, not
 * asserted). */
#include "testutil.h"

#include "tui/markdown.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

/* ---- invariants ------------------------------------------------------------ */

/* Columns of a line by the C library (mbstowcs + wcswidth), an independent
 * reference for the renderer's own count; -1 for invalid or unprintable text. */
static int reference_width(const char *text) {
    size_t n = mbstowcs(NULL, text, 0);
    if (n == (size_t)-1) return -1;
    wchar_t *w = calloc(n + 1, sizeof *w);
    assert_non_null(w);
    mbstowcs(w, text, n + 1);
    int width = wcswidth(w, n);
    free(w);
    return width;
}

static void check_doc(const md_doc *d, int width) {
    for (int i = 0; i < d->n_lines; i++) {
        const md_line *l = &d->lines[i];
        assert_int_equal(l->len, (int)strlen(l->text));
        assert_true(l->width <= width);
        assert_int_equal(l->width, md_display_width(l->text, (size_t)l->len));
        for (int k = 0; k < l->len; k++) assert_true((unsigned char)l->text[k] >= 0x20 && l->text[k] != 0x7F);
        int pos = 0;
        for (int k = 0; k < l->n_spans; k++) {
            const md_span *s = &l->spans[k];
            assert_int_equal(s->start, pos);
            assert_true(s->len > 0);
            if (s->style & MD_HEADING) assert_true(s->level >= 1 && s->level <= 6);
            else assert_int_equal(s->level, 0);
            pos += s->len;
        }
        assert_int_equal(pos, l->len);
    }
}

/* Renders and checks the invariants, and the width against wcswidth when the
 * text is made of characters the C library knows. */
static void render(const char *md, size_t len, int width, md_doc *d) {
    assert_int_equal(md_render(md, len, width, d), 0);
    check_doc(d, width);
    for (int i = 0; i < d->n_lines; i++) {
        int ref = reference_width(d->lines[i].text);
        if (ref >= 0) assert_int_equal(ref, d->lines[i].width);
    }
}

/* ---- helpers --------------------------------------------------------------- */

static void expect_plain(const char *md, int width, const char *expected) {
    md_doc d;
    render(md, strlen(md), width, &d);
    md_doc_free(&d);
    char *text = md_render_plain(md, strlen(md), width);
    assert_non_null(text);
    if (strcmp(text, expected) != 0) {
        fprintf(stderr, "width %d, markdown:\n%s\n--- expected:\n%s--- got:\n%s---\n", width, md, expected, text);
        fail();
    }
    free(text);
}

/* The style of `needle` in the first line holding it, when one style covers it
 * all (else ~0u); its heading level in *level. */
static unsigned style_of(const char *md, int width, const char *needle, int *level) {
    md_doc d;
    render(md, strlen(md), width, &d);
    unsigned style = ~0u;
    for (int i = 0; i < d.n_lines && style == ~0u; i++) {
        const char *hit = strstr(d.lines[i].text, needle);
        if (!hit) continue;
        int a = (int)(hit - d.lines[i].text), b = a + (int)strlen(needle);
        for (int k = 0; k < d.lines[i].n_spans; k++) {
            const md_span *s = &d.lines[i].spans[k];
            if (s->start <= a && s->start + s->len >= b) {
                style = s->style;
                if (level) *level = s->level;
            }
        }
        if (style == ~0u) style = ~1u;  /* found, split across styles */
    }
    md_doc_free(&d);
    if (style == ~0u) fprintf(stderr, "\"%s\" not in the rendering of \"%s\"\n", needle, md);
    return style == ~1u ? ~0u : style;
}

#define expect_style(md, width, needle, expected) assert_int_equal(style_of(md, width, needle, NULL), expected)

/* ---- paragraphs and inline styles ------------------------------------------ */

static const char *fox = "The quick brown fox jumps over the lazy dog and keeps running far away.";

static void test_paragraph_wrap(void **state) {
    (void)state;
    expect_plain(fox, 80, "The quick brown fox jumps over the lazy dog and keeps running far away.\n");
    expect_plain(fox, 30, "The quick brown fox jumps over\nthe lazy dog and keeps running\nfar away.\n");
    expect_plain(fox, 10, "The quick\nbrown fox\njumps over\nthe lazy\ndog and\nkeeps\nrunning\nfar away.\n");
    /* a word longer than the width is cut */
    expect_plain("abcdefghijklmnopqrstuvwxyz end", 10, "abcdefghij\nklmnopqrst\nuvwxyz end\n");
    expect_plain("go https://example.com/a/very/long/path", 30, "go\nhttps://example.com/a/very/lon\ng/path\n");
    /* soft breaks are spaces, hard breaks end the line, blocks are one blank line apart */
    expect_plain("one\ntwo", 80, "one two\n");
    expect_plain("one  \ntwo\\\nthree", 80, "one\ntwo\nthree\n");
    expect_plain("first\n\n\n\nsecond", 80, "first\n\nsecond\n");
    expect_plain("", 80, "");
    expect_style(fox, 30, "quick", MD_TEXT);
}

static void test_inline_styles(void **state) {
    (void)state;
    const char *md = "Some *emph* and **strong** and `co de` and ~~gone~~ and ***both***.";
    expect_plain(md, 80, "Some emph and strong and co de and gone and both.\n");
    expect_plain(md, 30, "Some emph and strong and co de\nand gone and both.\n");
    expect_plain(md, 10, "Some emph\nand strong\nand co de\nand gone\nand both.\n");
    for (int w = 10; w <= 80; w += 70) {
        expect_style(md, w, "Some", MD_TEXT);
        expect_style(md, w, "emph", MD_EMPHASIS);
        expect_style(md, w, "strong", MD_STRONG);
        expect_style(md, w, "co de", MD_CODE);
        expect_style(md, w, "gone", MD_STRIKETHROUGH);
        expect_style(md, w, "both", MD_EMPHASIS | MD_STRONG);
    }
    expect_style("**bold `code` bold**", 80, "code", MD_STRONG | MD_CODE);
}

static void test_links_images_html(void **state) {
    (void)state;
    const char *md = "See [the docs](https://x.org/d) now, <https://x.org>, www.x.org or <a@b.co>.";
    expect_plain(md, 80, "See the docs (https://x.org/d) now, https://x.org, www.x.org or a@b.co.\n");
    expect_plain(md, 30, "See the docs (https://x.org/d)\nnow, https://x.org, www.x.org\nor a@b.co.\n");
    expect_plain(md, 10, "See the\ndocs\n(https://x\n.org/d)\nnow,\nhttps://x.\norg,\nwww.x.org\nor a@b.co.\n");
    expect_style(md, 80, "the docs", MD_LINK);
    expect_style(md, 80, "(https://x.org/d)", MD_LINK_URL);
    expect_style(md, 80, "www.x.org", MD_LINK);
    expect_style(md, 80, "now", MD_TEXT);
    expect_style("[**bold** link](u)", 80, "bold", MD_LINK | MD_STRONG);
    expect_plain("![a cat](cat.png) here", 80, "[image: a cat] here\n");
    expect_style("![a cat](cat.png) here", 80, "[image: a cat]", MD_LINK);
    expect_plain("[![logo](l.png)](https://x.org)", 80, "[image: logo] (https://x.org)\n");
    expect_plain("a <b>bold</b> c", 80, "a <b>bold</b> c\n");
    expect_plain("<div>\nhi there\n</div>\n\nafter", 80, "<div>\nhi there\n</div>\n\nafter\n");
    expect_plain("<div>\nhi there\n</div>", 5, "<div>\nhi\nthere\n</div\n>\n");
}

/* ---- headings, rules, quotes ----------------------------------------------- */

static void test_headings(void **state) {
    (void)state;
    const char *md = "# Title\n\ntext\n\n## Second one\n\n### Third\n###### Sixth";
    const char *wide = "Title\n═════\n\ntext\n\nSecond one\n──────────\n\nThird\n\nSixth\n";
    expect_plain(md, 80, wide);
    expect_plain(md, 30, wide);
    expect_plain(md, 10, "Title\n═════\n\ntext\n\nSecond one\n──────────\n\nThird\n\nSixth\n");
    expect_plain("# A long heading title", 10, "A long\nheading\ntitle\n═══════\n");
    expect_plain("Setext\n===", 80, "Setext\n══════\n");
    int level = 0;
    assert_int_equal(style_of(md, 80, "Title", &level), MD_HEADING);
    assert_int_equal(level, 1);
    assert_int_equal(style_of(md, 80, "═════", &level), MD_HEADING | MD_RULE);
    assert_int_equal(level, 1);
    assert_int_equal(style_of(md, 80, "Third", &level), MD_HEADING);
    assert_int_equal(level, 3);
    assert_int_equal(style_of(md, 80, "Sixth", &level), MD_HEADING);
    assert_int_equal(level, 6);
    assert_int_equal(style_of("## *It* is", 80, "It", &level), MD_HEADING | MD_EMPHASIS);
    assert_int_equal(level, 2);
}

static void test_rule(void **state) {
    (void)state;
    expect_plain("a\n\n***\n\nb", 10, "a\n\n──────────\n\nb\n");
    expect_plain("---", 30, "──────────────────────────────\n");
    expect_style("---", 80, "──", MD_RULE);
    expect_plain("> ---", 10, "│ ────────\n");
}

static void test_quotes(void **state) {
    (void)state;
    const char *md = "> quoted text that wraps around\n>\n> > nested quote";
    expect_plain(md, 80, "│ quoted text that wraps around\n│\n│ │ nested quote\n");
    expect_plain(md, 30, "│ quoted text that wraps\n│ around\n│\n│ │ nested quote\n");
    expect_plain(md, 10, "│ quoted\n│ text\n│ that\n│ wraps\n│ around\n│\n│ │ nested\n│ │ quote\n");
    expect_style(md, 80, "│ ", MD_QUOTE);
    expect_style(md, 80, "quoted", MD_QUOTE);
    expect_plain("before\n\n> inside\n\nafter", 80, "before\n\n│ inside\n\nafter\n");
    int level = 0;
    assert_int_equal(style_of("> # **Big** news", 80, "Big", &level), MD_QUOTE | MD_HEADING | MD_STRONG);
    assert_int_equal(level, 1);
    expect_style("> # **Big** news", 80, "news", MD_QUOTE | MD_HEADING);
    expect_plain("> ```\n> code\n> ```", 80, "│ code\n");
    expect_style("> ```\n> code\n> ```", 80, "code", MD_QUOTE | MD_CODE_BLOCK);
}

/* ---- lists ----------------------------------------------------------------- */

static void test_bullet_lists(void **state) {
    (void)state;
    const char *md = "- one\n- two\n  - nested\n    - deep\n      - deeper\n- three that is long enough to wrap";
    expect_plain(md, 80, "• one\n• two\n  ◦ nested\n    ▪ deep\n      • deeper\n• three that is long enough to wrap\n");
    expect_plain(md, 30, "• one\n• two\n  ◦ nested\n    ▪ deep\n      • deeper\n• three that is long enough to\n  wrap\n");
    expect_plain(md, 10,
                 "• one\n• two\n  ◦ nested\n    ▪ deep\n    • deep\n      er\n"
                 "• three\n  that is\n  long\n  enough\n  to wrap\n");
    expect_style(md, 80, "•", MD_LIST_MARKER);
    expect_style(md, 80, "◦", MD_LIST_MARKER);
    expect_style(md, 80, "one", MD_TEXT);
    /* loose lists keep a blank line between items; lists are blocks of their own */
    expect_plain("- a\n\n- b", 80, "• a\n\n• b\n");
    expect_plain("Intro:\n\n- a\n- b\n\nAfter.", 80, "Intro:\n\n• a\n• b\n\nAfter.\n");
    expect_plain("- a\n\n  more a\n- b", 80, "• a\n\n  more a\n\n• b\n");
    expect_plain("- > quoted\n  > item", 80, "• │ quoted item\n");
    expect_style("> - item", 80, "•", MD_QUOTE | MD_LIST_MARKER);
}

static void test_ordered_and_task_lists(void **state) {
    (void)state;
    expect_plain("9. nine\n10. ten\n11. eleven", 80, " 9. nine\n10. ten\n11. eleven\n");
    expect_plain("1) a\n2) b", 80, "1) a\n2) b\n");
    expect_plain("3. three\n1. four", 80, "3. three\n4. four\n");
    const char *md = "1. a long item text that wraps\n2. b";
    expect_plain(md, 80, "1. a long item text that wraps\n2. b\n");
    expect_plain(md, 30, "1. a long item text that wraps\n2. b\n");
    expect_plain(md, 10, "1. a long\n   item\n   text\n   that\n   wraps\n2. b\n");
    expect_style(md, 80, "1. ", MD_LIST_MARKER);
    expect_plain("1. x\n   - y", 80, "1. x\n   • y\n");
    const char *tasks = "- [ ] todo\n- [x] done and dusted";
    expect_plain(tasks, 80, "[ ] todo\n[x] done and dusted\n");
    expect_plain(tasks, 10, "[ ] todo\n[x] done\n    and\n    dusted\n");
    expect_style(tasks, 80, "[x] ", MD_LIST_MARKER);
    expect_style(tasks, 80, "todo", MD_TEXT);
    expect_plain("1. [x] done", 80, "1. [x] done\n");
}

/* ---- code ------------------------------------------------------------------ */

static void test_code_blocks(void **state) {
    (void)state;
    const char *md = "```c\nint main(void) {\n\treturn 0;\n}\n```";
    const char *wide = "c\nint main(void) {\n    return 0;\n}\n";
    expect_plain(md, 80, wide);
    expect_plain(md, 30, wide);
    expect_plain(md, 10, "c\nint main(↩\nvoid) {\n    retur↩\nn 0;\n}\n");
    expect_style(md, 80, "c", MD_CODE_LANG);
    expect_style(md, 80, "int main", MD_CODE_BLOCK);
    expect_style(md, 10, "↩", MD_CODE_BLOCK);
    /* not re-wrapped: spaces and blank lines kept */
    expect_plain("```\na  b\n\n  c\n```", 80, "a  b\n\n  c\n");
    expect_plain("~~~python extra words\nx = 1\n~~~", 80, "python\nx = 1\n");
    expect_plain("text\n\n    indented code\n\nafter", 80, "text\n\nindented code\n\nafter\n");
    expect_plain("- item\n\n  ```\n  code\n  ```", 80, "• item\n\n  code\n");
    expect_plain("```\n日本語テキスト\n```", 10, "日本語テ↩\nキスト\n");
    expect_plain("```\n日本語\n```", 2, "日\n本\n語\n");  /* no room for the mark */
    expect_plain("```\n日本語\n```", 3, "日↩\n本↩\n語\n");
    expect_plain("```\n0123456789\n```", 10, "0123456789\n");
    expect_plain("```\n0123456789A\n```", 10, "012345678↩\n9A\n");
}

/* ---- tables ---------------------------------------------------------------- */

static void test_tables(void **state) {
    (void)state;
    const char *md = "| Name | Qty |\n|:-----|----:|\n| apple | 3 |\n| kiwi | 12 |";
    const char *grid =
        "┌───────┬─────┐\n"
        "│ Name  │ Qty │\n"
        "├───────┼─────┤\n"
        "│ apple │   3 │\n"
        "│ kiwi  │  12 │\n"
        "└───────┴─────┘\n";
    expect_plain(md, 80, grid);
    expect_plain(md, 30, grid);
    expect_plain(md, 15, grid);
    /* too narrow for a grid: one "header: value" record per row */
    expect_plain(md, 10, "Name:\napple\nQty: 3\n──────────\nName: kiwi\nQty: 12\n");
    expect_style(md, 80, "┌──", MD_TABLE);
    expect_style(md, 80, "Name", MD_STRONG);
    expect_style(md, 80, "apple", MD_TEXT);
    expect_style(md, 10, "Name:", MD_STRONG);

    /* shrunk to the width, cell text wrapped inside its column */
    const char *wrap = "| Key | Description |\n|-----|-------------|\n| a | the first letter of the alphabet |";
    expect_plain(wrap, 30,
                 "┌─────┬──────────────────────┐\n"
                 "│ Key │ Description          │\n"
                 "├─────┼──────────────────────┤\n"
                 "│ a   │ the first letter of  │\n"
                 "│     │ the alphabet         │\n"
                 "└─────┴──────────────────────┘\n");
    expect_plain(wrap, 80,
                 "┌─────┬──────────────────────────────────┐\n"
                 "│ Key │ Description                      │\n"
                 "├─────┼──────────────────────────────────┤\n"
                 "│ a   │ the first letter of the alphabet │\n"
                 "└─────┴──────────────────────────────────┘\n");
    /* rows are ruled apart when one of them wraps */
    expect_plain("| a | b |\n|---|---|\n| one two | x |\n| y | z |", 13,
                 "┌───────┬───┐\n"
                 "│ a     │ b │\n"
                 "├───────┼───┤\n"
                 "│ one   │ x │\n"
                 "│ two   │   │\n"
                 "├───────┼───┤\n"
                 "│ y     │ z │\n"
                 "└───────┴───┘\n");
    expect_plain("| a |\n|:-:|\n| xyz |", 80, "┌─────┐\n│  a  │\n├─────┤\n│ xyz │\n└─────┘\n");
    expect_style("| h |\n|---|\n| **b** `c` |", 80, "c", MD_CODE);
    expect_plain("> | h |\n> |---|\n> | v |", 80, "│ ┌───┐\n│ │ h │\n│ ├───┤\n│ │ v │\n│ └───┘\n");
    expect_style("> | h |\n> |---|\n> | v |", 80, "┌", MD_QUOTE | MD_TABLE);
}

/* ---- widths and bad input -------------------------------------------------- */

static void test_display_width(void **state) {
    (void)state;
    assert_int_equal(md_display_width("abc", 3), 3);
    assert_int_equal(md_display_width("日本", 6), 4);
    assert_int_equal(md_display_width("😀", 4), 2);
    assert_int_equal(md_display_width("e\xCC\x81", 3), 1);       /* e + combining acute */
    assert_int_equal(md_display_width("a\xFF\xFE" "b", 4), 4);    /* invalid bytes: 1 each */
    assert_int_equal(md_display_width("\xE6\x97", 2), 2);         /* truncated character */
    assert_int_equal(md_display_width("a\x1b" "b", 3), 3);
    assert_int_equal(md_display_width("", 0), 0);
    expect_plain("日本語のテキスト", 10, "日本語のテ\nキスト\n");
    expect_plain("😀😀😀😀😀😀", 10, "😀😀😀😀😀\n😀\n");
    expect_plain("abc 日本語", 6, "abc 日\n本語\n");
    expect_plain("- 日本語", 4, "• 日\n  本\n  語\n");
    expect_plain("Cafe\xCC\x81 ok", 5, "Cafe\xCC\x81\nok\n");
    /* a character wider than the whole line is replaced, never overflows */
    expect_plain("日本", 1, "\xEF\xBF\xBD\n\xEF\xBF\xBD\n");
    expect_plain("> - deep", 1, "d\ne\ne\np\n");  /* no room for prefixes */
    expect_plain("> - deep", 6, "│ • de\n│   ep\n");
    expect_plain("> > > > text", 6, "│ │ te\n│ │ xt\n");  /* outer gutters give way first */
}

static void test_invalid_utf8_and_controls(void **state) {
    (void)state;
    expect_plain("a\xFF b\xC3", 80, "a\xEF\xBF\xBD b\xEF\xBF\xBD\n");
    expect_plain("red \x1b[31mtext\x07", 80, "red \xEF\xBF\xBD[31mtext\xEF\xBF\xBD\n");
    expect_plain("```\n\x1b[2J\xFF\n```", 80, "\xEF\xBF\xBD[2J\xEF\xBF\xBD\n");
    const char nul[] = "a\0b";
    char *text = md_render_plain(nul, 3, 80);
    assert_non_null(text);
    assert_string_equal(text, "a\xEF\xBF\xBD" "b\n");
    free(text);
    expect_plain("\xED\xA0\x80 surrogate", 80, "\xEF\xBF\xBD surrogate\n");  /* cmark-gfm: one per sequence */
    md_doc d;
    assert_int_equal(md_render(NULL, 5, 80, &d), 0);
    assert_int_equal(d.n_lines, 0);
    md_doc_free(&d);
    assert_int_equal(md_render("wide", 4, 0, &d), 0);  /* width below 1 counts as 1 */
    check_doc(&d, 1);
    assert_int_equal(d.n_lines, 4);
    md_doc_free(&d);
}

/* ---- streaming ------------------------------------------------------------- */

static void test_partial_documents(void **state) {
    (void)state;
    expect_plain("```python\nprint(1)", 80, "python\nprint(1)\n");
    expect_plain("text\n\n```", 80, "text\n");
    expect_plain("| a | b |\n|---|---|\n| 1 |", 80, "┌───┬───┐\n│ a │ b │\n├───┼───┤\n│ 1 │   │\n└───┴───┘\n");
    expect_plain("| a | b |\n|---|---|", 80, "┌───┬───┐\n│ a │ b │\n└───┴───┘\n");
    expect_plain("| a | b |\n|--", 80, "| a | b | |--\n");
    expect_plain("some **bold", 80, "some **bold\n");
    expect_plain("a [link](http://x", 80, "a [link](http://x\n");
    expect_plain("- ", 80, "•\n");
    expect_plain("- a\n- ", 80, "• a\n•\n");
    expect_plain("1. ", 80, "1.\n");
    expect_plain(">", 80, "│\n");
    expect_plain("# ", 80, "");
    expect_plain("# Tit", 80, "Tit\n═══\n");
    /* every prefix of a document renders within the width */
    const char *doc =
        "# Plan\n\nIntro with **bold** and `code`.\n\n- [x] step one\n- step two\n  1. sub\n\n"
        "> quote\n\n```sh\nmake test\n```\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n日本語 😀 [l](u)\n";
    for (size_t n = 0; n <= strlen(doc); n++)
        for (int w = 5; w <= 45; w += 20) {
            md_doc d;
            render(doc, n, w, &d);
            md_doc_free(&d);
        }
}

/* ---- corpus at random widths, random input --------------------------------- */

static const char *const corpus[] = {
    "# Heading one\n\nA paragraph with *emphasis*, **strong**, `code`, ~~strike~~ and a [link](https://example.com/path?q=1).\n\n"
    "## Heading two\n\n> A quote with a list:\n> - item one\n> - item two with more words than fit\n>   > and a nested quote\n\n"
    "1. first\n2. second\n   - [ ] task\n   - [x] done\n\n```js\nconst x = 1;\n\tif (x) { console.log('a very long line of code that will need cutting'); }\n```\n\n"
    "| Column | Another column | Right |\n|:--|:-:|--:|\n| a | some longer text in the middle | 1 |\n| b | c | 22 |\n\n---\n\nThe end.",
    "日本語の段落です。とても長い文章なので折り返しが必要になります。漢字とかなが混ざっています。\n\n"
    "- 😀 emoji list 🎉🎉🎉\n- Ünïcödé wörds ñ çà\n\n| 名前 | 説明 |\n|---|---|\n| 東京 | 日本の首都で、とても大きな都市です |\n",
    "- a\n  - b\n    - c\n      - d\n        - e\n          - f\n            - g\n              - h deep text here that wraps a lot\n",
    "> > > > > > > > > > > > deep quote text that wraps and wraps and wraps\n",
    "Plain text with a verylongwordthatcannotbebrokenatanyspaceatallbecauseithasnone and more.\n\n"
    "    indented\n    code\n\n<div align=\"center\">\n  <b>html</b>\n</div>\n\n![image alt](x.png)\n",
    "| a | b | c | d | e | f | g | h | i | j |\n|---|---|---|---|---|---|---|---|---|---|\n"
    "| 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 |\n",
    "Line one  \nLine two\\\nLine three\n\n***\n\n1) x\n2) y\n\n10. ten\n11. eleven\n",
};

static void test_corpus_random_widths(void **state) {
    (void)state;
    uint64_t rng = 42;
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
        for (int k = 0; k < 60; k++) {
            int width = 5 + (int)(tu_rng_next(&rng) % 196);
            md_doc d;
            render(corpus[i], strlen(corpus[i]), width, &d);
            assert_true(d.n_lines > 0);
            md_doc_free(&d);
        }
    }
}

static void test_random_input(void **state) {
    (void)state;
    static const char alphabet[] = "#*_`~-+>|:[]()!<>\\ \n\n\t1.xa日\xFF\x1b";
    uint64_t rng = 7;
    char buf[600];
    for (int k = 0; k < 400; k++) {
        size_t n = (size_t)(tu_rng_next(&rng) % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = tu_rng_next(&rng);
            buf[i] = v % 4 ? alphabet[(v >> 8) % (sizeof alphabet - 1)] : (char)(v >> 16);
        }
        md_doc d;
        render(buf, n, 1 + (int)(tu_rng_next(&rng) % 120), &d);
        md_doc_free(&d);
    }
}

/* ---- speed (printed, not asserted) ----------------------------------------- */

static void test_render_time(void **state) {
    (void)state;
    char *big = malloc(32768);
    assert_non_null(big);
    size_t n = 0;
    while (n < 20000)
        for (size_t i = 0; i < 2; i++) {
            size_t k = strlen(corpus[i]);
            memcpy(big + n, corpus[i], k);
            n += k;
            big[n++] = '\n';
        }
    struct timespec t0, t1;
    int reps = 50, lines = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < reps; r++) {
        md_doc d;
        assert_int_equal(md_render(big, n, 100, &d), 0);
        lines = d.n_lines;
        md_doc_free(&d);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / reps;
    printf("test_markdown: rendering %zu bytes (%d lines at width 100) takes %.0f us\n", n, lines, us);
    free(big);
}

int main(void) {
    /* The renderer picks a UTF-8 locale itself; the reference width needs one too. */
    if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "en_US.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paragraph_wrap),
        cmocka_unit_test(test_inline_styles),
        cmocka_unit_test(test_links_images_html),
        cmocka_unit_test(test_headings),
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_bullet_lists),
        cmocka_unit_test(test_ordered_and_task_lists),
        cmocka_unit_test(test_code_blocks),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_invalid_utf8_and_controls),
        cmocka_unit_test(test_partial_documents),
        cmocka_unit_test(test_corpus_random_widths),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_render_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
