/* colors.c: the UI's colours: loads a theme (built-in or the user's), resolves it to what the
 * terminal shows (true colour, 256, 8, or attributes only under NO_COLOR) and applies it with
 * ncurses, giving the attribute every drawing function uses for a role. */
#include "tui/ui.h"

#include <stdlib.h>
#include <string.h>

int tui_colors_load(tui_app *a, const char *name, char **err) {
    char dir[4096], msg[512];
    const char *user_dir = theme_user_dir(dir, sizeof dir, msg, sizeof msg) ? NULL : dir;
    theme t;
    if (theme_load(&t, name ? name : THEME_DEFAULT, user_dir, msg, sizeof msg)) {
        *err = strdup(msg);
        return -1;
    }
    if (has_colors()) start_color();
    theme_depth depth = theme_depth_detect(getenv("NO_COLOR"), getenv("TERM"), getenv("COLORTERM"),
                                           has_colors() ? COLORS : 0);
    theme_resolved resolved;
    theme_resolve(&t, depth, &resolved);
    attr_t attrs[THEME_ROLE_COUNT];
    if (theme_apply_curses(&resolved, attrs)) {
        *err = strdup("the terminal refused the theme's colours");
        return -1;
    }
    for (int i = 0; i < THEME_ROLE_COUNT; i++) a->roles[i] = attrs[i];
    free(a->theme_name);
    a->theme_name = strdup(t.name);
    return 0;
}

void tui_colors_free(tui_app *a) {
    free(a->theme_name);
    a->theme_name = NULL;
}
