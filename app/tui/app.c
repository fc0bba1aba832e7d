/* app.c: the chat UI's lifecycle and main loop: ncurses set up (wide characters, colours from
 * the theme, mouse wheel, bracketed paste), window layout and resize, poll() on the keyboard,
 * the generation job's fd, the model loader's fd and a spinner timer, and the global keys. */
#include "tui/ui.h"
#include "tui/loader.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { KEY_PASTE_BEGIN = KEY_MAX + 1, KEY_PASTE_END, WHEEL_LINES = 3 };

double tui_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tui_note(tui_app *a, tui_block_kind kind, const char *fmt, ...) {
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    tui_transcript_add(&a->transcript, kind, text);
    a->transcript.scroll = 0;
}

static void draw(tui_app *a) {
    if (a->w_transcript) {
        tui_transcript_draw(&a->transcript, a->w_transcript, a->roles);
        wnoutrefresh(a->w_transcript);
    }
    tui_status_draw(a);
    tui_input_draw(a); /* last: it places the cursor */
}

void tui_layout(tui_app *a) {
    if (a->w_transcript) delwin(a->w_transcript);
    if (a->w_status) delwin(a->w_status);
    if (a->w_input && a->w_input != stdscr) delwin(a->w_input);
    a->w_transcript = a->w_status = NULL;
    int cols = COLS > 1 ? COLS : 1;
    if (LINES < 3) { /* no room for the transcript and the status bar: the input alone */
        a->input_max = a->input_height = 1;
        a->w_input = newwin(1, cols, LINES > 1 ? LINES - 1 : 0, 0);
    } else {
        a->input_max = LINES >= 4 ? (LINES - 2) / 2 : 1;
        a->input_height = tui_input_wanted_height(a, cols, a->input_max);
        int transcript_rows = LINES - 1 - a->input_height;
        a->w_transcript = newwin(transcript_rows, cols, 0, 0);
        a->w_status = newwin(1, cols, transcript_rows, 0);
        a->w_input = newwin(a->input_height, cols, transcript_rows + 1, 0);
    }
    if (!a->w_input) a->w_input = stdscr; /* out of memory: keep reading keys */
    keypad(a->w_input, TRUE);
    nodelay(a->w_input, TRUE); /* keys are read after poll() says so, never waited for */
    clearok(curscr, TRUE);
    draw(a);
}

void tui_toggle_thinking(tui_app *a) {
    tui_block *b = tui_transcript_last_thinking(&a->transcript);
    if (!b) return;
    b->thinking_open = !(b->thinking_open || (b->streaming && !b->answering));
    tui_block_touch(b);
}

void tui_model_switch(tui_app *a, const char *model) {
    if (tui_busy(a) || a->loader) {
        tui_note(a, TUI_BLOCK_NOTE, "busy: wait for the answer or the model being loaded");
        return;
    }
    a->loader = tui_loader_start(model, &a->opt.engine);
    if (!a->loader) {
        tui_note(a, TUI_BLOCK_ERROR, "cannot start loading %s (out of memory or threads)", model);
        return;
    }
    free(a->loading_model);
    a->loading_model = strdup(model);
    a->state = TUI_LOADING;
    tui_note(a, TUI_BLOCK_NOTE, "loading %s…", model);
}

static void model_loaded(tui_app *a) {
    char *err = NULL;
    chat_engine *e = tui_loader_finish(a->loader, &err);
    a->loader = NULL;
    a->state = TUI_IDLE;
    if (!e) {
        tui_note(a, TUI_BLOCK_ERROR, "/model %s: %s", a->loading_model, err);
        free(err);
        return;
    }
    chat_engine_close(a->engine);
    a->engine = e;
    free(a->model_label);
    a->model_label = a->loading_model;
    a->loading_model = NULL;
    a->ctx_size = chat_engine_context_size(e);
    a->ctx_used = 0;
    tui_persist_set_model(a, a->model_label);
    tui_note(a, TUI_BLOCK_NOTE, "model %s loaded (context %d tokens)", a->model_label, a->ctx_size);
}

