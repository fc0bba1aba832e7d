/* host_json.c: json.encode / json.decode for tool scripts (jansson) and the Lua <->
 * JSON conversion the toolbox uses for arguments, results and parameter schemas.
 * json.null is a sentinel (a light userdata); json.empty_array / json.empty_object
 * (and every empty array or object that json.decode returns) carry a metatable that
 * says which one an empty table means. Integers stay integers; keys are written
 * sorted, so the same value always encodes to the same text. */
#include "agent/sandbox.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 200            /* nesting levels either way */
#define JSON_KIND_FIELD "__jsontype"  /* metatable field: "array" or "object" */
#define ARRAY_MT "g4.json.array"
#define OBJECT_MT "g4.json.object"
#define MODULE_KEY "g4.json"

/* ---- encode ------------------------------------------------------------------------ */

typedef struct {
    char *err;
    size_t cap;
} encode_state;

static json_t *encode_value(lua_State *L, int idx, int depth, encode_state *st);

static int encode_fail(encode_state *st, const char *fmt, const char *detail) {
    snprintf(st->err, st->cap, fmt, detail);
    return -1;
}

/* "array", "object" or NULL from the table's metatable (raw reads: no metamethods). */
static const char *declared_kind(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return NULL;
    lua_pushliteral(L, JSON_KIND_FIELD);
    lua_rawget(L, -2);
    const char *kind = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "array") == 0) kind = "array";
        else if (strcmp(s, "object") == 0) kind = "object";
    }
    lua_pop(L, 2);
    return kind;
}

/* Counts the keys: *n_int positive integer keys (max in *max_int), *n_str string keys,
 * *n_other anything else. */
static void survey_keys(lua_State *L, int idx, size_t *n_int, lua_Integer *max_int, size_t *n_str, size_t *n_other) {
    *n_int = *n_str = *n_other = 0;
    *max_int = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            (*n_int)++;
            if (lua_tointeger(L, -1) > *max_int) *max_int = lua_tointeger(L, -1);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            (*n_str)++;
        } else {
            (*n_other)++;
        }
    }
}

static json_t *encode_array(lua_State *L, int idx, lua_Integer n, int depth, encode_state *st) {
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        json_t *item = lua_isnil(L, -1) ? json_null() : encode_value(L, lua_gettop(L), depth + 1, st);
        lua_pop(L, 1);
        if (!item || json_array_append_new(arr, item)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *encode_object(lua_State *L, int idx, int depth, encode_state *st) {
    json_t *obj = json_object();
    if (!obj) return NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        char numkey[32];
        const char *key;
        size_t klen;
        if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tolstring(L, -2, &klen);
        } else if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2)) {
            klen = (size_t)snprintf(numkey, sizeof numkey, "%lld", (long long)lua_tointeger(L, -2));
            key = numkey;
        } else {
            encode_fail(st, "json.encode: a table key is a %s (keys must be strings or integers)",
                        luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(obj);
            return NULL;
        }
        json_t *item = encode_value(L, lua_gettop(L), depth + 1, st);
        if (!item) {
            lua_pop(L, 2);
            json_decref(obj);
            return NULL;
        }
        if (json_object_setn_new(obj, key, klen, item)) {
            encode_fail(st, "json.encode: the key \"%.60s\" is not valid UTF-8", key);
            lua_pop(L, 2);
            json_decref(obj);
            return NULL;
        }
        lua_pop(L, 1);
    }
    return obj;
}

static json_t *encode_table(lua_State *L, int idx, int depth, encode_state *st) {
    if (depth > JSON_MAX_DEPTH) {
        encode_fail(st, "json.encode: tables nested deeper than %s levels (a cycle?)", "200");
        return NULL;
    }
    if (!lua_checkstack(L, 6)) {
        encode_fail(st, "json.encode: %s", "out of Lua stack");
        return NULL;
    }
    size_t n_int, n_str, n_other;
    lua_Integer max_int;
    survey_keys(L, idx, &n_int, &max_int, &n_str, &n_other);
    const char *kind = declared_kind(L, idx);
    if (n_other) {
        encode_fail(st, "json.encode: a table has a key that is not a string or a positive integer%s", "");
        return NULL;
    }
    bool is_array = kind ? strcmp(kind, "array") == 0 : (n_int > 0 && n_str == 0 && (size_t)max_int == n_int);
    if (is_array) {
        if (n_str || (size_t)max_int != n_int) {
            encode_fail(st, "json.encode: a table marked as an array has keys other than 1..n%s", "");
            return NULL;
        }
        return encode_array(L, idx, max_int, depth, st);
    }
    return encode_object(L, idx, depth, st);
}

