/* test_theme.c: themes (app/tui/theme): the syntax and its file:line errors, the
 * built-in themes (every role given, contrast checked with the WCAG formula),
 * user themes overriding and extending them, colour depth from the environment,
 * nearest colours against hand-computed palette entries, and the ncurses pairs
 * when a terminfo entry is available. */
#include "testutil.h"

#include "tui/theme.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static theme parse_ok(const char *text) {
    theme t;
    char err[512];
    if (theme_parse(&t, "t", text, strlen(text), "t.theme", err, sizeof err)) fail_msg("%s", err);
    return t;
}

static void test_syntax(void **state) {
    theme t = parse_ok("# comment\n"
                       "text = default\n"
                       "  user = red   bright-blue bold underline  # trailing comment\n"
                       "code = 200 #1a2B3c italic reverse dim\n"
                       "link = bright-white\r\n");
    assert_int_equal(t.style[THEME_TEXT].fg.kind, THEME_COLOR_DEFAULT);
    assert_int_equal(t.style[THEME_USER].fg.kind, THEME_COLOR_INDEX);
    assert_int_equal(t.style[THEME_USER].fg.index, 1);
    assert_int_equal(t.style[THEME_USER].bg.index, 12);
    assert_int_equal(t.style[THEME_USER].attrs, THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE);
    assert_int_equal(t.style[THEME_CODE].fg.index, 200);
    assert_int_equal(t.style[THEME_CODE].bg.kind, THEME_COLOR_RGB);
    assert_int_equal(t.style[THEME_CODE].bg.r, 0x1a);
    assert_int_equal(t.style[THEME_CODE].bg.g, 0x2b);
    assert_int_equal(t.style[THEME_CODE].bg.b, 0x3c);
    assert_int_equal(t.style[THEME_CODE].attrs, THEME_ATTR_ITALIC | THEME_ATTR_REVERSE | THEME_ATTR_DIM);
    assert_int_equal(t.style[THEME_LINK].fg.index, 15);
    assert_int_equal(t.style[THEME_LINK].bg.kind, THEME_COLOR_DEFAULT);
    /* roles left out look like text; selection adds reverse */
    theme u = parse_ok("text = green black bold\n");
    assert_int_equal(u.style[THEME_HEADING].fg.index, 2);
    assert_int_equal(u.style[THEME_HEADING].bg.index, 0);
    assert_int_equal(u.style[THEME_HEADING].attrs, THEME_ATTR_BOLD);
    assert_int_equal(u.style[THEME_SELECTION].attrs, THEME_ATTR_BOLD | THEME_ATTR_REVERSE);
    assert_string_equal(theme_role_name(THEME_CODE_BLOCK), "code_block");
    assert_null(theme_role_name(THEME_ROLE_COUNT));
}

static void test_errors(void **state) {
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"text = default\nbody = red\n", "t.theme:2: unknown role 'body'"},
        {"text = #12345\n", "t.theme:1: '#12345' is not a colour"},
        {"text = 256\n", "t.theme:1: '256' is not a colour"},
        {"text = bright-default\n", "t.theme:1: 'bright-default' is not a colour"},
        {"text = purple\n", "t.theme:1: 'purple' is not a colour"},
        {"text = bold red\n", "t.theme:1: the foreground colour comes first"},
        {"text = red bold blue\n", "t.theme:1: colours come before the attributes"},
        {"text = red blue green\n", "t.theme:1: 'green' is a third colour"},
        {"\n\ntext = red\n# x\ntext = blue\n", "t.theme:5: text is already set on line 3"},
        {"text =\n", "t.theme:1: no colour after '='"},
        {"text red\n", "t.theme:1: expected 'role = colour"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        theme t;
        err[0] = '\0';
        if (theme_parse(&t, "t", cases[i].text, strlen(cases[i].text), "t.theme", err, sizeof err) != -1)
            fail_msg("case %zu accepted", i);
        if (strncmp(err, cases[i].expect, strlen(cases[i].expect)))
            fail_msg("case %zu: got '%s', want '%s...'", i, err, cases[i].expect);
    }
}

/* ---- built-in themes: complete and readable -------------------------------------- */

static double channel(unsigned c) {
    double s = c / 255.0;
    return s <= 0.03928 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4);
}

