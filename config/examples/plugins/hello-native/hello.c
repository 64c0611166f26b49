/*
 * A native siglatch plugin (docs/PLUGINS.md). Build:
 *   cc -shared -fPIC -O2 -Wall -o hello.so hello.c
 *
 * The ABI is one function. `req` is the request payload (`len` bytes); `*out_len` is the
 * capacity of `out` on entry and must be set to the bytes written. The return value is the
 * exit code (0 success). The request's facts are in the environment: SIGLATCH_USER,
 * SIGLATCH_PLUGIN_ACTION, SIGLATCH_PLUGIN_CONFIG (JSON) and the other SIGLATCH_* names.
 * It runs in its own child process: a crash ends that process only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int siglatch_action(const uint8_t *req, size_t len, uint8_t *out, size_t *out_len) {
  const char *user = getenv("SIGLATCH_USER");
  size_t cap = *out_len, n = 0;
  if (user == NULL) user = "?";
  for (const char *p = user; *p != '\0' && n < cap; p++) out[n++] = (uint8_t)*p;
  if (n < cap) out[n++] = ':';
  if (n < cap) out[n++] = ' ';
  for (size_t i = 0; i < len && n < cap; i++) {
    uint8_t c = req[i];
    out[n++] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
  }
  *out_len = n;
  return 0;
}
