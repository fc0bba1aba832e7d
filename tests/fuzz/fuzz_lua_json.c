/* fuzz_lua_json.c: libFuzzer target for the tool scripts' json module
 * (app/agent/host_json.c) on arbitrary bytes: json.decode either fails with a
 * message or gives a value whose json.encode decodes again to a value that encodes
 * to the same text (a fixed point after one round), all inside a sandbox whose
 * memory and instruction limits hold. A crash, a leak or a broken round trip traps. */
#include "agent/agent.h"
#include "agent/sandbox.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

static const char round_trip[] =
    "local text = ...\n"
    "local v, err = json.decode(text)\n"
    "if err then assert(v == nil and err:find('^json%.decode: ')) return 'rejected' end\n"
    "local once, e1 = json.encode(v)\n"
    "if not once then assert(e1:find('^json%.encode: ')) return 'unencodable' end\n"
    "local again, e2 = json.decode(once)\n"
    "if e2 then error('ROUND TRIP: ' .. once .. ' does not decode: ' .. e2) end\n"
    "local twice, e3 = json.encode(again)\n"
    "if not twice then error('ROUND TRIP: ' .. once .. ' does not encode again: ' .. e3) end\n"
    "if twice ~= once then error('ROUND TRIP: ' .. once .. ' vs ' .. twice) end\n"
    "return 'ok'\n";

typedef struct {
    const uint8_t *data;
    size_t size;
} input;

static int check(lua_State *L) {
    input *in = lua_touserdata(L, 1);
    if (luaL_loadbufferx(L, round_trip, sizeof round_trip - 1, "=fuzz", "t") != LUA_OK) lua_error(L);
    lua_pushlstring(L, (const char *)in->data, in->size);
    lua_call(L, 1, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agent_limits limits = agent_limits_defaults();
    limits.workspace = "/";
    limits.max_memory = 32u << 20;
    limits.timeout_s = 10;
    char err[1024];
    sandbox *sb = sandbox_open(&limits, NULL, err, sizeof err);
    if (!sb) __builtin_trap();
    input in = {data, size};
    if (sandbox_call(sb, check, &in, err, sizeof err) != LUA_OK) {
        if (strstr(err, "ROUND TRIP")) __builtin_trap();
        if (!strstr(err, "out of memory") && !strstr(err, "limit")) __builtin_trap();  /* no other failure is allowed */
    }
    sandbox_close(sb);
    return 0;
}