/* WCAG 2 relative luminance and contrast ratio */
static double luminance(uint32_t rgb) {
    return 0.2126 * channel(rgb >> 16 & 255) + 0.7152 * channel(rgb >> 8 & 255) + 0.0722 * channel(rgb & 255);
}

static double contrast(uint32_t a, uint32_t b) {
    double la = luminance(a), lb = luminance(b);
    return la > lb ? (la + 0.05) / (lb + 0.05) : (lb + 0.05) / (la + 0.05);
}

/* xterm's colours for 0-15, written out here independently of theme.c */
static const uint32_t xterm16[16] = {0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
                                     0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff};

static uint32_t rgb_of(theme_color c, uint32_t dflt) {
    if (c.kind == THEME_COLOR_DEFAULT) return dflt;
    if (c.kind == THEME_COLOR_RGB) return (uint32_t)c.r << 16 | (uint32_t)c.g << 8 | c.b;
    return c.index < 16 ? xterm16[c.index] : theme_palette_rgb(c.index);  /* the latter checked in test_palette */
}

static void test_builtin_themes(void **state) {
    /* terminal colours the themes that keep them are made for */
    static const struct {
        const char *name;
        uint32_t fg, bg;
        double min_text;
    } expect[] = {
        {"dark", 0xd0d0d0, 0x1e1e1e, 4.5},
        {"gruvbox", 0, 0, 4.5},  /* sets every colour itself */
        {"high-contrast", 0, 0, 7.0},
        {"light", 0x1f2328, 0xffffff, 4.5},
    };
    assert_int_equal(theme_builtin_count(), 4);
    assert_string_equal(theme_builtin_name(0), THEME_DEFAULT);
    for (size_t i = 0; i < theme_builtin_count(); i++) {
        const char *name = theme_builtin_name(i), *text = theme_builtin_text(i);
        assert_string_equal(name, expect[i].name);
        /* every role is given explicitly, each on its own line */
        for (int r = 0; r < THEME_ROLE_COUNT; r++) {
            char want[64];
            snprintf(want, sizeof want, "\n%s ", theme_role_name(r));
            if (!strstr(text, want)) fail_msg("%s does not set %s", name, theme_role_name(r));
        }
        theme t;
        char err[512];
        if (theme_load(&t, name, NULL, err, sizeof err)) fail_msg("%s", err);
        bool own_colours = expect[i].bg == 0;
        for (int r = 0; r < THEME_ROLE_COUNT; r++) {
            const theme_style *st = &t.style[r];
            if (own_colours && (st->fg.kind == THEME_COLOR_DEFAULT || st->bg.kind == THEME_COLOR_DEFAULT))
                fail_msg("%s: %s leaves a colour to the terminal", name, theme_role_name(r));
            uint32_t fg = rgb_of(st->fg, expect[i].fg), bg = rgb_of(st->bg, expect[i].bg);
            double min = r == THEME_RULE ? 3.0 : expect[i].min_text;
            double c = contrast(fg, bg);
            if (c < min) fail_msg("%s: %s has contrast %.2f, under %.1f", name, theme_role_name(r), c, min);
        }
    }
}

