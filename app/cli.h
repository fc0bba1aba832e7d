/* cli.h: the subcommands of the gemma4 executable and the helpers they share. */
#ifndef G4_CLI_H
#define G4_CLI_H

#include "gemma4.h"

#include <stdint.h>
#include <stdio.h>

/* gemma4 eval -m MODEL --tokens LIST [--logits OUT.f32] [--batch N] [--greedy K] [-t N] */
int cmd_eval(int argc, char **argv);
/* gemma4 -m MODEL (--tokens LIST | -p TEXT) [-n N] [-t N]: one-shot generation */
int cmd_generate(int argc, char **argv);
/* gemma4 [-m MODEL] [options] on a terminal: the chat UI (app/chat_ui.c) */
int cmd_chat(int argc, char **argv);
/* gemma4 bench -m MODEL [-p N] [-n N] [-t THREADS] [-r REPS] [--json]: speed medians */
int cmd_bench(int argc, char **argv);
/* gemma4 tokenize -m MODEL_OR_VOCAB [--no-bos] TEXT | --jsonl IN.jsonl */
int cmd_tokenize(int argc, char **argv);
/* gemma4 template --template FILE.jinja --case CASE.json */
int cmd_template(int argc, char **argv);
/* gemma4 pull ORG/NAME[:QUANT] [--revision REV] [--quiet]: download into the HF cache */
int cmd_pull(int argc, char **argv);
/* gemma4 tools [list] | tools run NAME [ARGS]: the Lua tool scripts (tools_cmd.c). */
int cmd_tools(int argc, char **argv);

/* gemma4 -m MODEL --serve [options]: the OpenAI-compatible HTTP server */
int cmd_serve(int argc, char **argv);

/* Parses "2,105,9" into a malloc'd array; returns the count, or -1 with a message on stderr. */
int cli_parse_tokens(const char *s, int32_t **out);
/* Parses a positive integer option value; -1 with a message on stderr if invalid. */
int cli_parse_int(const char *opt, const char *s, int lo, int hi);

/* Where the model runs: --gpu-layers N|all, --device I, --cpu. Unless told, every
 * layer goes on the GPU when there is one. */
typedef struct {
    int gpu_layers;     /* -1: all, 0: none (CPU), CLI_GPU_AUTO: all if a GPU exists */
    int device;
} cli_device;
#define CLI_GPU_AUTO (-2)
#define CLI_DEVICE_DEFAULT ((cli_device){.gpu_layers = CLI_GPU_AUTO, .device = 0})
#define CLI_DEVICE_USAGE \
    "  --gpu-layers N|all        decoder layers on the GPU, from the first (default: all when there is a GPU)\n" \
    "  --device I                which GPU (default 0)    --cpu   run on the CPU only\n"
/* If argv[*i] is one of those flags, takes it (and its value, moving *i) and
 * returns 1; 0 when it is another flag; -1 after a message on stderr. */
int cli_device_flag(cli_device *d, int argc, char **argv, int *i);
/* The layers on the GPU those flags ask for (n_gpu_layers of g4_context_params). */
int cli_device_layers(const cli_device *d);
/* The local path to load for a model argument: *local is NULL when the argument is
 * already a path, else the malloc'd path of a hub id's local copy (downloaded if
 * missing). Returns 0, or -1 after a message on stderr. */
int cli_resolve_model(const char *model, char **local);
/* All of a stream, or all of the file at path, as a NUL-terminated malloc'd string;
 * NULL after "gemma4: cannot read WHAT ..." on stderr. */
char *cli_read_stream(FILE *in, const char *what);
char *cli_read_file(const char *path, const char *what);
/* Prints "gemma4: MSG" to stderr and returns 1 (the exit status of a failed command). */
int cli_fail(const char *fmt, ...);

#endif
