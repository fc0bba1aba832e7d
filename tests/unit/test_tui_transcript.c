/* test_tui_transcript.c: the transcript view by snapshot: chat events applied to a streaming
 * assistant block (app/tui/turn.c) and drawn into an ncurses window (app/tui/transcript.c),
 * whose rows are read back and compared with the expected screen: the thinking block open
 * while the model thinks, folded to its summary when the answer starts and re-opened by
 * toggling; Markdown rendered with the theme's attributes; tool calls; reflow at a new width;
 * scrolling. The terminal is a virtual one (newterm on /dev/null), so no real tty is needed. */
#include "tui/ui.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>

static SCREEN *screen;
static FILE *term_out, *term_in;

/* Row y of win as UTF-8 without trailing spaces. */
static void row(WINDOW *win, int y, char *out, size_t size) {
    wchar_t w[512];
    int n = mvwinnwstr(win, y, 0, w, getmaxx(win) < 511 ? getmaxx(win) : 511);
    if (n < 0) n = 0;
    w[n] = 0;
    size_t len = wcstombs(out, w, size - 1);
    if (len == (size_t)-1) len = 0;
    out[len] = 0;
    while (len > 0 && out[len - 1] == ' ') out[--len] = 0;
}

/* The whole window, rows joined by '\n', trailing empty rows dropped. */
static char *snapshot(tui_app *a, WINDOW *win) {
    tui_transcript_draw(&a->transcript, win, a->roles);
    tui_buf b = {0};
    char line[2048];
    size_t keep = 0;
    for (int y = 0; y < getmaxy(win); y++) {
        row(win, y, line, sizeof line);
        tui_buf_append(&b, line, strlen(line));
        if (line[0]) keep = b.len;
        tui_buf_append(&b, "\n", 1);
    }
    b.s[keep] = 0;
    return b.s;
}

static void event(tui_app *a, chat_event_type type, const char *text) {
    chat_event ev = {.type = type, .text = text, .len = text ? strlen(text) : 0};
    if (type == CHAT_EVENT_TOOL_CALL_BEGIN || type == CHAT_EVENT_TOOL_CALL_END) ev.tool_name = "get_weather", ev.tool_id = "call_1";
    assert_false(tui_turn_apply(a, &ev));
}

static tui_app *new_app(void) {
    tui_app *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->roles[THEME_STRONG] = A_BOLD;
    a->roles[THEME_EMPHASIS] = A_ITALIC;
    a->roles[THEME_CODE] = A_REVERSE;
    tui_transcript_add(&a->transcript, TUI_BLOCK_USER, "why is the sky blue?");
    a->streaming = tui_transcript_add(&a->transcript, TUI_BLOCK_ASSISTANT, NULL);
    a->streaming->streaming = true;
    a->state = TUI_PROMPT;
    return a;
}

static void free_app(tui_app *a) {
    tui_transcript_clear(&a->transcript);
    free(a);
}

static void test_thinking_streams_then_folds(void **state) {
    (void)state;
    tui_app *a = new_app();
    WINDOW *win = newwin(12, 60, 0, 0);
    event(a, CHAT_EVENT_THOUGHT, "Short wavelengths ");
    event(a, CHAT_EVENT_THOUGHT, "scatter more.");
    assert_int_equal(a->state, TUI_THINKING);
    char *s = snapshot(a, win);
    assert_string_equal(s, "▌ you\n"
                           "  why is the sky blue?\n"
                           "\n"
                           "▌ gemma\n"
                           "  ▾ thinking… 2 tokens\n"
                           "  │ Short wavelengths scatter more.");
    free(s);
    event(a, CHAT_EVENT_ANSWER, "Because of **Rayleigh** ");
    event(a, CHAT_EVENT_ANSWER, "scattering.");
    assert_int_equal(a->state, TUI_ANSWERING);
    s = snapshot(a, win);
    /* folded: the summary replaces the thinking; the seconds are the test's own (~0.0) */
    assert_non_null(strstr(s, "  ▸ thought for 0.0 s, 2 tokens — press t\n  Because of Rayleigh scattering."));
    assert_null(strstr(s, "Short wavelengths"));
    free(s);
    /* "Rayleigh" is drawn with the theme's strong attribute, the text around it without */
    int y = 5, x = (int)strlen("  Because of ");
    assert_true(mvwinch(win, y, x) & A_BOLD);
    assert_false(mvwinch(win, y, 2) & A_BOLD);
    tui_toggle_thinking(a);
    s = snapshot(a, win);
    assert_non_null(strstr(s, "  ▾ thought for 0.0 s, 2 tokens — press t\n  │ Short wavelengths scatter more.\n  Because of"));
    free(s);
    tui_toggle_thinking(a);
    s = snapshot(a, win);
    assert_null(strstr(s, "Short wavelengths"));
    free(s);
    delwin(win);
    free_app(a);
}

