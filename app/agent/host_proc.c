/* host_proc.c: ctx.proc.run for tool scripts: runs a command from an argv table
 * with posix_spawnp (no shell unless argv names one), in the workspace, in its own
 * process group, with optional stdin, its stdout and stderr captured up to a cap,
 * and the whole group killed when its timeout, the call's deadline or a cancel
 * comes first. Only when the limits allow it (allow_proc, the CLI's --allow-shell). */
#include "agent/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAX_ARGS 4096
#define PROC_POLL_MS 20         /* how often the deadline and the cancel flag are checked */
#define PROC_EXIT_GRACE_S 0.2   /* after the command exits, how long its output pipes may stay open */

extern char **environ;

typedef struct {
    char *data;
    size_t len, cap;  /* cap: bytes kept; the rest is read and dropped */
    bool truncated;
} capture;

typedef struct {
    capture out, err;
    int status;      /* waitpid status */
    bool timed_out;
} proc_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads what is available from *fd into c; closes it at the end of the stream. */
static void drain(int *fd, capture *c) {
    char buf[65536];
    for (;;) {
        ssize_t got = read(*fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return;
        if (got <= 0) {
            close(*fd);
            *fd = -1;
            return;
        }
        size_t take = (size_t)got;
        if (take > c->cap - c->len) {
            take = c->cap - c->len;
            c->truncated = true;
        }
        memcpy(c->data + c->len, buf, take);
        c->len += take;
    }
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Feeds stdin, collects the output and waits for the child; kills its group at the
 * deadline or on stop. */
static void supervise(sandbox *sb, pid_t pid, int in, int out, int err, const char *input, size_t input_len,
                      double deadline, proc_result *r) {
    size_t fed = 0;
    if (in >= 0 && input_len == 0) close_fd(&in);
    double exited_at = -1;
    bool killed = false;
    while (out >= 0 || err >= 0 || exited_at < 0) {
        if (!killed && (now_s() >= deadline || sandbox_should_stop(sb))) {
            kill(-pid, SIGKILL);
            killed = true;
            r->timed_out = now_s() >= deadline;
        }
        if (exited_at < 0) {
            pid_t w = waitpid(pid, &r->status, WNOHANG);
            if (w == pid || (w < 0 && errno != EINTR)) exited_at = now_s();
        }
        if (exited_at >= 0 && now_s() - exited_at > PROC_EXIT_GRACE_S) {
            if (!killed) kill(-pid, SIGKILL);  /* something in its group still holds the pipes */
            break;
        }
        struct pollfd fds[3] = {{out, POLLIN, 0}, {err, POLLIN, 0}, {in, POLLOUT, 0}};
        poll(fds, 3, PROC_POLL_MS);
        if (out >= 0 && fds[0].revents) drain(&out, &r->out);
        if (err >= 0 && fds[1].revents) drain(&err, &r->err);
        if (in >= 0 && fds[2].revents) {
            ssize_t put = write(in, input + fed, input_len - fed);
            if (put > 0) fed += (size_t)put;
            if ((put < 0 && errno != EAGAIN && errno != EINTR) || fed == input_len) close_fd(&in);
        }
    }
    close_fd(&in);
    close_fd(&out);
    close_fd(&err);
    if (exited_at < 0) {
        while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR) {}
    }
}

/* Writing to a pipe whose reader is gone raises SIGPIPE; block it on this thread
 * while the child runs and swallow one that arrived meanwhile. */
static void run_without_sigpipe(sandbox *sb, pid_t pid, int in, int out, int err, const char *input,
                                size_t input_len, double deadline, proc_result *r) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    supervise(sb, pid, in, out, err, input, input_len, deadline, r);
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int push_result(lua_State *L) {
    proc_result *r = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    if (WIFEXITED(r->status)) {
        lua_pushinteger(L, WEXITSTATUS(r->status));
        lua_setfield(L, -2, "code");
    } else if (WIFSIGNALED(r->status)) {
        lua_pushinteger(L, WTERMSIG(r->status));
        lua_setfield(L, -2, "signal");
    }
    lua_pushlstring(L, r->out.data, r->out.len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, r->err.data, r->err.len);
    lua_setfield(L, -2, "stderr");
    lua_pushboolean(L, r->timed_out);
    lua_setfield(L, -2, "timed_out");
    lua_pushboolean(L, r->out.truncated || r->err.truncated);
    lua_setfield(L, -2, "truncated");
    return 1;
}

static int spawn_failure(lua_State *L, const char *what, int err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    return 2;
}

static int proc_run(lua_State *L) {
    sandbox *sb = sandbox_from(L);
    const agent_limits *limits = sandbox_limits(sb);
    if (!limits->allow_proc) {
        lua_pushnil(L);
        lua_pushliteral(L, "running commands is not allowed (--allow-shell)");
        return 2;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer argc = (lua_Integer)lua_rawlen(L, 1);
    luaL_argcheck(L, argc >= 1 && argc <= PROC_MAX_ARGS, 1, "argv must list 1 to 4096 strings");
    for (lua_Integer i = 1; i <= argc; i++) {
        size_t len;
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING) luaL_argerror(L, 1, "every argv item must be a string");
        const char *s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len) luaL_argerror(L, 1, "an argv item holds a NUL byte");
        lua_pop(L, 1);  /* the table keeps the string alive */
    }
    double timeout = limits->timeout_s;
    size_t max_output = limits->max_file;
    const char *input = NULL;
    size_t input_len = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL) {
            luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0, 2, "timeout must be a positive number");
            timeout = lua_tonumber(L, -1);
        }
        if (lua_getfield(L, 2, "max_output") != LUA_TNIL) {
            luaL_argcheck(L, lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0, 2, "max_output must be a positive integer");
            if ((uint64_t)lua_tointeger(L, -1) < max_output) max_output = (size_t)lua_tointeger(L, -1);
        }
        if (lua_getfield(L, 2, "stdin") != LUA_TNIL) {  /* stays on the stack while the child runs */
            luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2, "stdin must be a string");
            input = lua_tolstring(L, -1, &input_len);
        }
    }
    sandbox_check(L);
    double left = sandbox_remaining_s(sb);
    double deadline = now_s() + (timeout < left ? timeout : left);

    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    proc_result r = {.out = {malloc(max_output), 0, max_output, false}, .err = {malloc(max_output), 0, max_output, false}};
    if (!argv || !r.out.data || !r.err.data) {
        free(argv);
        free(r.out.data);
        free(r.err.data);
        return luaL_error(L, "proc.run: out of memory");
    }
    for (lua_Integer i = 1; i <= argc; i++) {
        lua_rawgeti(L, 1, i);
        argv[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int failed = 0;
    const char *failed_at = "pipe";
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) failed = errno;
    pid_t pid = -1;
    if (!failed) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        posix_spawn_file_actions_addchdir_np(&fa, limits->workspace);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        failed = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
        failed_at = argv[0];
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (!failed) {
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        fcntl(err[0], F_SETFL, O_NONBLOCK);
        run_without_sigpipe(sb, pid, in[1], out[0], err[0], input, input_len, deadline, &r);
    } else {
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
    }
    free(argv);
    if (failed) {
        free(r.out.data);
        free(r.err.data);
        return spawn_failure(L, failed_at, failed);
    }
    if (sandbox_should_stop(sb)) {
        free(r.out.data);
        free(r.err.data);
        sandbox_check(L);
    }
    int status = sandbox_push_protected(L, push_result, &r);
    free(r.out.data);
    free(r.err.data);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

void host_proc_push(lua_State *L) {
    static const luaL_Reg functions[] = {{"run", proc_run}, {NULL, NULL}};
    luaL_newlib(L, functions);
}