static void ctrl_c(tui_app *a) {
    double now = tui_now();
    if (tui_busy(a)) {
        tui_cancel(a);
        return;
    }
    if (!tui_input_empty()) tui_input_set_text(a, "");
    if (now - a->last_ctrl_c < 1.0) a->quit = true;
    else tui_note(a, TUI_BLOCK_NOTE, "press Ctrl-C again to quit");
    a->last_ctrl_c = now;
}

static void page(tui_app *a, int direction) {
    int rows = a->w_transcript ? getmaxy(a->w_transcript) : 10;
    tui_transcript_scroll(&a->transcript, direction * (rows > 3 ? rows - 2 : 1));
}

/* One key from ncurses; returns after updating the state (drawing happens in the loop). */
static void handle_key(tui_app *a, int kind, wint_t key) {
    bool fkey = kind == KEY_CODE_YES;
    bool alt = false;
    if (!fkey && key == 27) { /* Esc alone, or Alt + the next key */
        wint_t next;
        int k = wget_wch(a->w_input, &next);
        if (k == ERR) {
            if (tui_turn_answer_key(a, 27, true)) return; /* Esc answers the approval question: no */
            if (tui_busy(a)) tui_cancel(a);
            return;
        }
        fkey = k == KEY_CODE_YES, key = next, alt = true;
    }
    if (fkey) {
        switch (key) {
        case KEY_RESIZE: tui_transcript_invalidate(&a->transcript); tui_layout(a); return;
        case KEY_PPAGE: page(a, 1); return;
        case KEY_NPAGE: page(a, -1); return;
        case KEY_PASTE_BEGIN: a->pasting = true; return;
        case KEY_PASTE_END: a->pasting = false; tui_input_draw(a); return;
        case KEY_MOUSE: {
            MEVENT ev;
            if (getmouse(&ev) == OK) {
                if (ev.bstate & BUTTON4_PRESSED) tui_transcript_scroll(&a->transcript, WHEEL_LINES);
                if (ev.bstate & BUTTON5_PRESSED) tui_transcript_scroll(&a->transcript, -WHEEL_LINES);
            }
            return;
        }
        case KEY_END:
            if (a->transcript.scroll > 0) { a->transcript.scroll = 0; return; }
            break;
        default: break;
        }
        tui_input_key(a, key, true, alt);
        return;
    }
    if (!a->pasting) {
        if (key == 3) { ctrl_c(a); return; }
        if (a->asking) { /* the approval question takes y, n, a (and Esc); other keys wait */
            tui_turn_answer_key(a, key, false);
            return;
        }
        /* r on an empty line opens or closes the latest tool results; Alt-r anytime */
        if (key == 'r' && (alt || tui_input_empty()) && tui_toggle_results(a)) return;
        /* t on an empty line toggles the latest thinking when there is one; Alt-t anytime */
        if (key == 't' && (alt || tui_input_empty()) && tui_transcript_last_thinking(&a->transcript)) {
            tui_toggle_thinking(a);
            return;
        }
    }
    tui_input_key(a, key, false, alt);
}

static void read_keys(tui_app *a) {
    wint_t key;
    int kind;
    while (!a->quit && (kind = wget_wch(a->w_input, &key)) != ERR) handle_key(a, kind, key);
}

/* SIGTERM and SIGHUP (a closed terminal) end the loop like /quit: the answer being streamed is
 * cancelled and saved. */
static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) { (void)sig; stop_requested = 1; }

static void loop(tui_app *a) {
    struct sigaction sa = {.sa_handler = on_stop_signal}, old_term, old_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    while (!a->quit && !stop_requested) {
        draw(a);
        struct pollfd fds[3] = {{.fd = STDIN_FILENO, .events = POLLIN}};
        int n = 1, job_at = -1, loader_at = -1;
        if (tui_busy(a)) fds[job_at = n++] = (struct pollfd){.fd = tui_turn_fd(a), .events = POLLIN};
        if (a->loader) fds[loader_at = n++] = (struct pollfd){.fd = tui_loader_fd(a->loader), .events = POLLIN};
        bool busy = tui_busy(a) || a->loader;
        int rc = poll(fds, (nfds_t)n, busy ? 100 : 1000);
        if (rc < 0 && errno != EINTR) break;
        a->spinner = (int)(tui_now() * 10); /* ten frames a second */
        if (job_at >= 0 && fds[job_at].revents) {
            tui_turn_drain(a);
            a->transcript.scroll = 0; /* new output returns to the bottom */
        }
        if (loader_at >= 0 && fds[loader_at].revents) model_loaded(a);
        if (fds[0].revents & (POLLHUP | POLLERR)) break;
        read_keys(a); /* also picks up KEY_RESIZE after SIGWINCH interrupted poll */
    }
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
}

