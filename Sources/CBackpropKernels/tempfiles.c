// Removal of registered temporary files on SIGINT, SIGTERM and SIGHUP; see bp_tempfiles.h.
#include "bp_tempfiles.h"

#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

// Each slot: 0 free, 1 being filled or emptied, 2 holding a path the handler may unlink.
static _Atomic int slot_state[BP_TEMPFILE_SLOTS];
static char slot_path[BP_TEMPFILE_SLOTS][BP_TEMPFILE_PATH_MAX];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void cleanup_handler(int signal_number) {
  for (int i = 0; i < BP_TEMPFILE_SLOTS; i++) {
    if (atomic_load(&slot_state[i]) == 2) unlink(slot_path[i]);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, &action, NULL);
  raise(signal_number);
}

static void install_handlers(void) {
  const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  for (unsigned k = 0; k < sizeof signals / sizeof signals[0]; k++) {
    struct sigaction old;
    if (sigaction(signals[k], NULL, &old) != 0) continue;
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;  // keep the host's handler (or SIG_IGN)
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cleanup_handler;
    sigfillset(&action.sa_mask);
    sigaction(signals[k], &action, NULL);
  }
}

int bp_tempfile_register(const char *path) {
  size_t length = strlen(path);
  if (length >= BP_TEMPFILE_PATH_MAX) return -1;
  pthread_once(&install_once, install_handlers);
  for (int i = 0; i < BP_TEMPFILE_SLOTS; i++) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&slot_state[i], &expected, 1)) {
      memcpy(slot_path[i], path, length + 1);
      atomic_store(&slot_state[i], 2);
      return i;
    }
  }
  return -1;
}

void bp_tempfile_unregister(int slot) {
  if (slot < 0 || slot >= BP_TEMPFILE_SLOTS) return;
  atomic_store(&slot_state[slot], 1);
  slot_path[slot][0] = 0;
  atomic_store(&slot_state[slot], 0);
}

int bp_flush_stdout(void) {
  errno = 0;
  int failed = fflush(stdout) != 0;
  int code = errno;
  if (failed || ferror(stdout)) return code != 0 ? code : EIO;
  return 0;
}
