/* host_fs.c: ctx.fs for tool scripts: read, list, write and stat files confined to
 * the workspace. Every path is opened beneath the workspace directory with
 * openat2(RESOLVE_BENEATH), so neither ".." nor a symbolic link (a file or a
 * directory) can lead outside it; kernels without openat2 get a component-by-
 * component walk that refuses every symbolic link. Sizes are capped at max_file. */
#include "agent/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LIST_MAX_ENTRIES 100000
#define PATH_MAX_COMPONENTS 256

static atomic_int openat2_missing;  /* set once when the kernel says it lacks openat2 */

/* ---- opening beneath the workspace --------------------------------------------------- */

/* The path relative to the workspace: relative paths as they are, absolute ones only
 * when they lie inside the workspace. NULL (errno EXDEV) otherwise. */
static const char *workspace_relative(const char *workspace, const char *path) {
    if (path[0] != '/') return path[0] ? path : ".";
    size_t wl = strlen(workspace);
    if (wl == 1) wl = 0;  /* the workspace is "/" */
    if (strncmp(path, workspace, wl) != 0 || (path[wl] != '/' && path[wl] != '\0')) {
        errno = EXDEV;
        return NULL;
    }
    path += wl;
    while (*path == '/') path++;
    return *path ? path : ".";
}

static int open_with_openat2(int root, const char *rel, int flags, mode_t mode) {
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    for (int attempt = 0; attempt < 8; attempt++) {  /* EAGAIN: a concurrent rename; try again */
        long fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) return (int)fd;
    }
    return -1;
}

static int open_by_walking(int root, const char *rel, int flags, mode_t mode) {
    char buf[4096];
    if (strlen(rel) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, rel);
    const char *parts[PATH_MAX_COMPONENTS];
    int n = 0;
    for (char *save = NULL, *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0) continue;
        if (strcmp(p, "..") == 0) {
            if (n == 0) {
                errno = EXDEV;
                return -1;
            }
            n--;
            continue;
        }
        if (n == PATH_MAX_COMPONENTS) {
            errno = ENAMETOOLONG;
            return -1;
        }
        parts[n++] = p;
    }
    if (n == 0) return openat(root, ".", flags | O_CLOEXEC, mode);
    int dir = root;
    for (int i = 0; i < n - 1; i++) {
        int next = openat(dir, parts[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        if (dir != root) close(dir);
        if (next < 0) {
            errno = saved;
            return -1;
        }
        dir = next;
    }
    int fd = openat(dir, parts[n - 1], flags | O_NOFOLLOW | O_CLOEXEC, mode);
    int saved = errno;
    if (dir != root) close(dir);
    errno = saved;
    return fd;
}

int host_open_beneath(int root, const char *workspace, const char *path, int flags, mode_t mode, bool walk) {
    const char *rel = workspace_relative(workspace, path);
    if (!rel) return -1;
    if (!walk && !atomic_load(&openat2_missing)) {
        int fd = open_with_openat2(root, rel, flags, mode);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
        atomic_store(&openat2_missing, 1);  /* no openat2 here (or a seccomp filter refuses it) */
    }
    return open_by_walking(root, rel, flags, mode);
}

/* Opens path for a host function; on failure pushes nil and a one-line reason. */
static int open_for_script(lua_State *L, const char *path, int flags, mode_t mode) {
    sandbox *sb = sandbox_from(L);
    int fd = host_open_beneath(sandbox_workspace_fd(sb), sandbox_limits(sb)->workspace, path, flags, mode, false);
    if (fd >= 0) return fd;
    lua_pushnil(L);
    if (errno == EXDEV) lua_pushfstring(L, "%s: the path leads outside the workspace", path);
    else if (errno == ELOOP) lua_pushfstring(L, "%s: a symbolic link that is not followed here", path);
    else lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return -1;
}

static const char *type_name(mode_t mode) {
    if (S_ISREG(mode)) return "file";
    if (S_ISDIR(mode)) return "dir";
    if (S_ISLNK(mode)) return "link";
    return "other";
}

/* ---- fs.read ----------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
} byte_buffer;

static int push_bytes(lua_State *L) {
    byte_buffer *b = lua_touserdata(L, 1);
    lua_pushlstring(L, b->data, b->len);
    return 1;
}

static int fs_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer want = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, want >= 0, 2, "max_bytes must be positive");
    sandbox_check(L);
    size_t cap = sandbox_limits(sandbox_from(L))->max_file;
    if (want > 0 && (uint64_t)want < cap) cap = (size_t)want;
    int fd = open_for_script(L, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0) return 2;
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int is_dir = S_ISDIR(st.st_mode);
        close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, is_dir ? "is a directory (use fs.list)" : "is not a regular file");
        return 2;
    }
    size_t size = (uint64_t)st.st_size < cap ? (size_t)st.st_size : cap;
    byte_buffer b = {malloc(size ? size : 1), 0};
    if (!b.data) {
        close(fd);
        return luaL_error(L, "fs.read: out of memory");
    }
    while (b.len < size) {
        ssize_t got = read(fd, b.data + b.len, size - b.len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  /* the file shrank, or an error: return what was read */
        b.len += (size_t)got;
    }
    bool truncated = (uint64_t)st.st_size > b.len;
    close(fd);
    int status = sandbox_push_protected(L, push_bytes, &b);
    free(b.data);
    if (status != LUA_OK) return lua_error(L);
    lua_pushboolean(L, truncated);
    return 2;
}