static json_t *encode_value(lua_State *L, int idx, int depth, encode_state *st) {
    json_t *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v = json_null(); break;
    case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                encode_fail(st, "json.encode: %s cannot be written as JSON", isnan(d) ? "NaN" : "an infinite number");
                return NULL;
            }
            v = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        v = json_stringn(s, len);
        if (!v) {
            encode_fail(st, "json.encode: a string is not valid UTF-8 (\"%.40s\")", s);
            return NULL;
        }
        return v;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) return json_null();
        encode_fail(st, "json.encode: cannot encode a %s", "userdata");
        return NULL;
    case LUA_TTABLE: return encode_table(L, idx, depth, st);
    default:
        encode_fail(st, "json.encode: cannot encode a %s value", luaL_typename(L, idx));
        return NULL;
    }
    if (!v) encode_fail(st, "json.encode: %s", "out of memory");
    return v;
}

int host_json_encode(lua_State *L, int idx, char **out, char *err, size_t cap) {
    encode_state st = {err, cap};
    err[0] = '\0';
    idx = lua_absindex(L, idx);
    json_t *root = encode_value(L, idx, 0, &st);
    if (!root) {
        if (!err[0]) snprintf(err, cap, "json.encode: out of memory");
        return -1;
    }
    *out = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!*out) {
        snprintf(err, cap, "json.encode: out of memory");
        return -1;
    }
    return 0;
}

/* ---- decode ------------------------------------------------------------------------ */

static void push_value(lua_State *L, json_t *v, int depth) {
    if (depth > JSON_MAX_DEPTH) luaL_error(L, "json.decode: nested deeper than %d levels", JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "json.decode");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        if (json_object_size(v) == 0) luaL_setmetatable(L, OBJECT_MT);
        const char *key;
        json_t *item;
        void *iter = json_object_iter(v);
        while (iter) {
            key = json_object_iter_key(iter);
            item = json_object_iter_value(iter);
            lua_pushlstring(L, key, json_object_iter_key_len(iter));
            push_value(L, item, depth + 1);
            lua_rawset(L, -3);
            iter = json_object_iter_next(v, iter);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, n > 1 << 20 ? 1 << 20 : (int)n, 0);
        if (n == 0) luaL_setmetatable(L, ARRAY_MT);
        for (size_t i = 0; i < n; i++) {
            push_value(L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    case JSON_NULL: lua_pushlightuserdata(L, NULL); break;
    }
}

void host_json_push_value(lua_State *L, json_t *value) { push_value(L, value, 0); }

static int push_decoded(lua_State *L) {
    push_value(L, lua_touserdata(L, 1), 0);
    return 1;
}

static int json_decode(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    sandbox_check(L);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        lua_pushnil(L);
        lua_pushfstring(L, "json.decode: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
        return 2;
    }
    int status = sandbox_push_protected(L, push_decoded, root);
    json_decref(root);
    if (status == LUA_ERRRUN && lua_type(L, -1) == LUA_TSTRING) {  /* too deep: a bad input, not a failure */
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

typedef struct {
    const char *text;
} pushed_text;

static int push_text(lua_State *L) {
    pushed_text *t = lua_touserdata(L, 1);
    lua_pushstring(L, t->text);
    return 1;
}

static int json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    sandbox_check(L);
    lua_settop(L, 1);
    char *out = NULL;
    char err[256];
    if (host_json_encode(L, 1, &out, err, sizeof err)) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    pushed_text t = {out};
    int status = sandbox_push_protected(L, push_text, &t);
    free(out);
    if (status != LUA_OK) return lua_error(L);
    return 1;
}

static void make_kind_metatable(lua_State *L, const char *name, const char *kind) {
    luaL_newmetatable(L, name);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, JSON_KIND_FIELD);
    lua_pop(L, 1);
}

void host_json_push(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY) == LUA_TTABLE) return;  /* one module per state */
    lua_pop(L, 1);
    make_kind_metatable(L, ARRAY_MT, "array");
    make_kind_metatable(L, OBJECT_MT, "object");
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, json_decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_newtable(L);
    luaL_setmetatable(L, ARRAY_MT);
    lua_setfield(L, -2, "empty_array");
    lua_newtable(L);
    luaL_setmetatable(L, OBJECT_MT);
    lua_setfield(L, -2, "empty_object");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
}
