/* clipboard.c: copying text to the terminal's clipboard with the OSC 52 escape sequence
 * (base64 by OpenSSL), which works over ssh and inside tmux. */
#include "tui/ui.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

enum { CLIPBOARD_MAX = 1 << 20 }; /* terminals drop larger OSC 52 payloads */

int tui_clipboard_copy(const char *text, size_t len) {
    if (len > CLIPBOARD_MAX) len = CLIPBOARD_MAX;
    unsigned char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!b64) return -1;
    int n = EVP_EncodeBlock(b64, (const unsigned char *)text, (int)len);
    fprintf(stdout, "\033]52;c;%.*s\a", n, (const char *)b64);
    fflush(stdout);
    free(b64);
    return 0;
}