/* ---- fs.list ----------------------------------------------------------------------- */

typedef struct {
    char *name;
    const char *type;
    long long size;
} dir_entry;

typedef struct {
    dir_entry *items;
    size_t count;
} dir_listing;

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const dir_entry *)a)->name, ((const dir_entry *)b)->name);
}

static int push_listing(lua_State *L) {
    dir_listing *d = lua_touserdata(L, 1);
    lua_createtable(L, d->count > 1 << 20 ? 1 << 20 : (int)d->count, 0);
    for (size_t i = 0; i < d->count; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, d->items[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, d->items[i].type);
        lua_setfield(L, -2, "type");
        lua_pushinteger(L, d->items[i].size);
        lua_setfield(L, -2, "size");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static void free_listing(dir_listing *d) {
    for (size_t i = 0; i < d->count; i++) free(d->items[i].name);
    free(d->items);
}

static int fs_list(lua_State *L) {
    const char *path = luaL_optstring(L, 1, ".");
    sandbox_check(L);
    int fd = open_for_script(L, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return 2;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    dir_listing d = {NULL, 0};
    size_t cap = 0;
    bool oom = false;
    struct dirent *e;
    while ((e = readdir(dir)) && d.count < LIST_MAX_ENTRIES) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (d.count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            dir_entry *grown = realloc(d.items, ncap * sizeof *grown);
            if (!grown) {
                oom = true;
                break;
            }
            d.items = grown;
            cap = ncap;
        }
        struct stat st;
        dir_entry *item = &d.items[d.count];
        item->name = strdup(e->d_name);
        if (!item->name) {
            oom = true;
            break;
        }
        bool known = fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        item->type = known ? type_name(st.st_mode) : "other";
        item->size = known ? (long long)st.st_size : 0;
        d.count++;
    }
    closedir(dir);
    if (oom) {
        free_listing(&d);
        return luaL_error(L, "fs.list: out of memory");
    }
    if (d.count) qsort(d.items, d.count, sizeof *d.items, compare_entries);
    int status = sandbox_push_protected(L, push_listing, &d);
    free_listing(&d);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

/* ---- fs.write ---------------------------------------------------------------------- */

static int fs_write(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    const char *mode = luaL_optstring(L, 3, "write");
    bool append = strcmp(mode, "append") == 0;
    luaL_argcheck(L, append || strcmp(mode, "write") == 0, 3, "the mode is \"write\" or \"append\"");
    sandbox_check(L);
    size_t cap = sandbox_limits(sandbox_from(L))->max_file;
    if (len > cap) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %I bytes is more than the %I a file may hold here", path, (lua_Integer)len,
                        (lua_Integer)cap);
        return 2;
    }
    int fd = open_for_script(L, path, O_WRONLY | O_CREAT | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) return 2;
    size_t done = 0;
    int err = 0;
    while (done < len) {
        ssize_t put = write(fd, text + done, len - done);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            err = put < 0 ? errno : EIO;
            break;
        }
        done += (size_t)put;
    }
    if (close(fd) != 0 && !err) err = errno;
    if (err) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s (%I of %I bytes written)", path, strerror(err), (lua_Integer)done, (lua_Integer)len);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- fs.stat ----------------------------------------------------------------------- */

static int fs_stat(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    sandbox_check(L);
    int fd = open_for_script(L, path, O_PATH, 0);
    if (fd < 0) return 2;
    struct stat st;
    int rc = fstat(fd, &st);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(saved));
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, type_name(st.st_mode));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9);
    lua_setfield(L, -2, "mtime");
    return 1;
}

void host_fs_push(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"read", fs_read}, {"list", fs_list}, {"write", fs_write}, {"stat", fs_stat}, {NULL, NULL},
    };
    luaL_newlib(L, functions);
}
