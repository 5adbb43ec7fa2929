// A supervisor process for each MPI rank, so that a rank killed by a signal is named.
#ifndef BACKPROP_SUPERVISOR_H
#define BACKPROP_SUPERVISOR_H

#ifdef __cplusplus
extern "C" {
#endif

/// How a supervised child ended.
typedef struct {
  int pid;          ///< the child's process id
  int exit_code;    ///< its exit status when it exited, else -1
  int signal;       ///< the signal that ended it, else 0
} bp_child_outcome;

/// Runs this program (`/proc/self/exe`, the same `argv`) again as a child with the environment
/// plus `BACKPROP_MPI_SUPERVISOR=<this pid>`, inheriting every descriptor (MPI's launcher
/// passes its connection as one), and waits for it. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
/// and SIGUSR2 received meanwhile are forwarded to the child. Returns 0 and fills `outcome`, or
/// -1 with `errno` set when the child could not be started.
int bp_supervise_self(char *const argv[], bp_child_outcome *outcome);

/// In a child started by `bp_supervise_self`: arranges to be killed (SIGKILL) when the
/// supervisor ends, so no rank outlives its supervisor. Returns 1 when this process is such a
/// child, 0 otherwise; ends the process at once when the supervisor is already gone.
int bp_supervised_child(void);

#ifdef __cplusplus
}
#endif

#endif
