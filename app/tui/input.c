/* input.c: the input view: GNU Readline's callback interface fed from the UI's own key loop
 * (rl_getc_function / rl_input_available_hook read a byte queue), its line buffer drawn into an
 * ncurses window (rl_redisplay_function) with the cursor at the right display column; multi-line
 * input, history persisted under $XDG_STATE_HOME/gemma4/history, tab completion of slash
 * commands, session names and file paths. Readline is process-global, so this view is too. */
#include "tui/ui.h"

#include <errno.h>
#include <limits.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>

enum { HISTORY_MAX = 1000, INPUT_MAX_ROWS = 10 };

static tui_app *app;
static unsigned char queue[256];
static int q_head, q_len;
static char *history_path;
static FILE *devnull;
static bool in_line_handler;
static char *pending_text; /* set from inside the line handler: applied after Readline resets */

static int queue_getc(FILE *f) {
    (void)f;
    if (!q_len) return EOF;
    int c = queue[q_head];
    q_head = (q_head + 1) % (int)sizeof queue, q_len--;
    return c;
}

static int queue_available(void) { return q_len > 0; }

static void prep_terminal(int meta) { (void)meta; } /* ncurses owns the terminal modes */
static void deprep_terminal(void) {}

static void redisplay(void) { tui_input_draw(app); }

static void line_done(char *line) {
    if (!line) return; /* EOF (Ctrl-D on an empty line): ignored, /quit exits */
    if (*line) {
        HIST_ENTRY *last = history_length ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line)) add_history(line);
        if (history_path) append_history(1, history_path), history_truncate_file(history_path, HISTORY_MAX);
    }
    in_line_handler = true;
    if (line[0] == '/' && line[1] != '/') tui_command(app, line);
    else if (line[strspn(line, " \t\n")]) tui_send(app, line[0] == '/' ? line + 1 : line, app->editing_last);
    in_line_handler = false;
    free(line);
}

/* ---- completion ---- */
static char *command_generator(const char *text, int state) {
    static int index;
    static size_t len;
    if (!state) index = 0, len = strlen(text);
    const char *name;
    while ((name = tui_command_name(index++)))
        if (!strncmp(name, text, len)) return strdup(name);
    return NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;
    if (start == 0 && text[0] == '/') return rl_completion_matches(text, command_generator);
    if (rl_line_buffer[0] == '/') {
        char cmd[32];
        size_t n = strcspn(rl_line_buffer, " ");
        if (n < sizeof cmd) {
            memcpy(cmd, rl_line_buffer, n), cmd[n] = 0;
            if (tui_command_takes_path(cmd)) {
                rl_attempted_completion_over = 0;
                return rl_completion_matches(text, rl_filename_completion_function);
            }
        }
    }
    return NULL;
}

/* Several completions: listed as a note in the transcript instead of printed to the terminal. */
static void show_matches(char **matches, int n, int longest) {
    (void)longest;
    tui_buf b = {0};
    for (int i = 1; i <= n && b.len < 2000; i++) {
        tui_buf_append(&b, matches[i], strlen(matches[i]));
        tui_buf_append(&b, "  ", 2);
    }
    if (b.s) tui_note(app, TUI_BLOCK_NOTE, "%s", b.s);
    tui_buf_free(&b);
}

static char *default_history_path(void) {
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (state && state[0] == '/') snprintf(dir, sizeof dir, "%s/gemma4", state);
    else if (home && home[0]) snprintf(dir, sizeof dir, "%s/.local/state/gemma4", home);
    else return NULL;
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(dir, 0700); *p = '/'; }
    if (mkdir(dir, 0700) && errno != EEXIST) return NULL;
    size_t n = strlen(dir) + sizeof "/history";
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/history", dir);
    return path;
}

int tui_input_init(tui_app *a) {
    app = a;
    devnull = fopen("/dev/null", "w");
    rl_readline_name = "gemma4";
    rl_instream = stdin;
    rl_outstream = devnull ? devnull : stderr;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_getc_function = queue_getc;
    rl_input_available_hook = queue_available;
    rl_prep_term_function = prep_terminal;
    rl_deprep_term_function = deprep_terminal;
    rl_redisplay_function = redisplay;
    rl_attempted_completion_function = complete;
    rl_completion_display_matches_hook = show_matches;
    rl_basic_word_break_characters = " \t\n";
    history_comment_char = '#';   /* timestamps ("#1764370000") separate the entries in the file, */
    history_write_timestamps = 1; /* so multi-line entries survive it */
    history_multiline_entries = 1;
    using_history();
    history_path = default_history_path();
    /* a missing file is created now: append_history only appends to an existing one */
    if (history_path && read_history(history_path) == ENOENT) write_history(history_path);
    rl_callback_handler_install("", line_done);
    return 0;
}

void tui_input_done(tui_app *a) {
    (void)a;
    rl_callback_handler_remove();
    if (history_path) history_truncate_file(history_path, HISTORY_MAX);
    free(history_path);
    history_path = NULL;
    free(pending_text);
    pending_text = NULL;
    clear_history();
    if (devnull) fclose(devnull);
    devnull = NULL;
}

void tui_input_feed(tui_app *a, const char *bytes, size_t n) {
    (void)a;
    for (size_t i = 0; i < n; i++) {
        if (q_len == (int)sizeof queue) rl_callback_read_char();
        queue[(q_head + q_len) % (int)sizeof queue] = (unsigned char)bytes[i];
        q_len++;
    }
    while (q_len > 0) rl_callback_read_char();
    if (pending_text) {
        char *text = pending_text;
        pending_text = NULL;
        tui_input_set_text(a, text);
        free(text);
    }
}

