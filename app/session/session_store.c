/* session_store.c: sessions on disk: safe names, the default directory, loading
 * a file with its size limit, the atomic save that never replaces a file it
 * cannot read as a session, listing and deleting. The document itself is in
 * session.c. */
#include "session/session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- names and paths ------------------------------------------------------------ */

/* Length of the UTF-8 character at s (n bytes left), 0 if invalid. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

int session_name_check(const char *name, char *err, size_t err_size) {
    if (!name || !*name) return fail(err, err_size, "a session name cannot be empty");
    size_t n = strlen(name);
    if (n > SESSION_NAME_MAX)
        return fail(err, err_size, "session name '%.40s...' is %zu bytes; at most %d are allowed", name, n,
                    SESSION_NAME_MAX);
    if (name[0] == '.') return fail(err, err_size, "session name '%s' cannot start with '.'", name);
    if (strchr(name, '/')) return fail(err, err_size, "session name '%s' cannot contain '/'", name);
    if (strstr(name, "..")) return fail(err, err_size, "session name '%s' cannot contain '..'", name);
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)name + i;
        if (*p < 0x20 || *p == 0x7f)
            return fail(err, err_size, "session name cannot contain control characters");
        size_t k = utf8_char(p, n - i);
        if (!k) return fail(err, err_size, "session name is not valid UTF-8");
        i += k;
    }
    return 0;
}

int session_path(char *buf, size_t size, const char *dir, const char *name) {
    int n = snprintf(buf, size, "%s/%s.json", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int session_default_dir(char *buf, size_t size, char *err, size_t err_size) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(buf, size, "%s/gemma4/sessions", xdg);
    else if (home && *home) n = snprintf(buf, size, "%s/.local/share/gemma4/sessions", home);
    else return fail(err, err_size, "cannot place the sessions directory: set HOME or XDG_DATA_HOME");
    if (n < 0 || (size_t)n >= size) return fail(err, err_size, "the sessions directory path is too long");
    return 0;
}

int session_auto_name(const char *dir, time_t when, char out[SESSION_NAME_MAX + 1]) {
    struct tm tm;
    char base[64], path[4096];
    if (!localtime_r(&when, &tm) || !strftime(base, sizeof base, "%Y-%m-%d-%H%M%S", &tm)) return -1;
    snprintf(out, SESSION_NAME_MAX + 1, "%s", base);
    for (int k = 2; dir; k++) {
        struct stat st;
        if (session_path(path, sizeof path, dir, out)) return -1;
        if (lstat(path, &st) != 0 && errno == ENOENT) break;
        if (k > 9999) return -1;
        snprintf(out, SESSION_NAME_MAX + 1, "%s-%d", base, k);
    }
    return 0;
}

/* ---- loading a file --------------------------------------------------------------- */

static void remember_file(session_file_id *id, const struct stat *st) {
    id->known = true;
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
}

