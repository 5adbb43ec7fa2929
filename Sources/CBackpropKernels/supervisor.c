// A supervisor for each MPI rank: see bp_supervisor.h. MPICH's launcher (Hydra) SIGKILLs every
// rank as soon as one dies, so the survivors cannot say which rank was lost; a supervisor
// waiting for its own rank can.
#include "bp_supervisor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

extern char **environ;

static volatile sig_atomic_t child_pid = 0;

static void forward(int signal_number) {
  if (child_pid > 0) kill((pid_t)child_pid, signal_number);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define FORWARDED_COUNT (sizeof forwarded / sizeof forwarded[0])

int bp_supervise_self(char *const argv[], bp_child_outcome *outcome) {
  // The environment with BACKPROP_MPI_SUPERVISOR=<pid> added (replacing one already there).
  size_t count = 0;
  while (environ[count]) count++;
  char **env = calloc(count + 2, sizeof(char *));
  if (!env) return -1;
  char mark[64];
  snprintf(mark, sizeof mark, "BACKPROP_MPI_SUPERVISOR=%ld", (long)getpid());
  size_t k = 0;
  for (size_t i = 0; i < count; i++)
    if (strncmp(environ[i], "BACKPROP_MPI_SUPERVISOR=", 24) != 0) env[k++] = environ[i];
  env[k++] = mark;
  env[k] = NULL;

  // Forward signals from before the child exists (none arrive while child_pid is 0: they are
  // blocked until the handlers and the pid are in place); the child starts with default
  // dispositions and an empty mask.
  sigset_t block, old;
  sigemptyset(&block);
  for (size_t i = 0; i < FORWARDED_COUNT; i++) sigaddset(&block, forwarded[i]);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setsigdefault(&attributes, &block);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int failure = posix_spawn(&pid, "/proc/self/exe", NULL, &attributes, argv, env);
  posix_spawnattr_destroy(&attributes);
  free(env);
  if (failure != 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = failure;
    return -1;
  }
  child_pid = pid;
  for (size_t i = 0; i < FORWARDED_COUNT; i++) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(forwarded[i], &action, NULL);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  outcome->pid = (int)pid;
  outcome->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  outcome->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return 0;
}

int bp_supervised_child(void) {
  const char *mark = getenv("BACKPROP_MPI_SUPERVISOR");
  if (!mark) return 0;
  const long supervisor = strtol(mark, NULL, 10);
#if defined(__linux__)
  prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
  // The supervisor may have ended before the request took effect.
  if ((long)getppid() != supervisor) _exit(1);
  return 1;
}
