/* schema.h: the JSON Schema compiler shared by schema.c (JSON text) and
 * schema_toolcall.c (Gemma 4 tool-call arguments: bare keys, <|"|> strings). */
#ifndef G4_SCHEMA_H
#define G4_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} g4_sb;

void g4_sb_put(g4_sb *b, const char *s, size_t n);
void g4_sb_puts(g4_sb *b, const char *s);
/* Appends s as a GBNF string literal ("..." with escapes). */
void g4_sb_literal(g4_sb *b, const char *s, size_t n);

typedef struct g4_schema_compiler g4_schema_compiler;

/* dialect: 0 = JSON text, 1 = Gemma 4 tool-call arguments. */
g4_schema_compiler *g4_schema_compiler_new(json_t *root, int dialect);
void g4_schema_compiler_free(g4_schema_compiler *sc);
/* Appends to out a GBNF expression for the schema at JSON pointer `ptr`; -1 with
 * g4_last_error() naming the unsupported feature and its pointer. */
int g4_schema_expr(g4_schema_compiler *sc, json_t *schema, const char *ptr, g4_sb *out);
/* The rules the expressions so far need, appended to out. */
int g4_schema_rules(g4_schema_compiler *sc, g4_sb *out);

/* Sets the error for JSON that did not parse (one line: control characters as '?'). */
void g4_schema_json_error(const char *who, const json_error_t *err);

#endif
