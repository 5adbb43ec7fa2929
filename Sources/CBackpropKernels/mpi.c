// The optional MPI library: loaded at run time with dlopen, so the package builds and runs on a
// machine without MPI, and data-parallel training works when the program is started by an
// mpiexec. Two binary interfaces are served, told apart by the library's symbols:
//
// - MPICH and its ABI relatives (Debian's libmpich12, Intel MPI, MVAPICH): handles are C `int`s
//   whose values are fixed by the ABI. The values below are those of MPICH 4.0.2's mpi.h
//   (/usr/include/x86_64-linux-gnu/mpich/mpi.h from Debian's libmpich-dev):
//   MPI_COMM_WORLD 0x44000000, MPI_BYTE 0x4c00010d, MPI_FLOAT 0x4c00040a, MPI_DOUBLE 0x4c00080b,
//   MPI_LONG_LONG_INT 0x4c000809, MPI_MAX 0x58000001, MPI_SUM 0x58000003,
//   MPI_ERRORS_RETURN 0x54000001, MPI_SUCCESS 0, MPI_THREAD_SERIALIZED 2.
// - Open MPI: handles are pointers to the library's global objects (`MPI_COMM_WORLD` is
//   `&ompi_mpi_comm_world`, `MPI_DOUBLE` is `&ompi_mpi_double`, ... in Open MPI's mpi.h), looked
//   up here with dlsym.
//
// No receive buffer aliases its send buffer (MPI_IN_PLACE differs between the two interfaces).
// Calls are serialized by a mutex (MPI_THREAD_SERIALIZED is requested).
#include "CBackpropKernels.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ABI_NONE = 0, ABI_MPICH = 1, ABI_OPENMPI = 2 };

// Function types, one per interface: `int` handles (MPICH) or pointer handles (Open MPI).
typedef int (*init_thread_fn)(int *, char ***, int, int *);
typedef int (*initialized_fn)(int *);
typedef int (*finalize_fn)(void);
typedef int (*error_string_fn)(int, char *, int *);
typedef double (*wtime_fn)(void);
typedef int (*library_version_fn)(char *, int *);

typedef int (*rank_i)(int, int *);
typedef int (*rank_p)(void *, int *);
typedef int (*set_errhandler_i)(int, int);
typedef int (*set_errhandler_p)(void *, void *);
typedef int (*allreduce_i)(const void *, void *, int, int, int, int);
typedef int (*allreduce_p)(const void *, void *, int, void *, void *, void *);
typedef int (*bcast_i)(void *, int, int, int, int);
typedef int (*bcast_p)(void *, int, void *, int, void *);
typedef int (*allgather_i)(const void *, int, int, void *, int, int, int);
typedef int (*allgather_p)(const void *, int, void *, void *, int, void *, void *);
typedef int (*barrier_i)(int);
typedef int (*barrier_p)(void *);
typedef int (*abort_i)(int, int);
typedef int (*abort_p)(void *, int);

typedef struct {
  int abi;
  void *library;
  char name[256];
  // Handles: an int value (MPICH) or an address (Open MPI), stored as intptr_t.
  intptr_t comm_world, type_byte, type_float, type_double, type_int64, op_sum, op_max, errors_return;
  void *init_thread, *initialized, *finalize, *error_string, *wtime, *library_version;
  void *comm_rank, *comm_size, *set_errhandler, *allreduce, *bcast, *allgather, *barrier, *abort_fn;
  int rank, size;
} mpi_state;

static mpi_state mpi;
static int initialized_here = 0;
static pthread_mutex_t mpi_lock = PTHREAD_MUTEX_INITIALIZER;

// The watchdog: when one collective stays blocked longer than the timeout (a rank died and the
// launcher did not end the job), it names the ranks found dead and ends this process.
static _Atomic double collective_since = 0;  // CLOCK_MONOTONIC seconds; 0 when no call is blocked
static const char *_Atomic collective_name = "";
static double watchdog_timeout = 0;
static int *peer_pids = NULL;  // pid of each rank on this host, 0 for ranks on other hosts

