/* jinja.h: the engine's sandboxed Jinja2 template engine (internal API).
 *
 * It renders the subset of Jinja2 that chat templates use, with the settings
 * Hugging Face's apply_chat_template uses (trim_blocks, lstrip_blocks, the
 * loopcontrols extension, no autoescape, an immutable sandbox, and the extra
 * globals raise_exception and strftime_now and a json.dumps-style tojson).
 * Variables come in as a JSON object. Nothing outside the template and its
 * variables can be reached (no files, no environment), and every render runs
 * under limits on output, memory, steps and nesting, so that a hostile
 * template ends with an error instead of a crash or a hang.
 *
 * Errors (syntax and runtime, including raise_exception) are reported through
 * g4_error() as one line: "template:LINE:COL: message". */
#ifndef G4_JINJA_H
#define G4_JINJA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What one render may use; a render that needs more ends with an error. A
 * field left 0 takes its default. */
typedef struct {
    size_t max_output;    /* bytes of output, and of any one string value (default 16 MiB) */
    size_t max_memory;    /* bytes of live template values (default 256 MiB) */
    uint64_t max_steps;   /* statements, expressions and loop iterations (default 50 million) */
    int max_call_depth;   /* nested macro calls (default 200) */
    size_t max_stack;     /* bytes of C stack below the render's entry (default 1 MiB); the
                             calling thread needs this much stack to spare, plus a margin */
} g4_jinja_limits;

/* The defaults listed above. */
g4_jinja_limits g4_jinja_default_limits(void);

/* A parsed template. It is read-only once parsed, so one template may be
 * rendered by several threads at once. */
typedef struct g4_jinja_template g4_jinja_template;

/* Parses src (len bytes, UTF-8); NULL on a syntax error (see g4_last_error()). */
g4_jinja_template *g4_jinja_parse(const char *src, size_t len);
void g4_jinja_free(g4_jinja_template *tpl);

/* Renders with the variables of the JSON object vars (NULL: none) under lim
 * (NULL: the defaults). Returns malloc'd NUL-terminated text and its length
 * in *out_len (when not NULL), or NULL with g4_last_error() set. */
char *g4_jinja_render_parsed(const g4_jinja_template *tpl, json_t *vars, const g4_jinja_limits *lim,
                             size_t *out_len);

/* Parses and renders in one call. */
char *g4_jinja_render_values(const char *src, json_t *vars, const g4_jinja_limits *lim, size_t *out_len);

#endif
