/* ui.h: the chat UI's shared state and the small view objects it is made of (tig/htop style):
 * transcript view (message blocks with per-width cached lines), input view (GNU Readline drawn
 * into an ncurses window), status bar, slash commands. Private to app/tui/. */
#ifndef G4_TUI_UI_H
#define G4_TUI_UI_H

#define _XOPEN_SOURCE_EXTENDED 1
#include "tui/theme.h"
#include "agent/job.h"
#include "tui/tui.h"

#include <jansson.h>
#include <ncursesw/curses.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- styled, wrapped lines ---- */
typedef struct { int start, len; attr_t attr; } tui_span; /* byte range of the line's text */
typedef struct { char *text; tui_span *spans; int n_spans; } tui_line;
typedef struct { tui_line *v; int n, cap; } tui_lines;

void tui_lines_clear(tui_lines *l);
/* Appends a copy of text[0..len) in one style; returns 0 or -1 (out of memory). */
int tui_lines_add(tui_lines *l, const char *text, size_t len, attr_t attr);
/* Appends text wrapped at word boundaries to width columns, each line prefixed by prefix. */
int tui_lines_wrap(tui_lines *l, const char *text, size_t len, int width, const char *prefix,
                   attr_t prefix_attr, attr_t attr);
/* Display columns of a UTF-8 string (invalid bytes count 1). */
int tui_text_width(const char *s, size_t len);
/* Draws one line at (y, 0) of win, clipped to the window's width. */
void tui_line_draw(WINDOW *win, int y, const tui_line *line, attr_t base);

/* ---- growable text ---- */
typedef struct { char *s; size_t len, cap; } tui_buf;
int tui_buf_append(tui_buf *b, const char *s, size_t n);
void tui_buf_set(tui_buf *b, const char *s);
void tui_buf_free(tui_buf *b);

/* ---- transcript: a list of message blocks ---- */
typedef enum { TUI_BLOCK_USER, TUI_BLOCK_ASSISTANT, TUI_BLOCK_NOTE, TUI_BLOCK_ERROR } tui_block_kind;
typedef struct {
    char *name, *arguments, *id; /* id: the engine's, or NULL */
    bool done;                   /* the arguments are complete */
    bool asking;                 /* the approval question is shown */
    char *result;                /* what the tool returned (the agent ran or refused it), or NULL */
    bool result_error;
} tui_tool_call;

typedef struct {
    tui_block_kind kind;
    tui_buf content, reasoning;
    tui_tool_call *tools;
    int n_tools;
    bool streaming, answering, cancelled, thinking_open;
    bool results_open;                   /* tool results shown whole, not cut to a few lines */
    double think_started, think_seconds; /* monotonic seconds */
    int think_tokens;
    bool has_stats;                      /* the turn finished: the numbers below are set */
    int prompt_tokens, completion_tokens;
    double seconds, tokens_per_second;
    char finish[16];                     /* "stop", "length", "cancelled", ... */
    /* render cache */
    int cache_width;
    tui_lines lines;
} tui_block;

typedef struct {
    tui_block **v;
    int n, cap;
    int scroll;      /* lines scrolled up from the bottom (0: follow new output) */
    int total_lines; /* at the last layout */
} tui_transcript;

tui_block *tui_transcript_add(tui_transcript *t, tui_block_kind kind, const char *text);
void tui_transcript_clear(tui_transcript *t);
void tui_transcript_truncate(tui_transcript *t, int n); /* keeps the first n blocks */
void tui_block_touch(tui_block *b); /* content changed: re-render on next draw */
void tui_transcript_invalidate(tui_transcript *t); /* theme or width changed */
void tui_transcript_draw(tui_transcript *t, WINDOW *win, const attr_t *roles);
void tui_transcript_scroll(tui_transcript *t, int lines); /* > 0: up (older) */
/* The latest assistant block with reasoning, or NULL. */
tui_block *tui_transcript_last_thinking(tui_transcript *t);

/* ---- the whole application ---- */
typedef enum { TUI_IDLE, TUI_LOADING, TUI_PROMPT, TUI_THINKING, TUI_ANSWERING, TUI_CANCELLING } tui_gen_state;

