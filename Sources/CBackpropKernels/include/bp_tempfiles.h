#ifndef BACKPROP_TEMPFILES_H
#define BACKPROP_TEMPFILES_H

/// Temporary files removed when the process is interrupted (SIGINT, SIGTERM, SIGHUP).
///
/// ArrayCore's atomic write registers the temporary file it writes before creating it and
/// unregisters it once renamed (or removed). The first registration installs handlers for
/// SIGINT, SIGTERM and SIGHUP (only where the disposition is the default one, so a host
/// program's own handlers are kept); the handler `unlink`s every registered path (unlink is
/// async-signal-safe), restores the default action and raises the signal again, so the
/// process still ends with that signal. SIGKILL cannot be caught: ArrayCore removes the
/// leftovers of dead processes on the next save to the same path.

#ifdef __cplusplus
extern "C" {
#endif

/// The number of temporary paths that can be registered at once.
#define BP_TEMPFILE_SLOTS 64
/// The longest registered path, in bytes, including the terminating zero.
#define BP_TEMPFILE_PATH_MAX 4096

/// Registers `path` for removal on SIGINT/SIGTERM/SIGHUP; returns the slot (>= 0), or -1 when
/// every slot is taken or the path is too long (the write then goes on unprotected).
int bp_tempfile_register(const char *path);

/// Unregisters the slot returned by `bp_tempfile_register` (no-op for -1).
void bp_tempfile_unregister(int slot);

/// Flushes the C standard output stream and returns 0 when every write to it succeeded, else
/// the `errno` of the failure (EIO when unknown): `backprop predict > /dev/full` must not exit 0.
int bp_flush_stdout(void);

#ifdef __cplusplus
}
#endif

#endif