static double monotonic_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void begin_collective(const char *name) {
  collective_name = name;
  collective_since = monotonic_now();
}
static void end_collective(void) { collective_since = 0; }

// Time spent inside MPI_Allreduce (for `BACKPROP_MPI_STATS`), and in whole fused all-reduces
// as reported by the Swift side (copies into and out of the fusion buffer included).
static double allreduce_seconds = 0, fused_seconds = 0;
static long allreduce_calls = 0, fused_calls = 0;

void bp_mpi_note_fused(double seconds) {
  pthread_mutex_lock(&mpi_lock);
  fused_seconds += seconds;
  fused_calls++;
  pthread_mutex_unlock(&mpi_lock);
}

void bp_mpi_stats(double *mpi_seconds, long *mpi_calls, double *fused, long *fused_count) {
  pthread_mutex_lock(&mpi_lock);
  *mpi_seconds = allreduce_seconds;
  *mpi_calls = allreduce_calls;
  *fused = fused_seconds;
  *fused_count = fused_calls;
  pthread_mutex_unlock(&mpi_lock);
}

// 1 when `pid` is gone or a zombie.
static int process_gone(int pid) {
  if (kill(pid, 0) != 0) return 1;
  char path[64], state = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  if (fscanf(f, "%*d %*s %c", &state) != 1) state = 0;
  fclose(f);
  return state == 'Z' || state == 'X';
}

// Ends this process with a message naming the lost ranks (or the stuck collective).
static void report_and_exit(const char *why) {
  char message[2048];
  int used = snprintf(message, sizeof message, "Error (rank %d of %d): %s", mpi.rank, mpi.size, why);
  int lost = 0, remote = 0;
  for (int r = 0; r < mpi.size && used < (int)sizeof message - 120; r++) {
    if (r == mpi.rank) continue;
    if (peer_pids[r] == 0) {
      remote++;
    } else if (process_gone(peer_pids[r])) {
      used += snprintf(message + used, sizeof message - used, "%srank %d (pid %d) was lost", lost ? ", " : "", r,
                       peer_pids[r]);
      lost++;
    }
  }
  if (!lost) used += snprintf(message + used, sizeof message - used, remote ? "a rank on another host was lost or is stuck" : "a rank is stuck");
  snprintf(message + used, sizeof message - used, "; ending rank %d\n", mpi.rank);
  ssize_t ignored = write(2, message, strlen(message));
  (void)ignored;
  _exit(75);
}

// Watches the ranks on this host through pidfds (woken the moment one exits, before the
// launcher's clean-up reaches this process) and the time the current collective has been
// blocked (for ranks on other hosts, and launchers that leave the survivors waiting).
static _Atomic int finalizing = 0;

