/* theme.c: colour themes (theme.h): parsing theme files, the built-in themes
 * (embedded from the themes/ folder by themes/embed.cmake), user themes, resolving
 * colours to the terminal's depth by CIE Lab distance, and applying a resolved
 * theme with ncurses. */
#include "tui/theme.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* From the generated themes.c. */
extern const size_t g4_builtin_theme_count;
extern const char *const g4_builtin_theme_names[];
extern const char *const g4_builtin_theme_texts[];

static int fail(char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const role_names[THEME_ROLE_COUNT] = {
#define THEME_ROLE_NAME(id, name) name,
    THEME_ROLES(THEME_ROLE_NAME)
#undef THEME_ROLE_NAME
};

const char *theme_role_name(theme_role role) {
    return (unsigned)role < THEME_ROLE_COUNT ? role_names[role] : NULL;
}

size_t theme_builtin_count(void) { return g4_builtin_theme_count; }
const char *theme_builtin_name(size_t i) { return i < g4_builtin_theme_count ? g4_builtin_theme_names[i] : NULL; }
const char *theme_builtin_text(size_t i) { return i < g4_builtin_theme_count ? g4_builtin_theme_texts[i] : NULL; }

/* ---- parsing -------------------------------------------------------------------- */

static const char *const basic_names[8] = {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 0 if WORD is a colour (into *c), else -1. */
static int parse_color(const char *word, theme_color *c) {
    memset(c, 0, sizeof *c);
    if (!strcmp(word, "default")) return 0;
    const char *base = word;
    int bright = 0;
    if (!strncmp(word, "bright-", 7)) base = word + 7, bright = 8;
    for (int i = 0; i < 8; i++)
        if (!strcmp(base, basic_names[i])) {
            c->kind = THEME_COLOR_INDEX;
            c->index = (uint8_t)(i + bright);
            return 0;
        }
    if (bright) return -1;
    if (word[0] == '#') {
        int v[6];
        if (strlen(word) != 7) return -1;
        for (int i = 0; i < 6; i++)
            if ((v[i] = hex_digit(word[i + 1])) < 0) return -1;
        c->kind = THEME_COLOR_RGB;
        c->r = (uint8_t)(v[0] << 4 | v[1]);
        c->g = (uint8_t)(v[2] << 4 | v[3]);
        c->b = (uint8_t)(v[4] << 4 | v[5]);
        return 0;
    }
    size_t n = strlen(word);
    if (n == 0 || n > 3 || strspn(word, "0123456789") != n) return -1;
    int v = atoi(word);
    if (v > 255) return -1;
    c->kind = THEME_COLOR_INDEX;
    c->index = (uint8_t)v;
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} attr_words[] = {
    {"bold", THEME_ATTR_BOLD}, {"italic", THEME_ATTR_ITALIC}, {"underline", THEME_ATTR_UNDERLINE},
    {"reverse", THEME_ATTR_REVERSE}, {"dim", THEME_ATTR_DIM},
};

/* The words after '=' (NUL-terminated, modified) into ST. */
static int parse_style(char *p, theme_style *st, char *err, size_t err_size) {
    memset(st, 0, sizeof *st);
    int colors = 0;
    for (char *save = NULL, *w = strtok_r(p, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof attr_words / sizeof *attr_words; i++)
            if (!strcmp(w, attr_words[i].name)) bit = attr_words[i].bit;
        if (bit) {
            if (!colors) return fail(err, err_size, "the foreground colour comes first, before '%s'", w);
            st->attrs |= bit;
            continue;
        }
        theme_color c;
        if (parse_color(w, &c))
            return fail(err, err_size, "'%.40s' is not a colour (a name like red or bright-red, 0-255, #rrggbb, default) "
                        "or an attribute (bold italic underline reverse dim)", w);
        if (st->attrs) return fail(err, err_size, "colours come before the attributes ('%.40s')", w);
        if (colors == 2) return fail(err, err_size, "'%.40s' is a third colour; give a foreground and a background at most", w);
        *(colors++ ? &st->bg : &st->fg) = c;
    }
    return colors ? 0 : fail(err, err_size, "no colour after '='");
}

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > THEME_NAME_MAX) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

static int parse_line(theme *t, char *line, int lineno, int set_at[THEME_ROLE_COUNT], char *err, size_t err_size) {
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') return 0;
    char *eq = strchr(p, '=');
    if (!eq) return fail(err, err_size, "expected 'role = colour [background] [attributes]'");
    char *end = eq;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    *end = '\0';
    int role = -1;
    for (int i = 0; i < THEME_ROLE_COUNT && role < 0; i++)
        if (!strcmp(p, role_names[i])) role = i;
    if (role < 0) return fail(err, err_size, "unknown role '%.40s'", p);
    if (set_at[role]) return fail(err, err_size, "%s is already set on line %d", role_names[role], set_at[role]);
    /* a comment: '#' after a blank and before a blank or the end ("#rrggbb" is a colour) */
    for (char *hash = strchr(eq + 1, '#'); hash; hash = strchr(hash + 1, '#'))
        if ((hash[-1] == ' ' || hash[-1] == '\t') && (hash[1] == ' ' || hash[1] == '\t' || !hash[1])) {
            *hash = '\0';
            break;
        }
    if (parse_style(eq + 1, &t->style[role], err, err_size)) return -1;
    set_at[role] = lineno;
    return 0;
}

int theme_parse(theme *out, const char *name, const char *text, size_t len, const char *origin,
                char *err, size_t err_size) {
    if (!origin) origin = name ? name : "theme";
    if (len > THEME_FILE_MAX)
        return fail(err, err_size, "%s: %zu bytes is over the %zu KiB a theme may have", origin, len,
                    THEME_FILE_MAX >> 10);
    if (memchr(text, '\0', len)) return fail(err, err_size, "%s: contains a NUL byte; it is not a text file", origin);
    char *copy = malloc(len + 1);
    if (!copy) return fail(err, err_size, "%s: out of memory", origin);
    memcpy(copy, text, len);
    copy[len] = '\0';
    theme t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name ? name : "");
    int set_at[THEME_ROLE_COUNT] = {0}, lineno = 1, rc = 0;
    char why[300];
    for (char *line = copy; line; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (parse_line(&t, line, lineno, set_at, why, sizeof why)) {
            rc = fail(err, err_size, "%s:%d: %s", origin, lineno, why);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    if (rc) return -1;
    for (int i = 0; i < THEME_ROLE_COUNT; i++) {
        if (set_at[i]) continue;
        t.style[i] = t.style[THEME_TEXT];
        if (i == THEME_SELECTION) t.style[i].attrs |= THEME_ATTR_REVERSE;
    }
    *out = t;
    return 0;
}

/* ---- finding themes -------------------------------------------------------------------- */

int theme_user_dir(char *buf, size_t size, char *err, size_t err_size) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(buf, size, "%s/gemma4/themes", xdg);
    else if (home && *home) n = snprintf(buf, size, "%s/.config/gemma4/themes", home);
    else return fail(err, err_size, "cannot place the themes directory: set HOME or XDG_CONFIG_HOME");
    if (n < 0 || (size_t)n >= size) return fail(err, err_size, "the themes directory path is too long");
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void theme_names_free(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

int theme_names(const char *user_dir, char ***out) {
    size_t cap = g4_builtin_theme_count + 16, n = 0;
    char **names = malloc(cap * sizeof *names);
    if (!names) return -1;
    for (size_t i = 0; i < g4_builtin_theme_count; i++)
        if (!(names[n++] = strdup(g4_builtin_theme_names[i]))) goto oom;
    DIR *d = user_dir ? opendir(user_dir) : NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || strcmp(e->d_name + len - 6, ".theme")) continue;
        char *stem = strndup(e->d_name, len - 6);
        if (!stem || !name_ok(stem)) {
            free(stem);
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, (cap *= 2) * sizeof *names);
            if (!grown) {
                free(stem);
                closedir(d);
                goto oom;
            }
            names = grown;
        }
        names[n++] = stem;
    }
    if (d) closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && !strcmp(names[kept - 1], names[i])) free(names[i]);
        else names[kept++] = names[i];
    }
    *out = names;
    return (int)kept;
