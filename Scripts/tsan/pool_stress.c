// ThreadSanitizer check of the kernels' thread pool (Sources/CBackpropKernels/runtime.c), the
// package's only hand-written synchronization in C: several threads submit jobs at once (one
// gets the pool, the others run inline), each job's parts write disjoint slots, and every
// result is checked, and that every part ran exactly once (jobs of up to 9 parts on 4 threads:
// the parts are claimed, so a thread may run several). Built and run by Scripts/tsan/pool.sh (in CI).
#include <pthread.h>
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

int main(void) {
  bp_set_max_threads(THREADS);
  pthread_t threads[CALLERS];
  for (int i = 0; i < CALLERS; i++) pthread_create(&threads[i], NULL, caller, NULL);
  for (int i = 0; i < CALLERS; i++) pthread_join(threads[i], NULL);
  printf("pool stress: %d callers x %d jobs, %d wrong results\n", CALLERS, JOBS, failures);
  return failures != 0;
}
