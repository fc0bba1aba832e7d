/* status.c: the status bar view: model name, context used/total, tokens/s, and the generation
 * state (idle / loading / reading prompt n% / thinking / answering / cancelled) with a spinner. */
#include "tui/ui.h"

#include <stdio.h>
#include <string.h>

static const char *const spinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};

static void state_text(const tui_app *a, char *out, size_t n) {
    const char *spin = spinner[a->spinner % (int)(sizeof spinner / sizeof *spinner)];
    switch (a->state) {
    case TUI_IDLE:
        snprintf(out, n, "idle");
        break;
    case TUI_LOADING:
        snprintf(out, n, "%s loading model", spin);
        break;
    case TUI_PROMPT: /* after the prompt: tokens that carry no text yet (markup, special tokens) */
        if (a->prompt_total > 0 && a->prompt_done >= a->prompt_total) snprintf(out, n, "%s generating", spin);
        else snprintf(out, n, "%s reading prompt %d%%", spin,
                      a->prompt_total > 0 ? (int)(100LL * a->prompt_done / a->prompt_total) : 0);
        break;
    case TUI_THINKING:
        snprintf(out, n, "%s thinking", spin);
        break;
    case TUI_ANSWERING:
        snprintf(out, n, "%s answering", spin);
        break;
    case TUI_CANCELLING:
        snprintf(out, n, "%s cancelling", spin);
        break;
    }
}

void tui_status_draw(tui_app *a) {
    WINDOW *w = a->w_status;
    if (!w) return;
    int width = getmaxx(w);
    char state[64], right[160], left[512];
    state_text(a, state, sizeof state);
    snprintf(left, sizeof left, " %s", a->engine ? chat_engine_model_name(a->engine) : "(no model)");
    snprintf(right, sizeof right, "ctx %d/%d  %.1f tok/s  %s%s ", a->ctx_used, a->ctx_size,
             a->tokens_per_second, a->think ? "think  " : "", state);
    wbkgdset(w, ' ' | a->roles[THEME_STATUS]);
    werase(w);
    /* the state on the right wins; the model name on the left gets what is left */
    int right_cols = tui_text_width(right, strlen(right));
    const char *shown = right;
    while (right_cols > width && *shown) { /* a very narrow window: drop from the left */
        shown += strcspn(shown + 1, " ") + 1;
        right_cols = tui_text_width(shown, strlen(shown));
    }
    tui_line line = {left, &(tui_span){0, (int)strlen(left), a->roles[THEME_STATUS_ACCENT]}, 1};
    tui_line_draw(w, 0, &line, a->roles[THEME_STATUS]);
    wattrset(w, a->roles[THEME_STATUS]);
    mvwaddstr(w, 0, width - right_cols, shown);
    wnoutrefresh(w);
}