static void test_user_themes(void **state) {
    const char *dir = tu_path("%s/themes", tu_tmpdir());
    tu_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    char d[4096], err[1024];
    snprintf(d, sizeof d, "%s", dir);
    assert_int_equal(tu_write_file(tu_path("%s/dark.theme", d), "text = red\n", 11), 0);
    assert_int_equal(tu_write_file(tu_path("%s/mine.theme", d), "text = #102030\n", 15), 0);
    assert_int_equal(tu_write_file(tu_path("%s/broken.theme", d), "text = red\nfoo = blue\n", 22), 0);
    assert_int_equal(tu_write_file(tu_path("%s/bad name.theme", d), "text = red\n", 11), 0);
    theme t;
    assert_int_equal(theme_load(&t, "dark", d, err, sizeof err), 0);  /* overridden */
    assert_int_equal(t.style[THEME_TEXT].fg.index, 1);
    assert_int_equal(theme_load(&t, "dark", NULL, err, sizeof err), 0);  /* built in */
    assert_int_equal(t.style[THEME_TEXT].fg.kind, THEME_COLOR_DEFAULT);
    assert_int_equal(theme_load(&t, "mine", d, err, sizeof err), 0);
    assert_string_equal(t.name, "mine");
    assert_int_equal(t.style[THEME_TEXT].fg.g, 0x20);
    assert_int_equal(theme_load(&t, "light", d, err, sizeof err), 0);  /* not overridden */
    assert_int_equal(theme_load(&t, "broken", d, err, sizeof err), -1);
    assert_non_null(strstr(err, "broken.theme:2: unknown role 'foo'"));
    assert_int_equal(theme_load(&t, "nope", d, err, sizeof err), -1);
    assert_string_equal(err, "no theme named 'nope' (themes: broken, dark, gruvbox, high-contrast, light, mine)");
    assert_int_equal(theme_load(&t, "../dark", d, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a theme name"));
    char **names;
    int n = theme_names(d, &names);
    assert_int_equal(n, 6);
    assert_string_equal(names[0], "broken");
    assert_string_equal(names[5], "mine");
    theme_names_free(names, n);

    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    assert_int_equal(theme_user_dir(d, sizeof d, err, sizeof err), 0);
    assert_string_equal(d, "/xdg/gemma4/themes");
    unsetenv("XDG_CONFIG_HOME");
}

/* ---- depth and resolving ----------------------------------------------------------- */

static void test_depth_detect(void **state) {
    assert_int_equal(theme_depth_detect("1", "xterm-256color", "truecolor", 256), THEME_DEPTH_NONE);
    assert_int_equal(theme_depth_detect("", "xterm-256color", NULL, 256), THEME_DEPTH_256);  /* empty NO_COLOR */
    assert_int_equal(theme_depth_detect(NULL, "dumb", "truecolor", 256), THEME_DEPTH_NONE);
    assert_int_equal(theme_depth_detect(NULL, NULL, NULL, 256), THEME_DEPTH_NONE);
    assert_int_equal(theme_depth_detect(NULL, "xterm", "truecolor", 8), THEME_DEPTH_TRUE);
    assert_int_equal(theme_depth_detect(NULL, "xterm", "24bit", 8), THEME_DEPTH_TRUE);
    assert_int_equal(theme_depth_detect(NULL, "xterm-direct", NULL, 1 << 24), THEME_DEPTH_TRUE);
    assert_int_equal(theme_depth_detect(NULL, "xterm-256color", "yes", 256), THEME_DEPTH_256);
    assert_int_equal(theme_depth_detect(NULL, "rxvt-16color", NULL, 16), THEME_DEPTH_16);
    assert_int_equal(theme_depth_detect(NULL, "xterm", NULL, 8), THEME_DEPTH_8);
    assert_int_equal(theme_depth_detect(NULL, "vt100", NULL, -1), THEME_DEPTH_NONE);
}

static void test_palette(void **state) {
    assert_int_equal(theme_palette_rgb(1), 0xcd0000);
    assert_int_equal(theme_palette_rgb(16), 0x000000);
    assert_int_equal(theme_palette_rgb(196), 0xff0000);   /* 16 + 36*5 */
    assert_int_equal(theme_palette_rgb(110), 0x87afd7);   /* 16 + 36*2 + 6*3 + 4 */
    assert_int_equal(theme_palette_rgb(231), 0xffffff);
    assert_int_equal(theme_palette_rgb(232), 0x080808);
    assert_int_equal(theme_palette_rgb(255), 0xeeeeee);
}

static void test_resolve(void **state) {
    theme t = parse_ok("text = default\n"
                       "user = #ff0000 #000000 bold\n"  /* exact cube entries */
                       "code = #808080 #87afd7\n"       /* grey 244; cube 110 */
                       "quote = #1e1e1e #f8f8f8\n"      /* near black / near white */
                       "link = bright-red 200 underline\n"
                       "rule = #0000ff #ff00ff\n"
                       "error = #ff0000 #ee1010\n");    /* merge on small palettes */
    theme_resolved r;
    theme_resolve(&t, THEME_DEPTH_TRUE, &r);
    assert_int_equal(r.role[THEME_USER].fg, THEME_RGB_FLAG | 0xff0000);
    assert_int_equal(r.role[THEME_LINK].fg, 9);
    assert_int_equal(r.role[THEME_LINK].bg, 200);
    assert_int_equal(r.role[THEME_TEXT].fg, -1);

    theme_resolve(&t, THEME_DEPTH_256, &r);
    assert_int_equal(r.role[THEME_USER].fg, 196);
    assert_int_equal(r.role[THEME_USER].bg, 16);
    assert_int_equal(r.role[THEME_CODE].fg, 244);
    assert_int_equal(r.role[THEME_CODE].bg, 110);
    assert_int_equal(r.role[THEME_LINK].fg, 9);
    assert_int_equal(r.role[THEME_LINK].bg, 200);
    assert_int_equal(r.role[THEME_USER].attrs, THEME_ATTR_BOLD);

    theme_resolve(&t, THEME_DEPTH_16, &r);
    assert_int_equal(r.role[THEME_USER].fg, 9);      /* #ff0000 is bright red exactly */
    assert_int_equal(r.role[THEME_QUOTE].fg, 0);
    assert_int_equal(r.role[THEME_QUOTE].bg, 15);
    assert_int_equal(r.role[THEME_LINK].bg, 5);      /* 200 = #ff00d7: Lab distance 16.7 to magenta, 19.9 to bright */

    theme_resolve(&t, THEME_DEPTH_8, &r);
    assert_int_equal(r.role[THEME_USER].fg, 1);
    assert_int_equal(r.role[THEME_USER].bg, 0);
    assert_int_equal(r.role[THEME_QUOTE].fg, 0);
    assert_int_equal(r.role[THEME_QUOTE].bg, 7);
    assert_int_equal(r.role[THEME_LINK].fg, 1);      /* bright-red -> red */
    assert_int_equal(r.role[THEME_LINK].bg, 5);
    assert_int_equal(r.role[THEME_RULE].fg, 4);
    assert_int_equal(r.role[THEME_RULE].bg, 5);
    assert_int_equal(r.role[THEME_ERROR].fg, 1);
    assert_int_equal(r.role[THEME_ERROR].bg, -1);    /* both red: the background goes */

    theme_resolve(&t, THEME_DEPTH_NONE, &r);
    for (int i = 0; i < THEME_ROLE_COUNT; i++) {
        assert_int_equal(r.role[i].fg, -1);
        assert_int_equal(r.role[i].bg, -1);
    }
    assert_int_equal(r.role[THEME_LINK].attrs, THEME_ATTR_UNDERLINE);
}

/* The pairs ncurses holds, on a virtual terminal written to /dev/null. */
static void test_apply_curses(void **state) {
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    assert_non_null(out);
    SCREEN *scr = newterm("xterm-256color", out, in);
    if (!scr) {
        fclose(out);
        fclose(in);
        skip();  /* no terminfo entry for xterm-256color here */
    }
    theme t;
    char err[256];
    assert_int_equal(theme_load(&t, "gruvbox", NULL, err, sizeof err), 0);
    theme_resolved r;
    theme_resolve(&t, THEME_DEPTH_256, &r);
    attr_t attrs[THEME_ROLE_COUNT];
    assert_int_equal(theme_apply_curses(&r, attrs), 0);
    for (int i = 0; i < THEME_ROLE_COUNT; i++) {
        int pair = PAIR_NUMBER(attrs[i]), fg, bg;
        assert_int_equal(pair, i + 1);
        assert_int_equal(extended_pair_content(pair, &fg, &bg), OK);
        assert_int_equal(fg, r.role[i].fg);
        assert_int_equal(bg, r.role[i].bg);
    }
    assert_true(attrs[THEME_HEADING] & A_BOLD);
    assert_true(attrs[THEME_LINK] & A_UNDERLINE);
    assert_false(attrs[THEME_TEXT] & A_BOLD);
    /* attributes only */
    theme_resolve(&t, THEME_DEPTH_NONE, &r);
    assert_int_equal(theme_apply_curses(&r, attrs), 0);
    assert_int_equal(attrs[THEME_TEXT], A_NORMAL);
    assert_int_equal(attrs[THEME_THINKING_LABEL], A_BOLD | A_ITALIC);
    endwin();
    delscreen(scr);
    fclose(out);
    fclose(in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_builtin_themes),
        cmocka_unit_test(test_user_themes),
        cmocka_unit_test(test_depth_detect),
        cmocka_unit_test(test_palette),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_apply_curses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