void tui_input_set_text(tui_app *a, const char *text) {
    (void)a;
    if (in_line_handler) { /* Readline clears the line after the handler returns */
        free(pending_text);
        pending_text = strdup(text);
        return;
    }
    rl_replace_line(text, 0);
    rl_point = rl_end;
    tui_input_draw(app);
}

bool tui_input_empty(void) { return rl_end == 0; }

/* A function key or an editing key from ncurses, as the escape sequence Readline binds. */
void tui_input_key(tui_app *a, wint_t key, bool is_function_key, bool alt) {
    if (!is_function_key) {
        if (a->pasting && (key == '\r' || key == '\n')) { rl_insert_text("\n"); tui_input_draw(a); return; }
        if (alt && (key == '\r' || key == '\n')) { rl_insert_text("\n"); tui_input_draw(a); return; }
        if (key == '\r' || key == '\n') {
            if (rl_end > 0 && rl_line_buffer[rl_end - 1] == '\\' && rl_point == rl_end) {
                rl_delete_text(rl_end - 1, rl_end); /* a trailing backslash continues the line */
                rl_point = rl_end;
                rl_insert_text("\n");
                tui_input_draw(a);
                return;
            }
            tui_input_feed(a, "\r", 1);
            return;
        }
        char bytes[MB_LEN_MAX + 1];
        mbstate_t st = {0};
        size_t n = wcrtomb(bytes + 1, (wchar_t)key, &st);
        if (n == (size_t)-1) return;
        if (alt) { bytes[0] = '\033'; tui_input_feed(a, bytes, n + 1); }
        else tui_input_feed(a, bytes + 1, n);
        return;
    }
    const char *seq = NULL;
    switch (key) {
    case KEY_UP: seq = "\033[A"; break;
    case KEY_DOWN: seq = "\033[B"; break;
    case KEY_RIGHT: seq = "\033[C"; break;
    case KEY_LEFT: seq = "\033[D"; break;
    case KEY_HOME: seq = "\001"; break;
    case KEY_END: seq = "\005"; break;
    case KEY_DC: seq = "\004"; break;
    case KEY_BACKSPACE: seq = "\177"; break;
    case KEY_ENTER: tui_input_key(a, '\r', false, alt); return;
    default: return;
    }
    if (!strcmp(seq, "\004") && rl_end == 0) return; /* Delete on an empty line is not EOF */
    tui_input_feed(a, seq, strlen(seq));
}

/* Lays out the line buffer in rows of width columns: calls fn for every character. */
typedef struct { int rows, cursor_y, cursor_x; } input_layout;

static input_layout measure(const char *s, int len, int point, int width, WINDOW *draw, int skip_rows) {
    input_layout lay = {1, 0, 0};
    int x = 0, y = 0, prompt = 2;
    x = prompt;
    for (int i = 0; i <= len; i++) {
        if (i == point) lay.cursor_y = y, lay.cursor_x = x;
        if (i == len) break;
        if (s[i] == '\n') { y++, x = prompt; continue; }
        mbstate_t st = {0};
        wchar_t wc;
        size_t k = mbrtowc(&wc, s + i, (size_t)(len - i), &st);
        int w = 1;
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) k = 1, wc = 0xFFFD;
        else if ((w = wcwidth(wc)) < 0) w = 1;
        if (x + w > width) y++, x = prompt;
        if (i == point) lay.cursor_y = y, lay.cursor_x = x;
        if (draw && y - skip_rows >= 0 && y - skip_rows < getmaxy(draw)) {
            if (wc < 0x20) mvwaddch(draw, y - skip_rows, x, '?');
            else mvwaddnstr(draw, y - skip_rows, x, s + i, (int)k);
        }
        x += w;
        i += (int)k - 1;
    }
    lay.rows = y + 1;
    return lay;
}

int tui_input_wanted_height(tui_app *a, int width, int max) {
    (void)a;
    input_layout lay = measure(rl_line_buffer ? rl_line_buffer : "", rl_end, rl_point, width, NULL, 0);
    int rows = lay.rows < INPUT_MAX_ROWS ? lay.rows : INPUT_MAX_ROWS;
    return rows < max ? rows : max;
}

void tui_input_draw(tui_app *a) {
    WINDOW *w = a->w_input;
    if (!w) return;
    int width = getmaxx(w), height = getmaxy(w);
    if (tui_input_wanted_height(a, width, a->input_max) != a->input_height) {
        tui_layout(a); /* the input grew or shrank: relayout, which redraws everything */
        return;
    }
    const char *s = rl_line_buffer ? rl_line_buffer : "";
    input_layout lay = measure(s, rl_end, rl_point, width, NULL, 0);
    int skip = lay.cursor_y >= height ? lay.cursor_y - height + 1 : 0; /* scroll to the cursor */
    wbkgdset(w, ' ' | a->roles[THEME_INPUT]);
    werase(w);
    wattrset(w, a->roles[THEME_STATUS_ACCENT]);
    if (skip == 0) mvwaddstr(w, 0, 0, a->state == TUI_IDLE ? "› " : "… ");
    wattrset(w, a->roles[THEME_INPUT]);
    measure(s, rl_end, rl_point, width, w, skip);
    wmove(w, lay.cursor_y - skip, lay.cursor_x < width ? lay.cursor_x : width - 1);
    wnoutrefresh(w);
    doupdate();
}
