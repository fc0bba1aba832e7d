/* sandbox.c: the per-call Lua state of a tool script: a counting allocator that
 * refuses past max_memory, only the safe standard libraries (base without dofile,
 * loadfile or collectgarbage other than "count"; string without dump; table, math,
 * utf8, coroutine; load forced to text chunks), an instruction-count hook that
 * enforces the instruction limit, the wall-clock deadline and the cancel flag, and
 * the protected-call helpers the toolbox and the host functions build on. */
#include "agent/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOOK_EVERY 1000        /* VM instructions between limit checks */
#define LOG_CAP (8 * 1024)     /* bytes of ctx.log / print output kept per call */

typedef enum { STOP_NONE, STOP_CANCEL, STOP_TIME, STOP_INSTRUCTIONS } stop_reason;

struct sandbox {
    lua_State *L;
    const agent_limits *limits;
    const atomic_int *cancel;
    size_t used;              /* bytes the Lua state holds now */
    bool refused;             /* the allocator refused a request since the last call began */
    uint64_t instructions;
    double deadline;          /* CLOCK_MONOTONIC seconds */
    stop_reason stopped;      /* sticky: once a limit is hit every hook raises again */
    int workspace_fd;
    char log[LOG_CAP];
    size_t log_len;
};

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sandbox *sb = ud;
    size_t old = ptr ? osize : 0;  /* without ptr, osize tells the object type */
    if (nsize == 0) {
        free(ptr);
        sb->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > sb->limits->max_memory - sb->used) {
        sb->refused = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    sb->used = sb->used - old + nsize;
    return p;
}

static stop_reason stop_check(sandbox *sb) {
    if (sb->stopped != STOP_NONE) return sb->stopped;
    if (sb->cancel && atomic_load(sb->cancel)) sb->stopped = STOP_CANCEL;
    else if (monotonic_now() >= sb->deadline) sb->stopped = STOP_TIME;
    else if (sb->instructions > sb->limits->max_instructions) sb->stopped = STOP_INSTRUCTIONS;
    return sb->stopped;
}

static void stop_message(const sandbox *sb, char *out, size_t cap) {
    switch (sb->stopped) {
    case STOP_CANCEL: snprintf(out, cap, "the tool call was cancelled"); break;
    case STOP_TIME: snprintf(out, cap, "the tool ran past its time limit of %g s", sb->limits->timeout_s); break;
    case STOP_INSTRUCTIONS:
        snprintf(out, cap, "the tool ran past its limit of %llu Lua instructions",
                 (unsigned long long)sb->limits->max_instructions);
        break;
    case STOP_NONE: snprintf(out, cap, "the tool was stopped"); break;
    }
}

static void raise_stop(lua_State *L, const sandbox *sb) {
    char msg[160];
    stop_message(sb, msg, sizeof msg);
    lua_pushstring(L, msg);
    lua_error(L);
}

static void instruction_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sandbox *sb = sandbox_from(L);
    sb->instructions += HOOK_EVERY;
    if (stop_check(sb) == STOP_NONE) return;
    /* From now on every instruction of this thread raises again, so that a script
     * that catches the error (pcall in a loop) cannot keep running. */
    lua_sethook(L, instruction_hook, LUA_MASKCOUNT, 1);
    raise_stop(L, sb);
}

/* ---- the restricted globals ------------------------------------------------------ */

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t". */
static int safe_load(lua_State *L) {
    int n = lua_gettop(L);
    if (n < 3) lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int safe_collectgarbage(lua_State *L) {
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0) return luaL_error(L, "collectgarbage: only \"count\" is allowed in a tool");
    int k = lua_gc(L, LUA_GCCOUNT, 0), b = lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, (lua_Number)k + (lua_Number)b / 1024);
    return 1;
}