static void *watchdog_main(void *unused) {
  (void)unused;
  struct pollfd fds[256];
  int count = 0, gone = 0;
#ifdef SYS_pidfd_open
  for (int r = 0; r < mpi.size && count < 256; r++) {
    if (r == mpi.rank || peer_pids[r] == 0) continue;
    int fd = (int)syscall(SYS_pidfd_open, peer_pids[r], 0);
    if (fd >= 0) fds[count++] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
#endif
  for (;;) {
    int ready = count ? poll(fds, (nfds_t)count, 1000) : (sleep(1), 0);
    if (finalizing) return NULL;
    // A peer that exited stops being watched; it is a loss when this rank is (or later gets)
    // blocked in a collective, which can then never complete. (Peers exit normally after the
    // last collective, while this rank may still be writing files.)
    for (int i = 0; ready > 0 && i < count; i++) {
      if (fds[i].fd >= 0 && fds[i].revents) {
        close(fds[i].fd);
        fds[i].fd = -1;
        gone++;
      }
    }
    double since = collective_since;
    if (since == 0) continue;
    if (gone) report_and_exit("");
    if (watchdog_timeout > 0 && monotonic_now() - since >= watchdog_timeout) {
      char why[256];
      snprintf(why, sizeof why, "%s has been blocked for more than %.0f s (BACKPROP_MPI_TIMEOUT); ", collective_name,
               watchdog_timeout);
      report_and_exit(why);
    }
  }
  return NULL;
}

int bp_mpi_start_watchdog(double timeout_seconds, const int *pids, int count) {
  if (mpi.abi == ABI_NONE || count != mpi.size || peer_pids) return 0;
  peer_pids = calloc((size_t)count, sizeof(int));
  if (!peer_pids) return 0;
  memcpy(peer_pids, pids, (size_t)count * sizeof(int));
  watchdog_timeout = timeout_seconds;
  pthread_t thread;
  if (pthread_create(&thread, NULL, watchdog_main, NULL) != 0) return 0;
  pthread_detach(thread);
  return 1;
}

static void set_error(char *error, size_t capacity, const char *format, const char *a, const char *b) {
  if (error && capacity) snprintf(error, capacity, format, a ? a : "", b ? b : "");
}

// The text of an MPI error code.
static void describe(int code, const char *call, char *error, size_t capacity) {
  char text[512] = "";
  int length = 0;
  if (mpi.error_string && ((error_string_fn)mpi.error_string)(code, text, &length) != 0) text[0] = 0;
  if (error && capacity) snprintf(error, capacity, "%s failed: %s (MPI error %d)", call, text[0] ? text : "unknown", code);
}

static int load_symbols(void *h, char *error, size_t capacity) {
  const char *names[] = {
    "MPI_Init_thread", "MPI_Initialized", "MPI_Finalize", "MPI_Error_string", "MPI_Wtime", "MPI_Get_library_version",
    "MPI_Comm_rank", "MPI_Comm_size", "MPI_Comm_set_errhandler", "MPI_Allreduce", "MPI_Bcast", "MPI_Allgather",
    "MPI_Barrier", "MPI_Abort",
  };
  void **slots[] = {
    &mpi.init_thread, &mpi.initialized, &mpi.finalize, &mpi.error_string, &mpi.wtime, &mpi.library_version,
    &mpi.comm_rank, &mpi.comm_size, &mpi.set_errhandler, &mpi.allreduce, &mpi.bcast, &mpi.allgather,
    &mpi.barrier, &mpi.abort_fn,
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    *slots[i] = dlsym(h, names[i]);
    if (!*slots[i]) {
      set_error(error, capacity, "%s has no symbol %s", mpi.name, names[i]);
      return 0;
    }
  }
  if (dlsym(h, "ompi_mpi_comm_world")) {
    const char *objects[] = {
      "ompi_mpi_comm_world", "ompi_mpi_byte", "ompi_mpi_float", "ompi_mpi_double", "ompi_mpi_long_long_int",
      "ompi_mpi_op_sum", "ompi_mpi_op_max", "ompi_mpi_errors_return",
    };
    intptr_t *handles[] = {
      &mpi.comm_world, &mpi.type_byte, &mpi.type_float, &mpi.type_double, &mpi.type_int64,
      &mpi.op_sum, &mpi.op_max, &mpi.errors_return,
    };
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
      void *p = dlsym(h, objects[i]);
      if (!p) {
        set_error(error, capacity, "%s (Open MPI) has no symbol %s", mpi.name, objects[i]);
        return 0;
      }
      *handles[i] = (intptr_t)p;
    }
    mpi.abi = ABI_OPENMPI;
  } else {
    mpi.comm_world = 0x44000000;
    mpi.type_byte = 0x4c00010d;
    mpi.type_float = 0x4c00040a;
    mpi.type_double = 0x4c00080b;
    mpi.type_int64 = 0x4c000809;
    mpi.op_max = 0x58000001;
    mpi.op_sum = 0x58000003;
    mpi.errors_return = 0x54000001;
    mpi.abi = ABI_MPICH;
  }
  return 1;
}

