/* tui.h: the terminal chat UI's entry point: what `gemma4` (or `gemma4 -m MODEL`) opens on a
 * terminal. Everything else in app/tui/ (views, input, commands) is private to it. */
#ifndef G4_TUI_H
#define G4_TUI_H

#include "agent/setup.h"
#include "chat/chat.h"

#include <stdbool.h>

typedef struct {
    const char *model;        /* as the user gave it (path or hub id): shown and saved in sessions */
    const char *model_path;   /* the resolved local path passed to the chat engine */
    const char *theme;        /* theme name, NULL: the default */
    const char *system;       /* system prompt, NULL: none */
    const char *resume;       /* session name to continue, NULL: a new session */
    bool resume_latest;       /* --resume without a name: the most recently updated session */
    chat_engine_params engine;
    chat_settings settings;
    agent_setup *tools;       /* the tools the model may call (the agent loop runs each turn), or NULL */
    int max_steps;            /* the agent's generations per turn at most (0: its default) */
} tui_options;

/* Runs the UI until /quit or Ctrl-C twice; returns the process exit status (0, or 1 with a
 * one-line message on stderr when the model, theme or session cannot be opened). */
int tui_run(const tui_options *opt);

#endif