oom:
    theme_names_free(names, (int)n);
    return -1;
}

/* Reads a user theme file; 1 if it does not exist, 0 read, -1 error. */
static int read_user_theme(const char *path, char **text, size_t *len, char *err, size_t err_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 1 : fail(err, err_size, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = -1;
    *text = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(err, err_size, "%s: not a regular file", path);
    } else if ((uintmax_t)st.st_size > THEME_FILE_MAX) {
        fail(err, err_size, "%s: %jd bytes is over the %zu KiB a theme may have", path, (intmax_t)st.st_size,
             THEME_FILE_MAX >> 10);
    } else if (!(*text = malloc((size_t)st.st_size + 1))) {
        fail(err, err_size, "%s: out of memory", path);
    } else {
        size_t got = 0;
        ssize_t r = 1;
        while (got < (size_t)st.st_size && (r = read(fd, *text + got, (size_t)st.st_size - got)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            got += (size_t)r;
        }
        if (r < 0) fail(err, err_size, "%s: %s", path, strerror(errno));
        else *len = got, rc = 0;
    }
    if (rc) {
        free(*text);
        *text = NULL;
    }
    close(fd);
    return rc;
}

int theme_load(theme *out, const char *name, const char *user_dir, char *err, size_t err_size) {
    if (!name || !name_ok(name))
        return fail(err, err_size, "'%.80s' is not a theme name (1 to %d letters, digits, '-' or '_')",
                    name ? name : "", THEME_NAME_MAX);
    if (user_dir) {
        char path[4096], *text = NULL;
        size_t len = 0;
        if (snprintf(path, sizeof path, "%s/%s.theme", user_dir, name) >= (int)sizeof path)
            return fail(err, err_size, "theme path too long");
        int rc = read_user_theme(path, &text, &len, err, err_size);
        if (rc < 0) return -1;
        if (rc == 0) {
            rc = theme_parse(out, name, text, len, path, err, err_size);
            free(text);
            return rc;
        }
    }
    for (size_t i = 0; i < g4_builtin_theme_count; i++)
        if (!strcmp(name, g4_builtin_theme_names[i])) {
            const char *text = g4_builtin_theme_texts[i];
            char origin[THEME_NAME_MAX + 32];
            snprintf(origin, sizeof origin, "themes/%s.theme", name);
            return theme_parse(out, name, text, strlen(text), origin, err, err_size);
        }
    char **names;
    int n = theme_names(user_dir, &names);
    char list[512] = "";
    for (int i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    }
    theme_names_free(names, n);
    return fail(err, err_size, "no theme named '%s' (themes: %s)", name, list);
}

/* ---- colour depth and resolving ------------------------------------------------------ */

theme_depth theme_depth_detect(const char *no_color, const char *term, const char *colorterm, int colors) {
    if (no_color && *no_color) return THEME_DEPTH_NONE;
    if (!term || !*term || !strcmp(term, "dumb")) return THEME_DEPTH_NONE;
    if (colorterm && (!strcmp(colorterm, "truecolor") || !strcmp(colorterm, "24bit"))) return THEME_DEPTH_TRUE;
    if (colors >= 1 << 24) return THEME_DEPTH_TRUE;
    if (colors >= 256) return THEME_DEPTH_256;
    if (colors >= 16) return THEME_DEPTH_16;
    if (colors >= 8) return THEME_DEPTH_8;
    return THEME_DEPTH_NONE;
}

/* xterm's default colours for 0-15 */
static const uint32_t basic_rgb[16] = {
    0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
    0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
};

uint32_t theme_palette_rgb(int index) {
    static const uint8_t cube[6] = {0, 95, 135, 175, 215, 255};
    if (index < 0 || index > 255) return 0;
    if (index < 16) return basic_rgb[index];
    if (index < 232) {
        int i = index - 16;
        return (uint32_t)cube[i / 36] << 16 | (uint32_t)cube[i / 6 % 6] << 8 | cube[i % 6];
    }
    uint32_t grey = (uint32_t)(8 + 10 * (index - 232));
    return grey << 16 | grey << 8 | grey;
}

typedef struct {
    double l, a, b;
} lab;

static double srgb_to_linear(double c) {
    c /= 255.0;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double lab_f(double t) {
    return t > 216.0 / 24389.0 ? cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0;
}

/* sRGB (D65) -> CIE L*a*b* */
static lab rgb_to_lab(uint32_t rgb) {
    double r = srgb_to_linear(rgb >> 16 & 255), g = srgb_to_linear(rgb >> 8 & 255), b = srgb_to_linear(rgb & 255);
    double x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    double y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    double z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    return (lab){116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)};
}

/* The palette index in [lo, hi) nearest to RGB (CIE76 distance). */
static int nearest(uint32_t rgb, int lo, int hi) {
    lab want = rgb_to_lab(rgb);
    int best = lo;
    double best_d = DBL_MAX;
    for (int i = lo; i < hi; i++) {
        lab c = rgb_to_lab(theme_palette_rgb(i));
        double d = (c.l - want.l) * (c.l - want.l) + (c.a - want.a) * (c.a - want.a) + (c.b - want.b) * (c.b - want.b);
        if (d < best_d) best_d = d, best = i;
    }
    return best;
}

static int32_t resolve_color(theme_color c, theme_depth depth) {
    if (depth == THEME_DEPTH_NONE || c.kind == THEME_COLOR_DEFAULT) return -1;
    uint32_t rgb = c.kind == THEME_COLOR_RGB ? (uint32_t)c.r << 16 | (uint32_t)c.g << 8 | c.b
                                             : theme_palette_rgb(c.index);
    switch (depth) {
    case THEME_DEPTH_TRUE:
        return c.kind == THEME_COLOR_RGB ? (int32_t)(THEME_RGB_FLAG | rgb) : c.index;
    case THEME_DEPTH_256:
        return c.kind == THEME_COLOR_RGB ? nearest(rgb, 16, 256) : c.index;
    case THEME_DEPTH_16:
        return c.kind == THEME_COLOR_INDEX && c.index < 16 ? c.index : nearest(rgb, 0, 16);
    case THEME_DEPTH_8:
        if (c.kind == THEME_COLOR_INDEX && c.index < 16) return c.index & 7;
        return nearest(rgb, 0, 8);
    case THEME_DEPTH_NONE:
        break;
    }
    return -1;
}

void theme_resolve(const theme *t, theme_depth depth, theme_resolved *out) {
    out->depth = depth;
    for (int i = 0; i < THEME_ROLE_COUNT; i++) {
        const theme_style *st = &t->style[i];
        int32_t fg = resolve_color(st->fg, depth), bg = resolve_color(st->bg, depth);
        if (fg >= 0 && fg == bg) bg = -1;  /* two colours merged by a small palette: keep the text readable */
        out->role[i].fg = fg;
        out->role[i].bg = bg;
        out->role[i].attrs = st->attrs;
    }
}

/* ---- ncurses ----------------------------------------------------------------------------- */

/* Palette slots redefined for true colour on a terminal that can change colours. */
typedef struct {
    int next;           /* the next free slot, counting down */
    int used[256];      /* slots the theme names itself */
    uint32_t rgb[256];  /* what each redefined slot holds */
    bool defined[256];
} palette_slots;

static int curses_color(int32_t c, palette_slots *slots) {
    if (c < 0) return -1;
    bool direct = COLORS >= 1 << 24;
    if (!(c & THEME_RGB_FLAG)) return direct && c >= 8 ? (int)theme_palette_rgb(c) : c;
    uint32_t rgb = (uint32_t)c & 0xFFFFFF;
    if (direct) return (int)rgb;
    if (slots) {
        for (int i = 255; i > slots->next; i--)
            if (slots->defined[i] && slots->rgb[i] == rgb) return i;
        while (slots->next >= 16 && slots->used[slots->next]) slots->next--;
        if (slots->next >= 16) {
            int slot = slots->next--;
            if (init_extended_color(slot, (int)((rgb >> 16) * 1000 / 255), (int)((rgb >> 8 & 255) * 1000 / 255),
                                    (int)((rgb & 255) * 1000 / 255)) != ERR) {
                slots->defined[slot] = true;
                slots->rgb[slot] = rgb;
                return slot;
            }
        }
    }
    return COLORS >= 256 ? nearest(rgb, 16, 256) : COLORS >= 16 ? nearest(rgb, 0, 16) : nearest(rgb, 0, 8);
}

int theme_apply_curses(const theme_resolved *r, attr_t attrs[THEME_ROLE_COUNT]) {
    static const struct {
        unsigned bit;
        attr_t attr;
    } map[] = {{THEME_ATTR_BOLD, A_BOLD}, {THEME_ATTR_ITALIC, A_ITALIC}, {THEME_ATTR_UNDERLINE, A_UNDERLINE},
               {THEME_ATTR_REVERSE, A_REVERSE}, {THEME_ATTR_DIM, A_DIM}};
    bool color = r->depth != THEME_DEPTH_NONE && has_colors() && start_color() != ERR;
    if (color) use_default_colors();
    palette_slots slots_store, *slots = NULL;
    if (color && r->depth == THEME_DEPTH_TRUE && COLORS >= 256 && COLORS < 1 << 24 && can_change_color()) {
        memset(&slots_store, 0, sizeof slots_store);
        slots_store.next = 255;
        for (int i = 0; i < THEME_ROLE_COUNT; i++) {
            if (r->role[i].fg >= 0 && r->role[i].fg < 256) slots_store.used[r->role[i].fg] = 1;
            if (r->role[i].bg >= 0 && r->role[i].bg < 256) slots_store.used[r->role[i].bg] = 1;
        }
        slots = &slots_store;
    }
    for (int i = 0; i < THEME_ROLE_COUNT; i++) {
        attr_t a = 0;
        for (size_t k = 0; k < sizeof map / sizeof *map; k++)
            if (r->role[i].attrs & map[k].bit) a |= map[k].attr;
        if (color && (r->role[i].fg >= 0 || r->role[i].bg >= 0)) {
            int pair = i + 1;
            if (pair >= COLOR_PAIRS) return -1;
            int fg = curses_color(r->role[i].fg, slots), bg = curses_color(r->role[i].bg, slots);
            if (init_extended_pair(pair, fg, bg) == ERR) return -1;
            a |= COLOR_PAIR(pair);
        }
        attrs[i] = a;
    }
    return 0;
}