typedef struct tui_app {
    tui_options opt;
    char *model_label, *model_path;
    chat_engine *engine;
    chat_settings settings;
    char *system;
    bool think;
    /* generation: a chat job, or with tools an agent job */
    chat_job *job;
    agent_job *agent;
    tui_tool_call *asking;   /* the call whose approval is asked (in a->streaming), or NULL */
    tui_block *streaming;
    tui_gen_state state;
    int prompt_done, prompt_total;
    double tokens_per_second;
    int ctx_used, ctx_size;
    long long total_prompt_tokens, total_completion_tokens, total_reused_tokens;
    /* model switching runs on a thread; loader_fd becomes readable when it is done */
    struct tui_loader *loader;
    char *loading_model;
    /* session */
    struct session *session;
    char *sessions_dir;
    bool session_broken; /* loaded from a file we must never overwrite */
    /* views */
    tui_transcript transcript;
    SCREEN *screen;
    WINDOW *w_transcript, *w_status, *w_input;
    int input_height, input_max; /* rows now, and the most the layout gives it */
    attr_t roles[THEME_ROLE_COUNT]; /* the theme's attributes per role */
    char *theme_name;
    /* input */
    bool quit, pasting;
    double last_ctrl_c;
    int spinner;
    bool editing_last; /* /edit: the next sent line replaces the last user message */
} tui_app;

/* app.c */
double tui_now(void);
void tui_note(tui_app *a, tui_block_kind kind, const char *fmt, ...);
void tui_layout(tui_app *a);
int tui_send(tui_app *a, const char *text, bool replace_last);
void tui_cancel(tui_app *a);
int tui_retry(tui_app *a);
void tui_turn_drain(tui_app *a); /* the job's fd is readable: apply its events */
/* Applies one event to a->streaming (and the status); true when the turn is over. */
bool tui_turn_apply(tui_app *a, const chat_event *ev);
void tui_toggle_thinking(tui_app *a);
bool tui_busy(const tui_app *a);  /* a reply (chat or agent) is being generated */
int tui_turn_fd(const tui_app *a); /* the running job's fd, or -1 */
/* y, n, a or Esc while a->asking: answers the approval question; true when key was one */
bool tui_turn_answer_key(tui_app *a, wint_t key, bool escape);
bool tui_toggle_results(tui_app *a);  /* the latest tool results: whole or cut; false when none */
void tui_model_switch(tui_app *a, const char *model); /* path or hub id, loaded in the background */

/* input.c: Readline inside the input window */
int tui_input_init(tui_app *a);
void tui_input_done(tui_app *a);
void tui_input_feed(tui_app *a, const char *bytes, size_t n);
void tui_input_key(tui_app *a, wint_t key, bool is_function_key, bool alt);
void tui_input_set_text(tui_app *a, const char *text);
bool tui_input_empty(void);
void tui_input_draw(tui_app *a);
int tui_input_wanted_height(tui_app *a, int width, int max);

/* status.c */
void tui_status_draw(tui_app *a);

/* commands.c */
void tui_command(tui_app *a, const char *line); /* line starts with '/' */
const char *tui_command_name(int i);            /* for completion: NULL after the last */
bool tui_command_takes_path(const char *name);

/* colors.c */
/* Loads theme name (NULL: the default) and fills a->roles; -1 with *err. */
int tui_colors_load(tui_app *a, const char *name, char **err);
void tui_colors_free(tui_app *a);

/* persist.c: the session behind the transcript */
/* Opens the sessions directory and the session to resume (or a new one); -1 with *err. */
int tui_persist_open(tui_app *a, const char *resume, bool latest, char **err);
void tui_persist_set_model(tui_app *a, const char *model);
void tui_persist_set_settings(tui_app *a);
void tui_persist_new(tui_app *a);
int tui_persist_save(tui_app *a, const char *name);
int tui_persist_load(tui_app *a, const char *name);
void tui_persist_list(tui_app *a);
void tui_persist_add_user(tui_app *a, const char *text);
void tui_persist_set_assistant(tui_app *a, const tui_block *b, const char *finish);
void tui_persist_add_tool(tui_app *a, const char *tool_call_id, const char *name, const char *content);
void tui_persist_drop_last_turn(tui_app *a, bool keep_user);
char *tui_persist_messages_json(tui_app *a); /* for the chat engine, system included */
const char *tui_persist_last_user(tui_app *a);
void tui_persist_close(tui_app *a);

/* clipboard.c */
int tui_clipboard_copy(const char *text, size_t len);

#endif
