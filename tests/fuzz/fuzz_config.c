/* fuzz_config.c: libFuzzer target for the config file parser (app/config) and
 * the theme parser (app/tui/theme.c), both fed the same bytes. Neither may crash
 * or leak; a failure must name the input and a line; a config that parses must
 * hold values in their documented ranges; a theme that parses must resolve at
 * every colour depth to colours that depth can show. A broken invariant traps. */
#include "config/config.h"
#include "tui/theme.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void check_config(const uint8_t *data, size_t size) {
    config c;
    config_init(&c);
    char err[512] = "";
    if (config_parse(&c, (const char *)data, size, "fuzz.cfg", err, sizeof err)) {
        if (strncmp(err, "fuzz.cfg", 8)) __builtin_trap();
        config_free(&c);
        return;
    }
    if (!isnan(c.temperature) && !(c.temperature >= 0 && c.temperature <= 100)) __builtin_trap();
    if (!isnan(c.top_p) && !(c.top_p >= 0.001 && c.top_p <= 1)) __builtin_trap();
    if (!isnan(c.min_p) && !(c.min_p >= 0 && c.min_p <= 1)) __builtin_trap();
    if (c.top_k < -1 || c.top_k > 1 << 24 || c.max_tokens == 0 || c.max_tokens < -1 || c.threads < -1 ||
        c.threads > 4096 || c.ctx == 0 || c.ctx < -1 || c.seed < -1 || c.think < -1 || c.think > 1)
        __builtin_trap();
    if (c.model && !*c.model) __builtin_trap();
    if (c.theme && (!*c.theme || strlen(c.theme) > 64 || strpbrk(c.theme, "/. "))) __builtin_trap();
    config_free(&c);
}

static void check_theme(const uint8_t *data, size_t size) {
    theme t;
    char err[512] = "";
    if (theme_parse(&t, "fuzz", (const char *)data, size, "fuzz.theme", err, sizeof err)) {
        if (strncmp(err, "fuzz.theme", 10)) __builtin_trap();
        return;
    }
    static const int32_t max_index[] = {-1, 7, 15, 255, 255};
    for (theme_depth d = THEME_DEPTH_NONE; d <= THEME_DEPTH_TRUE; d++) {
        theme_resolved r;
        theme_resolve(&t, d, &r);
        for (int i = 0; i < THEME_ROLE_COUNT; i++) {
            int32_t c[2] = {r.role[i].fg, r.role[i].bg};
            for (int k = 0; k < 2; k++) {
                bool rgb = d == THEME_DEPTH_TRUE && (c[k] & THEME_RGB_FLAG) && c[k] <= (THEME_RGB_FLAG | 0xFFFFFF);
                if (!rgb && (c[k] < -1 || c[k] > max_index[d])) __builtin_trap();
            }
            if (r.role[i].fg >= 0 && r.role[i].fg == r.role[i].bg) __builtin_trap();
            if (r.role[i].attrs != t.style[i].attrs) __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_config(data, size);
    check_theme(data, size);
    return 0;
}
