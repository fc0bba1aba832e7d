/* sandbox.h (internal to app/agent): the per-call Lua sandbox (sandbox.c) and the
 * host API modules (host_*.c) that it hands to tool scripts as `ctx`.
 *
 * Rules every host function follows, so that a Lua error (a bad argument, out of
 * memory while pushing a result) never leaks a C resource: check the arguments
 * first, do the C work with malloc'd buffers, then build the Lua result with
 * sandbox_push_protected, free the buffers, and only then re-raise a failure. */
#ifndef G4_AGENT_SANDBOX_H
#define G4_AGENT_SANDBOX_H

#include "agent/agent.h"

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct sandbox sandbox;

/* A fresh Lua state with the restricted globals (base without dofile/loadfile,
 * string without dump, table, math, utf8, coroutine, a text-only load, the json
 * module), the memory cap and the instruction hook. The deadline starts now.
 * limits must be complete (see agent_limits_defaults) and outlive the sandbox.
 * NULL with a one-line reason in err when the state or the workspace cannot be opened. */
sandbox *sandbox_open(const agent_limits *limits, const atomic_int *cancel, char *err, size_t cap);
void sandbox_close(sandbox *sb);
lua_State *sandbox_lua(sandbox *sb);

/* Calls fn(L) with the light userdata arg in protected mode. On failure copies a
 * one-line reason into err: the limit that stopped the script (time, instructions,
 * memory, cancel) takes precedence over whatever error the script raised. */
int sandbox_call(sandbox *sb, lua_CFunction fn, void *arg, char *err, size_t cap);

/* For host functions. */
sandbox *sandbox_from(lua_State *L);
const agent_limits *sandbox_limits(const sandbox *sb);
int sandbox_workspace_fd(const sandbox *sb);
double sandbox_remaining_s(const sandbox *sb);    /* seconds until the deadline (>= 0) */
bool sandbox_should_stop(const sandbox *sb);      /* cancelled or past the deadline */
void sandbox_check(lua_State *L);                 /* raises the limit's error when should_stop */
/* Runs push(L) (reading data through lua_touserdata(L, 1)) in protected mode;
 * returns LUA_OK with push's single result on the stack, or an error status with
 * the error object there (the caller frees its C resources, then lua_error). */
int sandbox_push_protected(lua_State *L, lua_CFunction push, void *data);
/* Appends one line to the call's bounded debug log (ctx.log, print). */
void sandbox_log(sandbox *sb, const char *text, size_t len);
/* print(...) and ctx.log(...): the arguments, tab-separated, as one log line. */
int sandbox_print(lua_State *L);
/* The log lines kept so far, newline-separated ("" when none). */
const char *sandbox_log_text(const sandbox *sb);

/* ---- host modules: each pushes its table (or, for json, installs the global too) ---- */
void host_fs_push(lua_State *L);
void host_http_push(lua_State *L);
void host_proc_push(lua_State *L);
void host_json_push(lua_State *L);
void host_time_push(lua_State *L);
void host_env_push(lua_State *L);
void host_html_push(lua_State *L);
/* ctx: {fs, http, proc, json, time, env, html, workspace, log}. */
void host_push_ctx(lua_State *L);

/* JSON <-> Lua for the toolbox and the json module. encode writes a malloc'd
 * compact JSON text (keys sorted) of the value at idx into *out, or a one-line
 * reason into err and returns -1; it never raises. decode pushes the Lua value of
 * a jansson value (may raise out of memory: call it under protection). */
int host_json_encode(lua_State *L, int idx, char **out, char *err, size_t cap);
void host_json_push_value(lua_State *L, json_t *value);

/* Opens rel (relative to the workspace, or absolute inside it) beneath the workspace
 * directory fd root: openat2 with RESOLVE_BENEATH, or, where the kernel lacks it (or
 * walk is true), a component-by-component O_NOFOLLOW walk. -1 with errno (EXDEV:
 * the path leaves the workspace). */
int host_open_beneath(int root, const char *workspace, const char *rel, int flags, mode_t mode, bool walk);

#endif
