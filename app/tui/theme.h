/* theme.h: colour themes for the terminal UI.
 *
 * A theme gives each role of the UI (THEME_ROLES) a foreground, an optional
 * background and attributes, read from a plain-text file (themes/dark.theme shows
 * the syntax). The built-in themes (dark, the default; light; high-contrast;
 * gruvbox) are embedded in the binary; $XDG_CONFIG_HOME/gemma4/themes/NAME.theme
 * overrides one of them or adds a new one.
 *
 * Parsing and resolving a theme to what a terminal can show (true colour, 256,
 * 16 or 8 colours, or attributes only) are pure functions; theme_apply_curses is
 * the one function that needs ncurses initialised. Errors ("FILE:LINE: reason")
 * go to err[err_size]. */
#ifndef G4_THEME_H
#define G4_THEME_H

#include <curses.h>
#include <stddef.h>
#include <stdint.h>

/* The roles the UI draws with: X(enum suffix, name in theme files). */
#define THEME_ROLES(X)                                                                                  \
    X(TEXT, "text") X(DIM, "dim") X(USER, "user") X(USER_LABEL, "user_label")                             \
    X(ASSISTANT_LABEL, "assistant_label") X(THINKING, "thinking") X(THINKING_LABEL, "thinking_label")     \
    X(HEADING, "heading") X(STRONG, "strong") X(EMPHASIS, "emphasis") X(CODE, "code")                     \
    X(CODE_BLOCK, "code_block") X(CODE_LANG, "code_lang") X(QUOTE, "quote") X(LIST_MARKER, "list_marker") \
    X(LINK, "link") X(RULE, "rule") X(TABLE, "table") X(TOOL, "tool") X(TOOL_OK, "tool_ok")               \
    X(TOOL_ERROR, "tool_error") X(STATUS, "status") X(STATUS_ACCENT, "status_accent") X(INPUT, "input")   \
    X(ERROR, "error") X(SELECTION, "selection")

typedef enum {
#define THEME_ROLE_ENUM(id, name) THEME_##id,
    THEME_ROLES(THEME_ROLE_ENUM)
#undef THEME_ROLE_ENUM
    THEME_ROLE_COUNT
} theme_role;

/* The role's name in theme files ("code_block"), or NULL out of range. */
const char *theme_role_name(theme_role role);

#define THEME_NAME_MAX 64
#define THEME_FILE_MAX ((size_t)64 << 10)
#define THEME_DEFAULT "dark"

typedef enum { THEME_COLOR_DEFAULT, THEME_COLOR_INDEX, THEME_COLOR_RGB } theme_color_kind;

/* A colour as written: the terminal's default, a palette index (the 8 names are
 * 0-7, bright-* 8-15, then 0-255), or #rrggbb. */
typedef struct theme_color {
    uint8_t kind;  /* theme_color_kind */
    uint8_t index;
    uint8_t r, g, b;
} theme_color;

enum {
    THEME_ATTR_BOLD = 1 << 0,
    THEME_ATTR_ITALIC = 1 << 1,
    THEME_ATTR_UNDERLINE = 1 << 2,
    THEME_ATTR_REVERSE = 1 << 3,
    THEME_ATTR_DIM = 1 << 4,
};

typedef struct theme_style {
    theme_color fg, bg;
    unsigned attrs;  /* THEME_ATTR_BOLD | ... */
} theme_style;

typedef struct theme {
    char name[THEME_NAME_MAX + 1];
    theme_style style[THEME_ROLE_COUNT];
} theme;

/* Parses a theme file's text. Lines are `role = fg [bg] [bold] [italic]
 * [underline] [reverse] [dim]` or '#' comments. Roles the text leaves out look
 * like `text` (selection adds reverse). -1 with "ORIGIN:LINE: reason". */
int theme_parse(theme *out, const char *name, const char *text, size_t len, const char *origin,
                char *err, size_t err_size);

/* Loads theme NAME: USER_DIR/NAME.theme when it exists (USER_DIR may be NULL),
 * else the built-in theme of that name. -1 with the reason (an unknown name
 * lists the themes there are). */
int theme_load(theme *out, const char *name, const char *user_dir, char *err, size_t err_size);

/* $XDG_CONFIG_HOME/gemma4/themes (when absolute), else $HOME/.config/gemma4/themes. */
int theme_user_dir(char *buf, size_t size, char *err, size_t err_size);

/* The built-in themes: count, and the name and text of each (the first is the default). */
size_t theme_builtin_count(void);
const char *theme_builtin_name(size_t i);
const char *theme_builtin_text(size_t i);

/* Names of every theme (built-in and USER_DIR/NAME.theme with a valid NAME), sorted,
 * without duplicates; *out is malloc'd strings in a malloc'd array. Count or -1. */
int theme_names(const char *user_dir, char ***out);
void theme_names_free(char **names, int n);

/* ---- resolving to the terminal ------------------------------------------------------ */

typedef enum { THEME_DEPTH_NONE, THEME_DEPTH_8, THEME_DEPTH_16, THEME_DEPTH_256, THEME_DEPTH_TRUE } theme_depth;

/* What the terminal can show, from the environment and its colour count
 * (ncurses COLORS or terminfo "colors"; 0 or less = none): NONE when NO_COLOR is
 * set and non-empty or TERM is unset, empty or "dumb"; TRUE when COLORTERM is
 * truecolor or 24bit or the terminal reports 2^24 colours; else 256, 16 or 8 by
 * the colour count. */
theme_depth theme_depth_detect(const char *no_color, const char *term, const char *colorterm, int colors);

/* A resolved colour: -1 the terminal's default, 0..255 a palette index, or
 * THEME_RGB_FLAG | 0xRRGGBB (true colour only). */
#define THEME_RGB_FLAG 0x1000000
typedef struct theme_resolved {
    theme_depth depth;
    struct {
        int32_t fg, bg;
        unsigned attrs;
    } role[THEME_ROLE_COUNT];
} theme_resolved;

/* Maps every colour of T to DEPTH: RGB to the nearest xterm 256-colour cube or
 * grey entry (256), or the nearest of the 16 or 8 basic colours (16, 8), by CIE
 * Lab distance; palette indices above the depth likewise; bright-* on 8 colours
 * to the plain colour. NONE keeps only the attributes. */
void theme_resolve(const theme *t, theme_depth depth, theme_resolved *out);

/* The xterm palette's colour for index 0..255 as 0xRRGGBB. */
uint32_t theme_palette_rgb(int index);

/* Applies R with ncurses (after initscr): start_color, default colours, one
 * colour pair per role; true colour goes straight to a direct-colour terminal,
 * else into redefined palette entries where can_change_color() allows, else to
 * the nearest of 256. ATTRS[role] receives the attributes to draw the role with
 * (colour pair included). 0, or -1 if ncurses refuses a pair. */
int theme_apply_curses(const theme_resolved *r, attr_t attrs[THEME_ROLE_COUNT]);

#endif
