// ThreadSanitizer check of the kernels' thread pool (Sources/CBackpropKernels/runtime.c), the
// package's only hand-written synchronization in C: several threads submit jobs at once (one
// gets the pool, the others run inline), each job's parts write disjoint slots, and every
// result is checked, and that every part ran exactly once (jobs of up to 9 parts on 4 threads:
// the parts are claimed, so a thread may run several). Before that, on Linux with two CPUs or
// more, that a pool thread stuck on its caller's CPU is moved off it (`separate_workers`).
// Built and run by Scripts/tsan/pool.sh (in CI).
#if defined(__linux__)
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include "CBackpropKernels.h"
#include "internal.h"

enum { CALLERS = 4, JOBS = 3000, THREADS = 4, PARTS = 9 };
static int failures = 0;  // written only under the lock below
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void part(void *context, int index, int count) {
  long *sums = context;  // PARTS sums, then PARTS run counts
  long s = 0;
  for (int i = 0; i < 1000; i++) s += i + index;
  sums[index] = s + count;
  sums[PARTS + index]++;
}

static void *caller(void *arg) {
  (void)arg;
  for (int job = 0; job < JOBS; job++) {
    long sums[2 * PARTS] = {0};
    int parts = 2 + job % (PARTS - 1);
    bp_parallel_for(parts, part, sums);
    for (int i = 0; i < parts; i++) {
      if (sums[i] != 499500 + 1000L * i + parts || sums[PARTS + i] != 1) {
        pthread_mutex_lock(&failures_lock);
        failures++;
        pthread_mutex_unlock(&failures_lock);
      }
    }
  }
  return NULL;
}

#if defined(__linux__)
// Where each part of a placement job ran, and whether a pool thread (not the caller) ran it.
static pthread_t main_thread;
static atomic_int worker_ran_elsewhere = 0;  // a pool thread ran a part on a CPU other than `pinned_cpu`
static int pinned_cpu = -1;

static void placed_part(void *context, int index, int count) {
  (void)context, (void)index, (void)count;
  volatile double x = 1;
  for (int i = 0; i < 20000; i++) x = x * 1.0000001 + 1e-9;  // some microseconds of work
  if (!pthread_equal(pthread_self(), main_thread) && sched_getcpu() != pinned_cpu) atomic_store(&worker_ran_elsewhere, 1);
}

// Sets the affinity of every thread of the process but the caller (the pool's threads, and a
// sanitizer's own) to `mask`.
static void set_other_threads(const cpu_set_t *mask) {
  const pid_t me = (pid_t)syscall(SYS_gettid);
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    const pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && tid != me) sched_setaffinity(tid, sizeof *mask, mask);
  }
  closedir(d);
}

// The pool's threads are pinned to the caller's CPU (as the scheduler's wake-ups can leave them),
// the caller may use every CPU and is still on that one: after a job, the caller must move them
// off it, and they must then run parts elsewhere. Returns 0 when that happened (or the machine
// cannot show it: one CPU), 1 otherwise.
static int check_placement(void) {
  cpu_set_t all, one;
  if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) {
    printf("pool placement: skipped (one CPU)\n");
    return 0;
  }
  main_thread = pthread_self();
  bp_parallel_for(THREADS, placed_part, NULL);  // the pool's threads exist from here
  atomic_store(&worker_ran_elsewhere, 0);
  for (int attempt = 0; attempt < 200 && !atomic_load(&worker_ran_elsewhere); attempt++) {
    pinned_cpu = sched_getcpu();
    CPU_ZERO(&one);
    CPU_SET(pinned_cpu, &one);
    set_other_threads(&one);
    sched_setaffinity(0, sizeof one, &one);
    bp_parallel_for(THREADS, placed_part, NULL);  // every pool thread wakes on `pinned_cpu`
    sched_setaffinity(0, sizeof all, &all);       // the caller stays there for a while yet
    atomic_store(&worker_ran_elsewhere, 0);
    for (int job = 0; job < 20 && !atomic_load(&worker_ran_elsewhere); job++) bp_parallel_for(THREADS, placed_part, NULL);
  }
  const int ok = atomic_load(&worker_ran_elsewhere);
  set_other_threads(&all);
  printf("pool placement: %s (%ld moves)\n", ok ? "a pinned pool thread was moved off its caller's CPU" : "FAILED: the pool's threads stayed on their caller's CPU", bp_pool_worker_moves());
  return !ok;
}
#else
static int check_placement(void) { return 0; }
#endif

int main(void) {
  bp_set_max_threads(THREADS);
  if (check_placement()) return 1;
  pthread_t threads[CALLERS];
  for (int i = 0; i < CALLERS; i++) pthread_create(&threads[i], NULL, caller, NULL);
  for (int i = 0; i < CALLERS; i++) pthread_join(threads[i], NULL);
  printf("pool stress: %d callers x %d jobs, %d wrong results\n", CALLERS, JOBS, failures);
  return failures != 0;
}
