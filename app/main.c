/* main.c: the gemma4 executable: dispatches to a subcommand. */
#include "cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: gemma4 [-m MODEL] [options]               chat in the terminal UI (gemma4 --help-chat)\n"
    "       gemma4 -m MODEL -p TEXT [options]        answer one message, streamed to stdout\n"
    "       gemma4 -m MODEL --tokens IDS [-n N]      greedy token ids after raw token ids\n"
    "       gemma4 eval -m MODEL --tokens IDS [--logits OUT.f32] [--batch N] [--greedy K] [-t N]\n"
    "       gemma4 bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json]\n"
    "       gemma4 tokenize -m MODEL_OR_VOCAB [--no-bos] [--untrusted] TEXT | --jsonl IN.jsonl\n"
    "       gemma4 template --template FILE.jinja --case CASE.json\n"
    "       gemma4 pull ORG/NAME[:QUANT] [--revision REV] [--quiet]   download a model from the hub\n"
    "       gemma4 tools [list] | tools run NAME [ARGS_JSON|-] [--workspace DIR] [--allow-shell]  the Lua tools\n"
    "       gemma4 -m MODEL --serve [--host 127.0.0.1] [--port 8000]  OpenAI-compatible server (--serve --help)\n"
    "\n"
    "MODEL is a .gguf file, a Hugging Face checkpoint directory, or a hub id (ORG/NAME[:QUANT]).\n"
    "IDS is a comma-separated list of token ids, e.g. 2,105,2364.\n"
    "\n"
    "generation options:\n"
    "  -p, --prompt TEXT      the user's message ('-', or no -p with stdin not a terminal: read stdin)\n"
    "  --system TEXT          a system message\n"
    "  --think                let the model think first\n"
    "  --show-thinking        print the thinking to stderr (hidden by default)\n"
    "  --raw                  TEXT is the whole prompt, template markup included\n"
    "  --chat-template FILE   a Jinja chat template instead of the model's\n"
    "  -n, --n-predict N      generate at most N tokens (default 1024)\n"
    "  --temp T  --top-k K  --top-p P  --min-p P  --repeat-penalty R  --seed S\n"
    "                         sampling (default: the model's, else Gemma 4's 1.0, 64, 0.95)\n"
    "  --ctx N                context size (default: the model's trained length, at most 32768)\n"
    "  -t, --threads N        CPU threads (default 0: one per online core)\n"
    "  --gpu-layers N|all     decoder layers on the GPU, from the first (default: all when there is a GPU)\n"
    "  --device I             which GPU (default 0)   --cpu  run on the CPU only (every subcommand takes these)\n"
    "  --json-schema FILE     the answer is JSON following this JSON Schema (docs/structured-output.md)\n"
    "  --grammar FILE         the answer follows this GBNF grammar (start rule root)\n"
    "  --tools-json FILE      offer these tools (an OpenAI tools array); calls print as JSON lines\n"
    "  --tool-choice C        auto (default: calls follow the tools' schemas), none, required, or a tool's name\n"
    "  --no-parallel-tool-calls  at most one call per reply\n"
    "  --stats                print token counts, speed and grammar mask time to stderr\n"
    "  --tools all|NAME,...   let the model call these Lua tools and run them until it answers (docs/agent.md);\n"
    "                         calls and results print to stderr, one line each\n"
    "  --tools-dir DIR        also load the tools in DIR (after tools/lua or $G4_TOOLS_DIR, ~/.config/gemma4/tools)\n"
    "  --yes                  approve every call that asks   --allow NAME,...  --deny NAME,...  per tool\n"
    "  --workspace DIR        the directory the tools' files are confined to (default: the current one)\n"
    "  --tool-env NAME,...    environment variables the tools may read (ctx.env.get; default none)\n"
    "  --allow-shell          tools may run commands   --tool-timeout S  seconds per call (default 30)\n"
    "  --max-steps N          generations at most (default 8)\n"
    "  exit status: 0 answered, 1 error, 2 usage, 3 cut at -n or a full context, 130 interrupted\n"
    "\n"
    "eval options:\n"
    "  --logits FILE   write float32 logits [n_tokens][vocab] (after the softcap)\n"
    "  --batch N       evaluate the prompt N tokens at a time (default: all at once)\n"
    "  --greedy K      print the K greedy next-token ids after the prompt\n"
    "  -t, --threads N CPU threads (default 0: one per online core)\n"
    "\n"
    "bench options (gemma4 bench --help for more):\n"
    "  -p N   prefill N tokens (default 512)   -n N   then decode N (default 128)\n"
    "  -t N   threads (default 0: every core)  -r N   runs after a warm-up (default 5)\n"
    "  --json one JSON object of the medians: prefill/decode tok/s, TTFT, TPOT, peak RSS\n";

/* The chat UI runs when stdin and stdout are terminals and no one-shot prompt is given. */
static bool wants_chat_ui(int argc, char **argv) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt") || !strcmp(argv[i], "--tokens") ||
            !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return false;
    return true;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--help-chat")) { char *h[] = {argv[0], "--help"}; return cmd_chat(2, h); }
    if ((argc < 2 || argv[1][0] == '-') && wants_chat_ui(argc, argv)) return cmd_chat(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--serve")) return cmd_serve(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(argv[1], "template")) return cmd_template(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pull")) return cmd_pull(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tools")) return cmd_tools(argc - 1, argv + 1);
    if (argv[1][0] == '-') return cmd_generate(argc, argv);
    fprintf(stderr, "gemma4: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