// An Open MPI handle (an address).
#define P(handle) ((void *)(handle))

// MPICH's and Open MPI's typedefs differ, so each call is written twice.
static int call_rank(int *out) {
  return mpi.abi == ABI_MPICH ? ((rank_i)mpi.comm_rank)((int)mpi.comm_world, out)
                              : ((rank_p)mpi.comm_rank)(P(mpi.comm_world), out);
}
static int call_size(int *out) {
  return mpi.abi == ABI_MPICH ? ((rank_i)mpi.comm_size)((int)mpi.comm_world, out)
                              : ((rank_p)mpi.comm_size)(P(mpi.comm_world), out);
}

// The limit on MPI_Init_thread's wait for the other ranks (0: none), and whether it returned.
static double init_timeout = 0;
static _Atomic int init_returned = 0;

void bp_mpi_set_init_timeout(double seconds) { init_timeout = seconds; }

// The launcher's name for this rank and the rank count (MPI cannot say before it starts).
static const char *launcher_value(const char *openmpi, const char *pmi) {
  const char *v = getenv(openmpi);
  if (!v) v = getenv(pmi);
  return v ? v : "?";
}

// Ends this process when MPI_Init_thread has not returned within `init_timeout`: the launcher
// started every rank, so one that never joins (it exited before starting MPI, or runs without
// MPI) keeps the others in MPI_Init forever (measured: MPICH's Hydra does not end the job when
// a process exits with an error before MPI_Init).
static void *init_watchdog_main(void *unused) {
  (void)unused;
  double start = monotonic_now();
  while (!init_returned) {
    if (monotonic_now() - start >= init_timeout) {
      const char *rank = launcher_value("OMPI_COMM_WORLD_RANK", "PMI_RANK");
      char message[512];
      snprintf(message, sizeof message,
               "Error (rank %s of %s): MPI_Init has waited more than %.0f s for the other ranks (BACKPROP_MPI_TIMEOUT): "
               "a rank did not start MPI (it failed before, or was started without MPI); ending rank %s\n",
               rank, launcher_value("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"), init_timeout, rank);
      ssize_t ignored = write(2, message, strlen(message));
      (void)ignored;
      _exit(75);
    }
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
  }
  return NULL;
}

int bp_mpi_init(const char *library, char *error, size_t capacity) {
  pthread_mutex_lock(&mpi_lock);
  if (mpi.abi != ABI_NONE) {
    pthread_mutex_unlock(&mpi_lock);
    return 1;
  }
  static const char *const candidates[] = {"libmpich.so.12", "libmpi.so.12", "libmpi.so.40", "libmpi.so"};
  char reasons[1024] = "";
  void *h = NULL;
  const char *chosen = NULL;
  if (library && *library) {
    h = dlopen(library, RTLD_NOW | RTLD_GLOBAL);  // Open MPI's plug-ins need its symbols global
    chosen = library;
    if (!h) snprintf(reasons, sizeof reasons, "dlopen(%s): %s", library, dlerror());
  } else {
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !h; i++) {
      h = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
      chosen = candidates[i];
      if (!h) {
        size_t used = strlen(reasons);
        snprintf(reasons + used, sizeof reasons - used, "%sdlopen(%s): %s", used ? "; " : "", candidates[i], dlerror());
      }
    }
  }
  if (!h) {
    set_error(error, capacity, "no MPI library could be loaded (%s)%s", reasons, "");
    pthread_mutex_unlock(&mpi_lock);
    return 0;
  }
  mpi.library = h;
  snprintf(mpi.name, sizeof mpi.name, "%s", chosen);
  if (!load_symbols(h, error, capacity)) {
    memset(&mpi, 0, sizeof mpi);
    pthread_mutex_unlock(&mpi_lock);
    return 0;
  }
  int already = 0;
  ((initialized_fn)mpi.initialized)(&already);
  if (!already) {
    int provided = 0;
    pthread_t watchdog;
    int watched = init_timeout > 0 && pthread_create(&watchdog, NULL, init_watchdog_main, NULL) == 0;
    int code = ((init_thread_fn)mpi.init_thread)(NULL, NULL, 2 /* MPI_THREAD_SERIALIZED */, &provided);
    init_returned = 1;
    if (watched) pthread_join(watchdog, NULL);
    if (code != 0) {
      describe(code, "MPI_Init_thread", error, capacity);
      mpi.abi = ABI_NONE;
      pthread_mutex_unlock(&mpi_lock);
      return 0;
    }
    initialized_here = 1;
  }
  // Errors come back as codes (turned into Swift errors) instead of aborting the job.
  if (mpi.abi == ABI_MPICH)
    ((set_errhandler_i)mpi.set_errhandler)((int)mpi.comm_world, (int)mpi.errors_return);
  else
    ((set_errhandler_p)mpi.set_errhandler)(P(mpi.comm_world), P(mpi.errors_return));
  call_rank(&mpi.rank);
  call_size(&mpi.size);
  pthread_mutex_unlock(&mpi_lock);
  return 1;
}

