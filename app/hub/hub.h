/* hub.h: models from the Hugging Face hub. A model id ("org/name" for a
 * safetensors checkpoint, "org/name:QUANT" for one quantization of a GGUF repo)
 * resolves to a local path in the standard HF cache (shared with Python tools),
 * downloading what is missing: in parallel, resumable, every file verified. */
#ifndef G4_HUB_H
#define G4_HUB_H

#include <stdbool.h>

enum { HUB_STR_MAX = 4096 };

typedef enum { HUB_PROGRESS_AUTO, HUB_PROGRESS_BAR, HUB_PROGRESS_LINES, HUB_PROGRESS_NONE } hub_progress_mode;

typedef struct {
    char endpoint[HUB_STR_MAX];  /* $HF_ENDPOINT without a trailing '/' (default https://huggingface.co) */
    char cache_dir[HUB_STR_MAX]; /* $HF_HUB_CACHE, $HF_HOME/hub, or ~/.cache/huggingface/hub */
    char token[HUB_STR_MAX];     /* $HF_TOKEN or the token file; "" for none */
    char revision[256];          /* branch, tag or commit (default "main") */
    bool offline;                /* $HF_HUB_OFFLINE: never touch the network */
    hub_progress_mode progress;  /* AUTO: a bar when stderr is a terminal, else plain lines */
    long connect_timeout_s;      /* seconds to wait for a connection (default 10) */
    char env_error[512];         /* a bad environment value, reported by hub_resolve; "" if none */
} hub_options;

/* "org/name" or "org/name:QUANT" with valid hub names, and not an existing path. */
bool hub_is_model_id(const char *arg);

/* Fills opt from the environment (HF_ENDPOINT, HF_HUB_CACHE, HF_HOME, HF_TOKEN,
 * HF_TOKEN_PATH, HF_HUB_OFFLINE, XDG_CACHE_HOME, HOME). */
void hub_options_default(hub_options *opt);

/* The local path to pass to g4_model_load (a snapshot directory or a .gguf
 * file), downloading what the cache lacks; malloc'd. NULL with a malloc'd
 * one-line message in *err on failure. */
char *hub_resolve(const char *id, const hub_options *opt, char **err);

#endif