static void test_tool_call_and_reflow(void **state) {
    (void)state;
    tui_app *a = new_app();
    event(a, CHAT_EVENT_TOOL_CALL_BEGIN, NULL);
    event(a, CHAT_EVENT_TOOL_CALL_ARGS, "{\"city\": ");
    WINDOW *win = newwin(10, 40, 0, 0);
    char *s = snapshot(a, win);
    assert_non_null(strstr(s, "  ⚙ get_weather …\n    {\"city\":"));
    free(s);
    event(a, CHAT_EVENT_TOOL_CALL_END, "{\"city\": \"Paris\"}");
    s = snapshot(a, win);
    assert_non_null(strstr(s, "  ⚙ get_weather\n    {\"city\": \"Paris\"}"));
    free(s);
    /* a long user message reflows when the window narrows: no row wider than the window */
    tui_transcript_add(&a->transcript, TUI_BLOCK_USER,
                       "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu");
    s = snapshot(a, win);
    assert_non_null(strstr(s, "  alpha beta gamma delta epsilon zeta\n  eta theta iota kappa lambda mu"));
    free(s);
    WINDOW *narrow = newwin(10, 16, 0, 0);
    s = snapshot(a, narrow);
    assert_non_null(strstr(s, "  alpha beta\n  gamma delta\n  epsilon zeta\n"));
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) assert_true(tui_text_width(line, strlen(line)) <= 16);
    free(s);
    delwin(narrow);
    delwin(win);
    free_app(a);
}

static void test_scrolling(void **state) {
    (void)state;
    tui_app *a = new_app();
    char text[32];
    for (int i = 0; i < 30; i++) {
        snprintf(text, sizeof text, "note %d", i);
        tui_transcript_add(&a->transcript, TUI_BLOCK_NOTE, text);
    }
    WINDOW *win = newwin(5, 30, 0, 0);
    char *s = snapshot(a, win); /* the bottom: the last five notes */
    assert_string_equal(s, "note 25\nnote 26\nnote 27\nnote 28\nnote 29");
    free(s);
    tui_transcript_scroll(&a->transcript, 3);
    s = snapshot(a, win);
    assert_string_equal(s, "note 22\nnote 23\nnote 24\nnote 25\nnote 26");
    free(s);
    tui_transcript_scroll(&a->transcript, 1000); /* clamped at the top */
    s = snapshot(a, win);
    assert_string_equal(s, "▌ you\n  why is the sky blue?\n\n▌ gemma");
    free(s);
    delwin(win);
    free_app(a);
}

static int setup(void **state) {
    (void)state;
    term_out = fopen("/dev/null", "w");
    term_in = fopen("/dev/null", "r");
    screen = newterm("xterm-256color", term_out, term_in);
    return screen ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    endwin();
    delscreen(screen);
    fclose(term_out), fclose(term_in);
    return 0;
}

int main(void) {
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        printf("skip: no C.UTF-8 locale\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thinking_streams_then_folds),
        cmocka_unit_test(test_tool_call_and_reflow),
        cmocka_unit_test(test_scrolling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