int sandbox_print(lua_State *L) {
    sandbox *sb = sandbox_from(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    sandbox_log(sb, s, len);
    return 0;
}

static void open_library(lua_State *L, const char *name, lua_CFunction open) {
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static void remove_field(lua_State *L, int table, const char *name) {
    lua_pushnil(L);
    lua_setfield(L, table, name);
}

static int open_globals(lua_State *L) {
    open_library(L, LUA_GNAME, luaopen_base);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    open_library(L, LUA_UTF8LIBNAME, luaopen_utf8);
    open_library(L, LUA_COLIBNAME, luaopen_coroutine);

    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    remove_field(L, g, "dofile");
    remove_field(L, g, "loadfile");
    remove_field(L, g, "warn");
    lua_getfield(L, g, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, g, "collectgarbage");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, g, "print");
    lua_getfield(L, g, LUA_STRLIBNAME);
    remove_field(L, lua_gettop(L), "dump");
    lua_pop(L, 1);
    host_json_push(L);
    lua_setfield(L, g, "json");
    lua_pop(L, 1);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------- */

sandbox *sandbox_open(const agent_limits *limits, const atomic_int *cancel, char *err, size_t cap) {
    sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    sb->limits = limits;
    sb->cancel = cancel;
    sb->deadline = monotonic_now() + limits->timeout_s;
    sb->workspace_fd = open(limits->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sb->workspace_fd < 0) {
        snprintf(err, cap, "cannot open the workspace %s: %s", limits->workspace, strerror(errno));
        free(sb);
        return NULL;
    }
    sb->L = lua_newstate(counting_alloc, sb);
    if (!sb->L) {
        snprintf(err, cap, "cannot create a Lua state: out of memory");
        sandbox_close(sb);
        return NULL;
    }
    if (sandbox_call(sb, open_globals, NULL, err, cap) != LUA_OK) {
        sandbox_close(sb);
        return NULL;
    }
    lua_sethook(sb->L, instruction_hook, LUA_MASKCOUNT, HOOK_EVERY);
    return sb;
}

void sandbox_close(sandbox *sb) {
    if (!sb) return;
    if (sb->L) lua_close(sb->L);
    if (sb->workspace_fd >= 0) close(sb->workspace_fd);
    free(sb);
}

lua_State *sandbox_lua(sandbox *sb) { return sb->L; }

sandbox *sandbox_from(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

const agent_limits *sandbox_limits(const sandbox *sb) { return sb->limits; }
int sandbox_workspace_fd(const sandbox *sb) { return sb->workspace_fd; }

double sandbox_remaining_s(const sandbox *sb) {
    double left = sb->deadline - monotonic_now();
    return left > 0 ? left : 0;
}

bool sandbox_should_stop(const sandbox *sb) {
    if (sb->stopped != STOP_NONE) return true;
    return (sb->cancel && atomic_load(sb->cancel)) || monotonic_now() >= sb->deadline;
}

void sandbox_check(lua_State *L) {
    sandbox *sb = sandbox_from(L);
    if (stop_check(sb) != STOP_NONE) raise_stop(L, sb);
}

/* ---- protected calls --------------------------------------------------------------- */

static void error_text(lua_State *L, int status, const sandbox *sb, char *err, size_t cap) {
    if (sb->stopped != STOP_NONE) {
        stop_message(sb, err, cap);
        return;
    }
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (status == LUA_ERRMEM || (sb->refused && msg && strcmp(msg, "not enough memory") == 0)) {
        snprintf(err, cap, "the tool ran out of memory (its limit is %zu bytes)", sb->limits->max_memory);
    } else if (msg) {
        snprintf(err, cap, "%s", msg);
    } else {
        snprintf(err, cap, "the tool raised an error object of type %s", luaL_typename(L, -1));
    }
}

int sandbox_call(sandbox *sb, lua_CFunction fn, void *arg, char *err, size_t cap) {
    lua_State *L = sb->L;
    int top = lua_gettop(L);
    sb->refused = false;
    if (!lua_checkstack(L, 2)) {
        snprintf(err, cap, "the tool ran out of Lua stack");
        return LUA_ERRMEM;
    }
    lua_pushcfunction(L, fn);  /* light C functions allocate nothing */
    lua_pushlightuserdata(L, arg);
    int status = lua_pcall(L, 1, 0, 0);
    if (status == LUA_OK && sb->stopped != STOP_NONE) status = LUA_ERRRUN;  /* caught by the script */
    if (status != LUA_OK) error_text(L, status, sb, err, cap);
    lua_settop(L, top);
    return status;
}

int sandbox_push_protected(lua_State *L, lua_CFunction push, void *data) {
    luaL_checkstack(L, 2, "host call");
    lua_pushcfunction(L, push);
    lua_pushlightuserdata(L, data);
    return lua_pcall(L, 1, 1, 0);
}

void sandbox_log(sandbox *sb, const char *text, size_t len) {
    size_t room = LOG_CAP - 1 - sb->log_len;
    if (room == 0) return;
    if (len + 1 > room) len = room - 1;
    memcpy(sb->log + sb->log_len, text, len);
    sb->log_len += len;
    sb->log[sb->log_len++] = '\n';
    sb->log[sb->log_len] = '\0';
}

const char *sandbox_log_text(const sandbox *sb) { return sb->log; }
