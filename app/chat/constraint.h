/* constraint.h: structured output for a chat turn (docs/structured-output.md).
 *
 * What a reply must follow: a JSON Schema or a GBNF grammar for the answer, tool
 * calls forced by tool_choice "required" or a named function, or (tool_choice
 * "auto" with tools) only the arguments of the calls the model chooses to make.
 *
 * Three steps, so that a server can check a request on its HTTP thread and share
 * compiled grammars between requests on its scheduler thread:
 *   chat_constraint_plan   spec -> the GBNF texts (checked: an unsupported schema
 *                          feature or a bad grammar is an error naming it)
 *   chat_grammar_get       GBNF -> a compiled grammar from a cache, whose masks are
 *                          shared by every generation that follows it
 *   chat_constraint_new    one generation: applies the masks before each sample,
 *                          lets the model think first (the constraint starts when
 *                          the thought channel closes) and follows what it samples.
 * Grammars, caches and constraints are used from one thread at a time. */
#ifndef G4_CHAT_CONSTRAINT_H
#define G4_CHAT_CONSTRAINT_H

#include "gemma4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CHAT_TOOLS_AUTO, CHAT_TOOLS_NONE, CHAT_TOOLS_REQUIRED, CHAT_TOOLS_NAMED } chat_tool_choice;

typedef struct {
    const char *json_schema;      /* the answer is JSON following this schema ({"type":"json_object"}: any object) */
    const char *grammar;          /* or the answer follows this GBNF (start rule "root") */
    const char *tools_json;       /* OpenAI tools, or NULL */
    chat_tool_choice tool_choice; /* with tools_json */
    const char *tool_name;        /* CHAT_TOOLS_NAMED: the tool to call */
    bool one_call;                /* CHAT_TOOLS_REQUIRED: exactly one call (no parallel calls) */
} chat_constraint_spec;

/* The grammars a spec needs: each a GBNF text and its start rule, or NULL. */
typedef struct {
    char *answer_gbnf;            /* the answer (after any thinking) follows it */
    const char *answer_root;
    char *call_gbnf;              /* a tool call the model opens follows it (tool_choice auto) */
    const char *call_root;
} chat_constraint_plan;

/* Fills plan (zeroed first). Returns 1 when the spec constrains something, 0 when
 * not, -1 with a one-line reason in err. */
int chat_constraint_plan_make(const chat_constraint_spec *spec, chat_constraint_plan *plan, char *err, size_t err_size);
void chat_constraint_plan_free(chat_constraint_plan *plan);

/* ---- Compiled grammars, cached by text ------------------------------------------- */

typedef struct chat_grammar chat_grammar;
typedef struct chat_grammar_cache chat_grammar_cache;

/* A cache of up to capacity grammars for one vocabulary (which must outlive it);
 * the vocabulary's token trie is built on first use. */
chat_grammar_cache *chat_grammar_cache_new(const g4_vocab *vocab, int capacity);
/* Frees the cache; grammars still referenced stay valid until released, but the
 * cache must outlive them (it owns the token trie). */
void chat_grammar_cache_free(chat_grammar_cache *cache);
/* The compiled grammar for (gbnf, root), with a reference for the caller; NULL with
 * a reason in err (a token terminal the vocabulary lacks, out of memory). */
chat_grammar *chat_grammar_get(chat_grammar_cache *cache, const char *gbnf, const char *root, char *err,
                               size_t err_size);
void chat_grammar_release(chat_grammar *grammar);

/* ---- One generation ------------------------------------------------------------- */

typedef struct chat_constraint chat_constraint;

/* answer and call as planned (either may be NULL; the constraint takes a reference
 * of each). prompt: the prompt's ids, whose tail says whether generation starts
 * inside a thought channel; thinking: the model may open one first. */
chat_constraint *chat_constraint_new(chat_grammar *answer, chat_grammar *call, const g4_vocab *vocab,
                                     const int32_t *prompt, int n_prompt, bool thinking, char *err, size_t err_size);
void chat_constraint_free(chat_constraint *c);
/* Whether chat_constraint_apply would change any logit now (else the caller may
 * sample from the logits as they are). */
bool chat_constraint_masks(const chat_constraint *c);
/* Sets the logits of the tokens not allowed next to -INFINITY. Returns 0, or -1
 * with g4_last_error when no token is allowed. */
int chat_constraint_apply(chat_constraint *c, float *logits);
/* Follows a sampled token; -1 when the constraint did not allow it. */
int chat_constraint_accept(chat_constraint *c, int32_t token);
/* Seconds spent computing masks so far (for statistics). */
double chat_constraint_mask_seconds(const chat_constraint *c);

#endif