static bool same_file(const session_file_id *id, const struct stat *st) {
    return id->known && id->dev == st->st_dev && id->ino == st->st_ino && id->size == st->st_size &&
           id->mtime.tv_sec == st->st_mtim.tv_sec && id->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

session *session_load(const char *path, char *err, size_t err_size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        fail(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    session *s = NULL;
    if (fstat(fd, &st) != 0) {
        fail(err, err_size, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fail(err, err_size, "%s: not a regular file", path);
    } else if ((uintmax_t)st.st_size > SESSION_FILE_MAX) {
        fail(err, err_size, "%s: %jd bytes is over the %zu MiB a session may have", path, (intmax_t)st.st_size,
             SESSION_FILE_MAX >> 20);
    } else if (!(data = malloc((size_t)st.st_size + 1))) {
        fail(err, err_size, "%s: out of memory reading %jd bytes", path, (intmax_t)st.st_size);
    } else {
        size_t want = (size_t)st.st_size + 1, got = 0;  /* one more: notices a file still growing */
        ssize_t r = 0;
        while (got < want && (r = read(fd, data + got, want - got)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            got += (size_t)r;
        }
        if (r < 0) fail(err, err_size, "%s: %s", path, strerror(errno));
        else if (got != (size_t)st.st_size) fail(err, err_size, "%s: the file changed while it was read", path);
        else if ((s = session_load_bytes(data, got, path, err, err_size))) remember_file(&s->file, &st);
    }
    free(data);
    close(fd);
    return s;
}

/* ---- saving ----------------------------------------------------------------------- */

/* mkdir -p DIR, new levels with mode 0700. */
static int make_dirs(const char *dir, char *err, size_t err_size) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) return fail(err, err_size, "bad sessions directory '%s'", dir);
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fail(err, err_size, "cannot create %s: %s", path, strerror(errno));
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(err, err_size, "%s is not a directory", dir);
    return 0;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Checks that PATH, if present, is a file save may replace. */
static int check_target(const session *s, const char *path, char *err, size_t err_size) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : fail(err, err_size, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(err, err_size, "%s exists and is not a regular file; not replacing it (choose another name)", path);
    if (same_file(&s->file, &st)) return 0;
    char why[512];
    session *old = session_load(path, why, sizeof why);
    if (!old)
        return fail(err, err_size, "not replacing %s, which does not load as a gemma4 session (%s); move it away or choose another name",
                    path, why);
    session_free(old);
    return 0;
}

int session_save(session *s, const char *dir, char *err, size_t err_size) {
    char path[4096], tmp[4096 + 16];
    if (session_name_check(s->name, err, err_size)) return -1;
    if (session_path(path, sizeof path, dir, s->name)) return fail(err, err_size, "session path too long");
    if (make_dirs(dir, err, err_size) || check_target(s, path, err, err_size)) return -1;

    json_t *doc = session_to_json(s);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text) return fail(err, err_size, "%s: out of memory writing the session", path);
    size_t len = strlen(text);
    if (len + 1 > SESSION_FILE_MAX) {
        free(text);
        return fail(err, err_size, "%s: the session would be over %zu MiB; start a new one", path,
                    SESSION_FILE_MAX >> 20);
    }
    snprintf(tmp, sizeof tmp, "%s/.%s.json.XXXXXX", dir, s->name);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        free(text);
        return fail(err, err_size, "cannot write in %s: %s", dir, strerror(errno));
    }
    int rc = write_all(fd, text, len) || write_all(fd, "\n", 1) || fsync(fd);
    int saved_errno = errno;
    free(text);
    if (close(fd) != 0 && !rc) rc = -1, saved_errno = errno;
    if (!rc && rename(tmp, path) != 0) rc = -1, saved_errno = errno;
    if (rc) {
        unlink(tmp);
        return fail(err, err_size, "%s: not saved: %s (the previous file is unchanged)", path, strerror(saved_errno));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  /* makes the rename durable; some filesystems refuse, the file is safe either way */
        close(dfd);
    }
    struct stat st;
    if (stat(path, &st) == 0) remember_file(&s->file, &st);
    return 0;
}

/* ---- listing and deleting --------------------------------------------------------- */

/* The first user message as one line of at most SESSION_TITLE_MAX bytes. */
static char *make_title(const json_t *messages) {
    size_t i;
    const json_t *msg;
    const char *text = "";
    json_array_foreach(messages, i, msg) {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!role || strcmp(role, "user")) continue;
        const json_t *content = json_object_get(msg, "content");
        if (json_is_string(content)) {
            text = json_string_value(content);
        } else {
            size_t k;
            const json_t *part;
            json_array_foreach(content, k, part) {
                const char *t = json_string_value(json_object_get(part, "text"));
                if (t) { text = t; break; }
            }
        }
        break;
    }
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r') text++;
    size_t n = strlen(text), cut = n;
    if (n > SESSION_TITLE_MAX) {
        cut = SESSION_TITLE_MAX - 3;  /* room for "…" */
        while (cut && ((unsigned char)text[cut] & 0xC0) == 0x80) cut--;
    }
    char *t = malloc(cut + 4);
    if (!t) return NULL;
    for (size_t k = 0; k < cut; k++) t[k] = (unsigned char)text[k] < 0x20 ? ' ' : text[k];
    strcpy(t + cut, cut < n ? "\xE2\x80\xA6" : "");
    return t;
}

static int compare_info(const void *pa, const void *pb) {
    const session_info *a = pa, *b = pb;
    if (!a->error != !b->error) return a->error ? 1 : -1;
    if (!a->error && a->updated != b->updated) return a->updated > b->updated ? -1 : 1;
    return strcmp(a->name, b->name);
}

void session_list_free(session_info *list, size_t n) {
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].name);
        free(list[i].path);
        free(list[i].title);
        free(list[i].error);
    }
    free(list);
}

static int fill_info(session_info *info, const char *dir, const char *file) {
    size_t stem = strlen(file) - 5;  /* without ".json" */
    char err[600];
    info->name = strndup(file, stem);
    info->path = malloc(strlen(dir) + strlen(file) + 2);
    if (!info->name || !info->path) return -1;
    sprintf(info->path, "%s/%s", dir, file);
    session *s = session_load(info->path, err, sizeof err);
    if (!s) return (info->error = strdup(err)) ? 0 : -1;
    info->updated = s->updated;
    info->message_count = json_array_size(s->messages);
    info->title = make_title(s->messages);
    session_free(s);
    return info->title ? 0 : -1;
}

ssize_t session_list(const char *dir, session_info **out, char *err, size_t err_size) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : fail(err, err_size, "cannot list %s: %s", dir, strerror(errno));
    session_info *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (n == cap) {
            session_info *grown = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *list);
            if (!grown) { rc = -1; break; }
            list = grown;
        }
        memset(&list[n], 0, sizeof list[n]);
        rc = fill_info(&list[n++], dir, e->d_name);
    }
    closedir(d);
    if (rc) {
        session_list_free(list, n);
        return fail(err, err_size, "out of memory listing %s", dir);
    }
    if (n) qsort(list, n, sizeof *list, compare_info);
    *out = list;
    return (ssize_t)n;
}

int session_delete(const char *dir, const char *name, char *err, size_t err_size) {
    char path[4096];
    if (session_name_check(name, err, err_size)) return -1;
    if (session_path(path, sizeof path, dir, name)) return fail(err, err_size, "session path too long");
    if (unlink(path) != 0) {
        if (errno == ENOENT) return fail(err, err_size, "no session named '%s' in %s", name, dir);
        return fail(err, err_size, "cannot delete %s: %s", path, strerror(errno));
    }
    return 0;
}
