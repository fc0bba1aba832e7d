/* session.h: saved conversations (sessions/README.md defines the file format).
 *
 * A session is one conversation, kept as NAME.json in a sessions directory
 * ($XDG_DATA_HOME/gemma4/sessions by default) and rewritten atomically after every
 * change. Messages stay jansson values so that tool calls, reasoning and fields
 * this version does not know round-trip untouched; unknown top-level and
 * "settings" fields are kept and written back too.
 *
 * Errors: functions that can fail return -1 (or NULL) and write one line naming
 * the file and the problem into err[err_size] (err may be NULL). */
#ifndef G4_SESSION_H
#define G4_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define SESSION_FORMAT "gemma4-session"
#define SESSION_VERSION 1
#define SESSION_NAME_MAX 100                    /* bytes, without the ".json" */
#define SESSION_FILE_MAX ((size_t)64 << 20)     /* bigger files are refused */
#define SESSION_TITLE_MAX 80                    /* bytes of a list title, "…" included */

/* Sampling settings the conversation ran with. Unset values (the model's default,
 * written as null) are NAN for the reals and -1 for the integers. */
typedef struct session_settings {
    double temperature;      /* [0, 100] */
    double top_p;            /* [0.001, 1] */
    double min_p;            /* [0, 1] */
    int64_t top_k;           /* [0, 2^24], 0 = off */
    int64_t max_tokens;      /* [1, 2^24] */
    int64_t seed;            /* [0, 2^63 - 1]; -1 = a random seed */
    int think;               /* 1 on, 0 off, -1 unset */
} session_settings;

/* Identity of the file last loaded or saved (private to session.c: lets save skip
 * re-checking a file it wrote itself). */
typedef struct session_file_id {
    bool known;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} session_file_id;

typedef struct session {
    char name[SESSION_NAME_MAX + 1];  /* a safe name (session_name_check) */
    time_t created, updated;          /* UTC seconds */
    char *model;                      /* malloc'd: a path or hub id, as given */
    char *system;                     /* malloc'd system prompt, or NULL */
    session_settings settings;
    json_t *messages;                 /* array of message objects (owned) */
    json_t *extra;                    /* unknown top-level fields (owned object) */
    json_t *settings_extra;           /* unknown "settings" fields (owned object) */
    session_file_id file;
} session;

/* One entry of session_list. */
typedef struct session_info {
    char *name;           /* the file's stem: what session_path/session_delete take */
    char *path;           /* the file */
    time_t updated;       /* 0 when the file does not load */
    size_t message_count;
    char *title;          /* first user message, one line, at most SESSION_TITLE_MAX bytes */
    char *error;          /* NULL, or why the file does not load (listed last) */
} session_info;

/* A new empty session named NAME (a safe name), created/updated = now, all
 * settings unset; model may be NULL (recorded as ""). */
session *session_new(const char *name, const char *model, char *err, size_t err_size);
void session_free(session *s);

/* Sets a string field (copies it; NULL clears the system prompt). 0 or -1 (no memory). */
int session_set_model(session *s, const char *model);
int session_set_system(session *s, const char *system);

/* Loads and validates PATH (at most SESSION_FILE_MAX bytes). NULL with err naming
 * the file and the problem (bad JSON with line:column, a wrong type with its JSON
 * path, not a gemma4 session, a newer version). */
session *session_load(const char *path, char *err, size_t err_size);
/* The same from bytes in memory; ORIGIN names them in messages. */
session *session_load_bytes(const char *data, size_t size, const char *origin,
                            char *err, size_t err_size);

/* The session as a document (new reference), fields in the documented order. */
json_t *session_to_json(const session *s);

/* Writes DIR/NAME.json atomically (temporary file, fsync, rename, fsync of the
 * directory), creating DIR (mode 0700) if needed. Refuses to replace a file that
 * does not load as a gemma4 session, or anything that is not a regular file; the
 * old file is intact whenever save fails. */
int session_save(session *s, const char *dir, char *err, size_t err_size);

/* Every *.json file in DIR (hidden files skipped): sessions that load, most recently
 * updated first (ties by name), then files that do not, by name. A missing DIR is
 * an empty list. Returns the count (*out malloc'd, free with session_list_free),
 * or -1. */
ssize_t session_list(const char *dir, session_info **out, char *err, size_t err_size);
void session_list_free(session_info *list, size_t n);

/* Deletes DIR/NAME.json. -1 if NAME is not safe or the file cannot be removed. */
int session_delete(const char *dir, const char *name, char *err, size_t err_size);

/* 0 if NAME can name a session file: 1..SESSION_NAME_MAX bytes of UTF-8, no '/',
 * no "..", no leading '.', no control characters; else -1 with the reason. */
int session_name_check(const char *name, char *err, size_t err_size);

/* A fresh name for a session started at WHEN (local time), e.g. "2026-11-28-213501",
 * with "-2", "-3", ... appended while DIR/NAME.json exists (DIR may be NULL). */
int session_auto_name(const char *dir, time_t when, char out[SESSION_NAME_MAX + 1]);

/* DIR/NAME.json into buf. -1 if it does not fit. */
int session_path(char *buf, size_t size, const char *dir, const char *name);

/* The default sessions directory: $XDG_DATA_HOME/gemma4/sessions, else
 * $HOME/.local/share/gemma4/sessions. -1 with err if neither variable is usable. */
int session_default_dir(char *buf, size_t size, char *err, size_t err_size);

/* ---- messages (the UI's helpers) ---------------------------------------------- */

/* Statistics of one assistant reply (its "stats" object). */
typedef struct session_stats {
    int64_t prompt_tokens, completion_tokens;
    double thinking_seconds, seconds, tokens_per_second;
    const char *finish_reason;  /* "stop", "length", "tool_calls", ...; NULL = omitted */
} session_stats;

/* A new message {"role": ROLE, "content": CONTENT, "time": now}; CONTENT NULL
 * gives null (an assistant turn with only tool calls). NULL on no memory. */
json_t *session_message_new(const char *role, const char *content);
/* Sets msg["stats"]. 0 or -1. */
int session_message_set_stats(json_t *msg, const session_stats *st);

/* Checks one message against the format; -1 with the reason. WHERE prefixes it
 * (e.g. "messages[3]"). */
int session_message_check(const json_t *msg, const char *where, char *err, size_t err_size);

/* Appends MSG (the reference is stolen, also on failure) after checking it, and
 * sets updated = now. */
int session_append(session *s, json_t *msg, char *err, size_t err_size);
/* Replaces the last message with MSG when that is an assistant message, else
 * appends MSG (a reply streaming in, a regenerated reply). MSG must be an
 * assistant message; stolen as in session_append. */
int session_replace_last_assistant(session *s, json_t *msg, char *err, size_t err_size);

#endif