static int screen_open(tui_app *a, const char *theme_name, char **err) {
    const char *term = getenv("TERM");
    if (!term || !*term || !(a->screen = newterm(NULL, stdout, stdin))) { /* initscr would exit() */
        *err = strdup("cannot use this terminal: TERM is unset or unknown to terminfo");
        return -1;
    }
    raw();
    noecho();
    nonl();
    set_escdelay(25);
    define_key("\033[200~", KEY_PASTE_BEGIN);
    define_key("\033[201~", KEY_PASTE_END);
    /* Home and End as terminals and multiplexers send them whatever terminfo says */
    static const char *const home[] = {"\033[H", "\033OH", "\033[1~", "\033[7~"};
    static const char *const end[] = {"\033[F", "\033OF", "\033[4~", "\033[8~"};
    for (size_t i = 0; i < sizeof home / sizeof *home; i++) define_key(home[i], KEY_HOME), define_key(end[i], KEY_END);
    mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
    fputs("\033[?2004h", stdout); /* bracketed paste */
    fflush(stdout);
    if (tui_colors_load(a, theme_name, err)) return -1;
    tui_layout(a);
    return 0;
}

static void screen_close(tui_app *a) {
    if (!a->screen) return;
    if (a->w_transcript) delwin(a->w_transcript);
    if (a->w_status) delwin(a->w_status);
    if (a->w_input && a->w_input != stdscr) delwin(a->w_input);
    a->w_transcript = a->w_status = a->w_input = NULL;
    fputs("\033[?2004l", stdout);
    fflush(stdout);
    endwin();
    delscreen(a->screen);
    a->screen = NULL;
}

int tui_run(const tui_options *opt) {
    setlocale(LC_ALL, "");
    tui_app *a = calloc(1, sizeof *a);
    if (!a) return fprintf(stderr, "gemma4: out of memory\n"), 1;
    a->opt = *opt;
    a->settings = opt->settings;
    a->think = opt->settings.think == 1;
    a->system = opt->system ? strdup(opt->system) : NULL;
    a->model_label = strdup(opt->model);
    int status = 1;
    char *err = NULL;
    if (tui_persist_open(a, opt->resume, opt->resume_latest, &err)) goto out;
    fprintf(stderr, "loading %s…\n", opt->model);
    a->engine = chat_engine_open(opt->model_path, &opt->engine, &err);
    if (!a->engine) goto out;
    a->ctx_size = chat_engine_context_size(a->engine);
    if (tui_input_init(a)) { err = strdup("cannot set up Readline"); goto out; }
    if (screen_open(a, opt->theme, &err)) {
        screen_close(a);
        tui_input_done(a);
        goto out;
    }
    loop(a);
    if (tui_busy(a)) { /* quitting mid-answer: keep what was streamed */
        tui_cancel(a);
        while (tui_busy(a)) {
            struct pollfd p = {.fd = tui_turn_fd(a), .events = POLLIN};
            poll(&p, 1, 1000);
            tui_turn_drain(a);
        }
    }
    if (a->loader) {
        char *lerr = NULL;
        chat_engine_close(tui_loader_finish(a->loader, &lerr));
        free(lerr);
    }
    screen_close(a);
    tui_input_done(a);
    status = 0;
out:
    if (err) fprintf(stderr, "gemma4: %s\n", err);
    free(err);
    tui_persist_close(a);
    chat_engine_close(a->engine);
    tui_colors_free(a);
    tui_transcript_clear(&a->transcript);
    free(a->model_label), free(a->loading_model), free(a->system);
    free(a);
    return status;
}
