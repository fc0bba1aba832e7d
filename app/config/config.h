/* config.h: the user's settings file, $XDG_CONFIG_HOME/gemma4/config (default
 * ~/.config/gemma4/config): `key = value` lines, documented in docs/usage.md.
 *
 * Every value starts unset and only the keys in the file are set, so that the
 * app can layer them: the model's defaults, then the config, then command-line
 * flags. Errors name the file and line and the reason, in err[err_size]. */
#ifndef G4_CONFIG_H
#define G4_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_FILE_MAX ((size_t)1 << 20)  /* bigger files are refused */

typedef struct config {
    char *model;          /* malloc'd; NULL = unset. A .gguf path, HF directory or hub id */
    char *theme;          /* malloc'd; NULL = unset. A theme name: [A-Za-z0-9_-], 1..64 bytes */
    char *system;         /* malloc'd; NULL = unset. The system prompt (may be "") */
    char *tools;          /* malloc'd; NULL = unset. The tools the chat offers: all or NAME,NAME,... ("": none) */
    char *tool_env;       /* malloc'd; NULL = unset. Environment variables tools may read: NAME,NAME,... */
    double temperature;   /* [0, 100]; NAN = unset */
    double top_p;         /* [0.001, 1]; NAN = unset */
    double min_p;         /* [0, 1]; NAN = unset */
    int top_k;            /* [0, 2^24]; -1 = unset */
    int max_tokens;       /* [1, 2^24]; -1 = unset */
    int threads;          /* [0, 4096], 0 = one per core; -1 = unset */
    int ctx;              /* [1, 2^30] tokens; -1 = unset */
    int64_t seed;         /* [0, 2^63 - 1]; -1 = unset or "random" */
    int think;            /* 1 on, 0 off, -1 unset */
    char **tool_permissions; /* malloc'd "NAME=allow|ask|deny" from tool.NAME lines, in file order */
    int n_tool_permissions;
} config;

/* Every value unset. */
void config_init(config *c);
void config_free(config *c);

/* $XDG_CONFIG_HOME/gemma4/config (when absolute), else $HOME/.config/gemma4/config. */
int config_default_path(char *buf, size_t size, char *err, size_t err_size);

/* Reads PATH into C (initialized): C holds the file's values, the rest unset. A
 * missing file is not an error (all unset). -1 with "PATH:LINE: reason" in err;
 * C is then unchanged. */
int config_load(config *c, const char *path, char *err, size_t err_size);
/* The same from LEN bytes of TEXT; ORIGIN names them in messages. */
int config_parse(config *c, const char *text, size_t len, const char *origin, char *err, size_t err_size);

#endif