int bp_mpi_active(void) { return mpi.abi != ABI_NONE; }
int bp_mpi_rank(void) { return mpi.abi != ABI_NONE ? mpi.rank : 0; }
int bp_mpi_size(void) { return mpi.abi != ABI_NONE ? mpi.size : 1; }
const char *bp_mpi_library(void) { return mpi.abi != ABI_NONE ? mpi.name : NULL; }
const char *bp_mpi_interface(void) {
  return mpi.abi == ABI_MPICH ? "MPICH ABI" : mpi.abi == ABI_OPENMPI ? "Open MPI" : "none";
}

int bp_mpi_library_version(char *out, size_t capacity) {
  if (mpi.abi == ABI_NONE || capacity == 0) return 0;
  char text[8192] = "";
  int length = 0;
  if (((library_version_fn)mpi.library_version)(text, &length) != 0) return 0;
  snprintf(out, capacity, "%s", text);
  return 1;
}

double bp_mpi_wtime(void) { return mpi.abi != ABI_NONE ? ((wtime_fn)mpi.wtime)() : 0; }

static intptr_t datatype(int dtype) {
  switch (dtype) {
  case BP_MPI_FLOAT32: return mpi.type_float;
  case BP_MPI_FLOAT64: return mpi.type_double;
  case BP_MPI_INT64: return mpi.type_int64;
  default: return mpi.type_byte;
  }
}

static size_t element_size(int dtype) {
  switch (dtype) {
  case BP_MPI_FLOAT32: return 4;
  case BP_MPI_FLOAT64: return 8;
  case BP_MPI_INT64: return 8;
  default: return 1;
  }
}

int bp_mpi_allreduce(const void *send, void *receive, long count, int dtype, int op, char *error, size_t capacity) {
  if (mpi.abi == ABI_NONE) {
    set_error(error, capacity, "MPI is not initialized%s%s", "", "");
    return 0;
  }
  pthread_mutex_lock(&mpi_lock);
  const size_t size = element_size(dtype);
  const intptr_t t = datatype(dtype), o = op == BP_MPI_MAX ? mpi.op_max : mpi.op_sum;
  long done = 0;
  while (done < count) {  // MPI counts are ints: large buffers go in pieces
    int n = count - done > INT_MAX / 2 ? INT_MAX / 2 : (int)(count - done);
    const char *s = (const char *)send + done * size;
    char *r = (char *)receive + done * size;
    begin_collective("MPI_Allreduce");
    double t0 = monotonic_now();
    int code = mpi.abi == ABI_MPICH
                 ? ((allreduce_i)mpi.allreduce)(s, r, n, (int)t, (int)o, (int)mpi.comm_world)
                 : ((allreduce_p)mpi.allreduce)(s, r, n, P(t), P(o), P(mpi.comm_world));
    allreduce_seconds += monotonic_now() - t0;
    allreduce_calls++;
    end_collective();
    if (code != 0) {
      describe(code, "MPI_Allreduce", error, capacity);
      pthread_mutex_unlock(&mpi_lock);
      return 0;
    }
    done += n;
  }
  pthread_mutex_unlock(&mpi_lock);
  return 1;
}

