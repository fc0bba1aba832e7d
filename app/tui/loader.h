/* loader.h: opening a model (path or hub id) on a background thread for /model. */
#ifndef G4_TUI_LOADER_H
#define G4_TUI_LOADER_H

#include "chat/chat.h"

typedef struct tui_loader tui_loader;

/* Starts resolving and opening model; NULL if no thread could be started. */
tui_loader *tui_loader_start(const char *model, const chat_engine_params *params);
/* Readable (poll) once the load has finished, successfully or not. */
int tui_loader_fd(const tui_loader *l);
/* Joins and frees the loader: the engine, or NULL with a malloc'd message in *err. */
chat_engine *tui_loader_finish(tui_loader *l, char **err);

#endif