int bp_mpi_broadcast(void *buffer, long bytes, int root, char *error, size_t capacity) {
  if (mpi.abi == ABI_NONE) {
    set_error(error, capacity, "MPI is not initialized%s%s", "", "");
    return 0;
  }
  pthread_mutex_lock(&mpi_lock);
  long done = 0;
  while (done < bytes) {
    int n = bytes - done > INT_MAX / 2 ? INT_MAX / 2 : (int)(bytes - done);
    char *b = (char *)buffer + done;
    begin_collective("MPI_Bcast");
    int code = mpi.abi == ABI_MPICH ? ((bcast_i)mpi.bcast)(b, n, (int)mpi.type_byte, root, (int)mpi.comm_world)
                                    : ((bcast_p)mpi.bcast)(b, n, P(mpi.type_byte), root, P(mpi.comm_world));
    end_collective();
    if (code != 0) {
      describe(code, "MPI_Bcast", error, capacity);
      pthread_mutex_unlock(&mpi_lock);
      return 0;
    }
    done += n;
  }
  pthread_mutex_unlock(&mpi_lock);
  return 1;
}

int bp_mpi_allgather(const void *send, void *receive, int bytes, char *error, size_t capacity) {
  if (mpi.abi == ABI_NONE) {
    set_error(error, capacity, "MPI is not initialized%s%s", "", "");
    return 0;
  }
  pthread_mutex_lock(&mpi_lock);
  begin_collective("MPI_Allgather");
  int code = mpi.abi == ABI_MPICH
               ? ((allgather_i)mpi.allgather)(send, bytes, (int)mpi.type_byte, receive, bytes, (int)mpi.type_byte,
                                              (int)mpi.comm_world)
               : ((allgather_p)mpi.allgather)(send, bytes, P(mpi.type_byte), receive, bytes, P(mpi.type_byte),
                                              P(mpi.comm_world));
  end_collective();
  if (code != 0) describe(code, "MPI_Allgather", error, capacity);
  pthread_mutex_unlock(&mpi_lock);
  return code == 0;
}

int bp_mpi_barrier(char *error, size_t capacity) {
  if (mpi.abi == ABI_NONE) return 1;
  pthread_mutex_lock(&mpi_lock);
  begin_collective("MPI_Barrier");
  int code = mpi.abi == ABI_MPICH ? ((barrier_i)mpi.barrier)((int)mpi.comm_world)
                                  : ((barrier_p)mpi.barrier)(P(mpi.comm_world));
  end_collective();
  if (code != 0) describe(code, "MPI_Barrier", error, capacity);
  pthread_mutex_unlock(&mpi_lock);
  return code == 0;
}

void bp_mpi_abort(int code) {
  if (mpi.abi == ABI_NONE) return;
  // No lock: another thread may be stuck inside a collective.
  if (mpi.abi == ABI_MPICH)
    ((abort_i)mpi.abort_fn)((int)mpi.comm_world, code);
  else
    ((abort_p)mpi.abort_fn)(P(mpi.comm_world), code);
}

int bp_mpi_finalize(void) {
  pthread_mutex_lock(&mpi_lock);
  int code = 0;
  finalizing = 1;
  if (mpi.abi != ABI_NONE && initialized_here) code = ((finalize_fn)mpi.finalize)();
  pthread_mutex_unlock(&mpi_lock);
  return code == 0;
}
