// Run-time dispatch, the thread pool and per-thread scratch memory.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE  // sched_getcpu, sched_setaffinity and cpu_set_t (see "Keeping the threads apart")
#endif
#include "CBackpropKernels.h"
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

// MARK: Instruction set

// The process-wide choice: BACKPROP_ISA (auto, avx512, avx2 or portable; read at first use) or
// `bp_force_portable_kernels`. A thread may override it for a scope (`bp_set_thread_isa`); the
// pool's threads take the override of the thread that started their job (`bp_parallel_for`),
// so a scoped choice covers the whole product and does not leak into other threads' work.
// A request is a ceiling: the level used is the highest this CPU has at or below it
// (BP_ISA_WIDE_ON_AVX2 needs AVX2 and falls to portable without it).
static atomic_int process_request = -1;   // -1: BACKPROP_ISA not read yet; else a BP_ISA_* level
static atomic_int isa_request_unmet = 0;  // BACKPROP_ISA asked for what this CPU or build lacks
_Thread_local void *bp_thread_slots[BP_THREAD_SLOTS];
static __thread int thread_isa = -1;      // -1: the process's choice; else a BP_ISA_* level
static __thread int thread_direct = -1;   // -1: the process's choice; 0 or 1 (see gemm.c)

// The best level this CPU and its operating system support. `__builtin_cpu_supports` reads
// CPUID and, for AVX-512, also checks that the OS saves the ZMM registers (XCR0).
static int cpu_level(void) {
#if BP_X86
  static atomic_int cpu_best = -1;  // -1: not probed yet
  int best = atomic_load_explicit(&cpu_best, memory_order_relaxed);
  if (best < 0) {
    __builtin_cpu_init();
    best = BP_ISA_PORTABLE;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      best = BP_ISA_AVX2;
      if (__builtin_cpu_supports("avx512f")) best = BP_ISA_AVX512;
    }
    atomic_store(&cpu_best, best);
  }
  return best;
#else
  return BP_ISA_PORTABLE;
#endif
}

static int capped(int request) {
  const int best = cpu_level();
  if (request == BP_ISA_WIDE_ON_AVX2) return best >= BP_ISA_AVX2 ? BP_ISA_WIDE_ON_AVX2 : BP_ISA_PORTABLE;
  return request < best ? request : best;
}

static int process_level(void) {
  int r = atomic_load_explicit(&process_request, memory_order_relaxed);
  if (r < 0) {
    const char *e = getenv("BACKPROP_ISA");
    r = BP_ISA_AVX512;  // auto: the best the CPU has
    if (e && e[0] && strcmp(e, "auto") != 0) {
      static const char *const names[] = {"portable", "avx2", "avx512"};  // indexed by level
      int named = -1;
      for (int level = 0; level < 3; level++)
        if (strcmp(e, names[level]) == 0) named = level;
      if (named >= 0) r = named;
      if (named < 0 || capped(r) != r) atomic_store(&isa_request_unmet, 1);
    }
    int expected = -1;  // a concurrent bp_force_portable_kernels wins
    if (!atomic_compare_exchange_strong(&process_request, &expected, r)) r = expected;
  }
  return r;
}

int bp_kernel_isa(void) { return capped(thread_isa >= 0 ? thread_isa : process_level()); }
int bp_use_avx2(void) { return bp_kernel_isa() != BP_ISA_PORTABLE; }
int bp_cpu_isa(void) { return cpu_level(); }
int bp_portable_forced(void) { return bp_kernel_isa() == BP_ISA_PORTABLE && cpu_level() != BP_ISA_PORTABLE; }
int bp_gemm_backend(void) {
  if (!bp_portable_forced() && bp_blas_active()) return -1;
  return bp_kernel_isa();
}
void bp_force_portable_kernels(int use_portable) {
  atomic_store(&process_request, use_portable ? BP_ISA_PORTABLE : BP_ISA_AVX512);
}
int bp_isa_request_unmet(void) {
  process_level();
  return atomic_load_explicit(&isa_request_unmet, memory_order_relaxed);
}
const char *bp_isa_requested(void) { return getenv("BACKPROP_ISA"); }
int bp_thread_isa(void) { return thread_isa; }
void bp_set_thread_isa(int isa) { thread_isa = isa < 0 || isa > BP_ISA_WIDE_ON_AVX2 ? -1 : isa; }
int bp_switch_from_env(_Atomic int *cache, const char *name) {
  int v = atomic_load_explicit(cache, memory_order_relaxed);
  if (v < 0) {
    const char *e = getenv(name);
    v = (e && e[0] == '0') ? 0 : 1;
    atomic_store_explicit(cache, v, memory_order_relaxed);
  }
  return v;
}

int bp_thread_direct_gemm(void) { return thread_direct; }
void bp_set_thread_direct_gemm(int on) { thread_direct = on < 0 ? -1 : (on > 0 ? 1 : 0); }

// MARK: Threads

#define BP_MAX_POOL 64
static atomic_int thread_setting = 0;  // 0: not yet read

static int default_threads(void) {
  const char *env = getenv("BACKPROP_NUM_THREADS");
  if (env) {
    long v = strtol(env, NULL, 10);
    if (v > 0) return v > BP_MAX_POOL ? BP_MAX_POOL : (int)v;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > BP_MAX_POOL ? BP_MAX_POOL : (int)n;
}

int bp_max_threads(void) {
  int t = atomic_load_explicit(&thread_setting, memory_order_relaxed);
  if (t == 0) {
    t = default_threads();
    atomic_store(&thread_setting, t);
  }
  return t;
}

void bp_set_max_threads(int threads) {
  atomic_store(&thread_setting, threads < 1 ? 0 : (threads > BP_MAX_POOL ? BP_MAX_POOL : threads));
}

// One job at a time goes through the pool (`pool_use`); a caller that finds it busy runs its
// job on its own thread. A job is published by bumping `generation` under `pool_lock`.
// Its pieces are claimed, not assigned: the caller and each worker take the next unclaimed
// index from `claim` (the job's generation in the high 32 bits, the next index in the low
// ones) until none is left, and the caller returns when `done` reaches the count. So a worker
// that is slow to wake (its core busy with another process) costs nothing: the caller takes
// its pieces, and the worker, finding the job's generation gone or every index taken, never
// touches the job's context. At worst the caller waits for one piece a worker claimed.
// Workers that just finished a job spin on `generation` for a short while (a training step
// calls several products in a row, with little work between them) before sleeping on
// `work_cv`; the caller likewise spins on `done` before sleeping on `done_cv`. Waking a
// sleeping thread costs tens of microseconds here, as much as a 256x256 product.
#define BP_SPIN_LIMIT 4000  // pause instructions, about 0.1 ms

static inline void cpu_relax(void) {
#if BP_X86
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static pthread_mutex_t pool_use = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static atomic_long generation = 0;
static _Atomic uint64_t claim = 0;             // (generation mod 2^32) << 32 | next index
static atomic_int done = 0;                    // indices of the current job finished
static int workers = 0;                        // under pool_lock
static int job_count = 0, job_threads = 0;     // under pool_lock
static long start_generation[BP_MAX_POOL];     // under pool_lock
static bp_parallel_fn job_fn = NULL;           // under pool_lock
static void *job_context = NULL;               // under pool_lock
static int job_isa = -1, job_direct = -1;      // under pool_lock: the caller's thread overrides

// Marks one index of a `count`-index job finished, waking the caller after the last one.
static void finish_index(int count) {
  if (atomic_fetch_add_explicit(&done, 1, memory_order_acq_rel) + 1 == count) {
    pthread_mutex_lock(&pool_lock);
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&pool_lock);
  }
}

// MARK: Keeping the threads apart
//
// Linux wakes a sleeping thread on the CPU of the thread that wakes it when it judges the other
// CPUs busy, and the pool's threads look busy (they spin): once a worker has run on the
// caller's CPU, later wakes can put it there again. Two threads on one CPU make a split product
// slower than one thread: the caller runs its pieces, then spins for the worker that cannot run
// meanwhile, or the worker, done, spins for the next job while the caller waits for the CPU.
// Measured on the 2-vCPU Zen 4 of BENCHMARKS.md (C driver, DGEMM 128x128x128, 2600 calls, a log
// of the CPU of each piece): a split call took 190 us there against 80 us on one thread and
// 40-60 us over both CPUs, and the adaptive split (below) then measured the split slower and
// ran the product on one thread for hundreds of calls (`backprop bench` gave 46-47 GFLOP/s in
// two of four runs, against 63-70 split).
//
// So each worker notes the CPU it wakes on for a job, and a caller that finds a worker on its
// own CPU after a job moves it: it sets the worker's affinity to the caller's own mask less the
// caller's CPU (the kernel migrates the worker at once), and the worker puts its affinity back
// at its next job, from where it now runs. One system call each way, and only when the two met;
// a machine with one allowed CPU is left alone. Same C driver, 15 runs each way alternated:
// calls with the two threads on one CPU 0-15 per run (94 in all) -> 0-3 (19), and split calls
// (the rest ran on one thread) 1574-2568 (mean 2253) -> 2155-2568 (mean 2446).
#if defined(__linux__)
static atomic_int worker_tid[BP_MAX_POOL];     // each worker's thread ID (0 until it starts)
static atomic_int worker_cpu[BP_MAX_POOL];     // 1 + the CPU it last woke on for a job (0: unknown)
static atomic_int worker_moved[BP_MAX_POOL];   // 1 while its affinity is the caller's less one CPU
static cpu_set_t worker_restore[BP_MAX_POOL];  // the affinity to put back (written before moved = 1)
static atomic_long worker_moves = 0;           // moves made (for tests)

// A worker taking a job: put back its affinity if a caller moved it, and note where it runs.
static void note_worker_cpu(int index) {
  if (atomic_load_explicit(&worker_moved[index], memory_order_acquire)) {
    sched_setaffinity(0, sizeof(cpu_set_t), &worker_restore[index]);
    atomic_store_explicit(&worker_moved[index], 0, memory_order_release);
  }
  atomic_store_explicit(&worker_cpu[index], sched_getcpu() + 1, memory_order_relaxed);
}

// Moves back off when they do not last: with more pool threads than CPUs (BACKPROP_NUM_THREADS=4
// on two CPUs) some worker always shares the caller's CPU, and 3000 DGEMM 256 calls made 146-359
// moves. A move needed again within twice the gap since the last one doubles the gap (up to
// 65536 jobs), one needed later resets it to 16: 9-10 moves, the same speed within the noise.
// (Two processes with a pool of two threads each on the two CPUs made 0-5 moves either way.)
// Under `pool_use`, like the counters.
static long pool_jobs = 0, last_move_job = -(1L << 40), move_gap = 16;

// The caller after a job on `threads` threads (holding `pool_use`): moves the workers that last
// woke on its CPU to its other allowed CPUs.
static void separate_workers(int threads) {
  pool_jobs++;
  if (pool_jobs - last_move_job < move_gap) return;
  const int me = sched_getcpu();
  if (me < 0) return;
  for (int w = 1; w < threads; w++) {
    const pid_t tid = atomic_load_explicit(&worker_tid[w], memory_order_acquire);
    if (tid == 0 || atomic_load_explicit(&worker_cpu[w], memory_order_relaxed) != me + 1 ||
        atomic_load_explicit(&worker_moved[w], memory_order_acquire))
      continue;
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return;
    worker_restore[w] = mask;
    CPU_CLR(me, &mask);
    if (CPU_COUNT(&mask) == 0) return;
    if (sched_setaffinity(tid, sizeof mask, &mask) == 0) {
      atomic_store_explicit(&worker_cpu[w], 0, memory_order_relaxed);
      atomic_store_explicit(&worker_moved[w], 1, memory_order_release);
      atomic_fetch_add_explicit(&worker_moves, 1, memory_order_relaxed);
      if (last_move_job != pool_jobs) {
        move_gap = pool_jobs - last_move_job < 2 * move_gap ? (move_gap < 65536 ? 2 * move_gap : 65536) : 16;
        last_move_job = pool_jobs;
      }
    }
  }
}
#else
static void note_worker_cpu(int index) { (void)index; }
static void separate_workers(int threads) { (void)threads; }
static atomic_long worker_moves = 0;
#endif

long bp_pool_worker_moves(void) { return atomic_load_explicit(&worker_moves, memory_order_relaxed); }

static void *worker_main(void *arg) {
  int index = (int)(size_t)arg;
#if defined(__linux__)
  atomic_store_explicit(&worker_tid[index], (int)syscall(SYS_gettid), memory_order_release);
#endif
  pthread_mutex_lock(&pool_lock);
  long seen = start_generation[index];
  pthread_mutex_unlock(&pool_lock);
  for (;;) {
    long g = atomic_load_explicit(&generation, memory_order_acquire);
    for (int spin = 0; g == seen && spin < BP_SPIN_LIMIT; spin++) {
      cpu_relax();
      g = atomic_load_explicit(&generation, memory_order_acquire);
    }
    pthread_mutex_lock(&pool_lock);
    while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen)
      pthread_cond_wait(&work_cv, &pool_lock);
    seen = g;
    bp_parallel_fn fn = job_fn;
    void *ctx = job_context;
    int count = job_count;
    int joins = index < job_threads;
    thread_isa = job_isa;
    thread_direct = job_direct;
    pthread_mutex_unlock(&pool_lock);
    if (!joins) continue;
    note_worker_cpu(index);
    const uint64_t tag = (uint64_t)(uint32_t)g << 32;
    for (;;) {  // claim indices of generation g while any is left
      uint64_t c = atomic_load_explicit(&claim, memory_order_acquire);
      if ((c & ~(uint64_t)0xffffffffu) != tag || (long)(c & 0xffffffffu) >= count) break;
      if (!atomic_compare_exchange_weak_explicit(&claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
        continue;
      fn(ctx, (int)(c & 0xffffffffu), count);
      finish_index(count);
    }
  }
  return NULL;
}

// MARK: Whether splitting pays
//
// On a machine whose other cores are busy (other processes), a split product's threads share
// their cores with those processes and wait for each other: a medium product split over two
// threads ran at 0.6x its one-thread speed here while a compiler ran on the other core, and at
// 1.5-1.9x on the idle machine. So each kind of optional split (the medium products) keeps the
// speed it measured each way, in multiply-adds per second (moving averages), and takes the faster
// way, trying the other one now and then so that the choice follows the machine's load: a burst
// of calls every 16th call, an interval that doubles (up to 1024) each time the try stays slower
// and returns to 16 when it catches up. The results are the same either way (each element is
// computed as on one thread); only time differs.
#define BP_SPLIT_KINDS 8
static _Atomic double split_rate[BP_SPLIT_KINDS][2];  // [kind][split]: 0 while unmeasured
static atomic_uint split_calls[BP_SPLIT_KINDS];
static atomic_uint split_interval[BP_SPLIT_KINDS];    // calls between tries of the slower way (0: 16)

static inline double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static atomic_int split_policy = -1;

void bp_set_split_policy(int policy) {
  atomic_store_explicit(&split_policy, policy < 0 ? -1 : (policy > 0 ? 1 : 0), memory_order_relaxed);
}

// A try of one way is a burst of SPLIT_BURST calls whose first is not measured: after a stretch
// on one thread the pool's workers are asleep, and a split that has to wake them first would
// not measure the split.
#define SPLIT_BURST 4
static atomic_int burst_left[BP_SPLIT_KINDS], burst_split[BP_SPLIT_KINDS];

static int start_burst(int kind, int split, double *start) {
  atomic_store_explicit(&burst_split[kind], split, memory_order_relaxed);
  atomic_store_explicit(&burst_left[kind], SPLIT_BURST - 1, memory_order_relaxed);
  *start = 0;  // not measured
  return split;
}

int bp_split_begin(int kind, double *start) {
  *start = now_seconds();
  if (bp_max_threads() <= 1 || kind < 0 || kind >= BP_SPLIT_KINDS) return 0;
  const int policy = atomic_load_explicit(&split_policy, memory_order_relaxed);
  if (policy >= 0) return policy;
  const int left = atomic_load_explicit(&burst_left[kind], memory_order_relaxed);
  if (left > 0) {  // within a try
    atomic_store_explicit(&burst_left[kind], left - 1, memory_order_relaxed);
    return atomic_load_explicit(&burst_split[kind], memory_order_relaxed);
  }
  const double one = atomic_load_explicit(&split_rate[kind][0], memory_order_relaxed);
  const double split = atomic_load_explicit(&split_rate[kind][1], memory_order_relaxed);
  if (split == 0) return start_burst(kind, 1, start);
  if (one == 0) return start_burst(kind, 0, start);
  const unsigned calls = atomic_fetch_add_explicit(&split_calls[kind], 1, memory_order_relaxed);
  unsigned interval = atomic_load_explicit(&split_interval[kind], memory_order_relaxed);
  if (interval == 0) interval = 16;
  const int better = split >= one;
  return calls % interval == interval - 1 ? start_burst(kind, !better, start) : better;
}

void bp_split_end(int kind, int split, double work, double start) {
  if (start <= 0 || kind < 0 || kind >= BP_SPLIT_KINDS) return;  // not measured
  const double elapsed = now_seconds() - start;
  if (elapsed <= 0) return;
  _Atomic double *mine = &split_rate[kind][split != 0], *other = &split_rate[kind][split == 0];
  const double rate = work / elapsed, old = atomic_load_explicit(mine, memory_order_relaxed);
  const double theirs = atomic_load_explicit(other, memory_order_relaxed);
  // The first measured call of a try replaces the rate instead of joining the average: the way
  // tried was last measured long ago (up to 1024 calls), perhaps in a slow spell, and a try
  // that blended three calls into that value could not catch up. (24 alternated runs of 2600
  // DGEMM 128x128x128 calls, 2 threads: runs with over a fifth of the calls on one thread 6 -> 3,
  // split calls 2167 -> 2344 on average; one run had split 36 calls of 2600 before.)
  const int first_of_try = atomic_load_explicit(&burst_left[kind], memory_order_relaxed) == SPLIT_BURST - 2;
  const double now = old == 0 || first_of_try ? rate : 0.75 * old + 0.25 * rate;
  atomic_store_explicit(mine, now, memory_order_relaxed);
  // The last call of a try of the slower way: did it catch up?
  if (atomic_load_explicit(&burst_left[kind], memory_order_relaxed) == 0 && old != 0 && theirs != 0 && old < theirs) {
    const unsigned interval = atomic_load_explicit(&split_interval[kind], memory_order_relaxed);
    const unsigned next = now >= theirs ? 16 : (interval < 16 ? 32 : (interval >= 1024 ? 1024 : 2 * interval));
    atomic_store_explicit(&split_interval[kind], next, memory_order_relaxed);
  }
}

typedef struct {
  long inner, width, blocks, total;
  int parts;
  bp_piece_fn fn;
  void *context;
} piece_job;

static void piece_part(void *context, int index, int count) {
  (void)count;
  const piece_job *j = context;
  const long p0 = j->total * index / j->parts, p1 = j->total * (index + 1) / j->parts;
  for (long p = p0; p < p1; p++) {
    const long o = p / j->blocks, l0 = (p % j->blocks) * j->width;
    j->fn(j->context, o, l0, j->inner - l0 < j->width ? j->inner - l0 : j->width);
  }
}

void bp_for_pieces(long outer, long inner, long width, double elements, double threshold, bp_piece_fn fn, void *context) {
  const long blocks = (inner + width - 1) / width, total = outer * blocks;
  if (total <= 0) return;
  piece_job job = {inner, width, blocks, total, total < 64 ? (int)total : 64, fn, context};
  if (elements >= threshold && job.parts > 1) {
    bp_parallel_for(job.parts, piece_part, &job);
  } else {
    for (int c = 0; c < job.parts; c++) piece_part(&job, c, job.parts);
  }
}

void bp_parallel_for(int count, bp_parallel_fn fn, void *context) {
  int threads = bp_max_threads();
  if (threads > count) threads = count;
  if (threads <= 1 || pthread_mutex_trylock(&pool_use) != 0) {
    for (int i = 0; i < count; i++) fn(context, i, count);
    return;
  }
  // Start workers 1..threads-1 if they do not exist yet (they live for the process).
  pthread_mutex_lock(&pool_lock);
  while (workers < threads - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    start_generation[workers + 1] = atomic_load(&generation);
    int ok = pthread_create(&t, &attr, worker_main, (void *)(size_t)(workers + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    workers++;
  }
  job_fn = fn;
  job_context = context;
  job_count = count;
  job_threads = threads;
  job_isa = thread_isa;
  job_direct = thread_direct;
  const long g = atomic_load_explicit(&generation, memory_order_relaxed) + 1;
  atomic_store_explicit(&done, 0, memory_order_relaxed);
  atomic_store_explicit(&claim, (uint64_t)(uint32_t)g << 32, memory_order_release);
  atomic_store_explicit(&generation, g, memory_order_release);
  pthread_cond_broadcast(&work_cv);
  pthread_mutex_unlock(&pool_lock);

  for (;;) {  // the caller claims indices too, those of late workers included
    const long i = (long)(atomic_fetch_add_explicit(&claim, 1, memory_order_acq_rel) & 0xffffffffu);
    if (i >= count) break;
    fn(context, (int)i, count);
    atomic_fetch_add_explicit(&done, 1, memory_order_acq_rel);
  }
  for (int spin = 0; spin < BP_SPIN_LIMIT && atomic_load_explicit(&done, memory_order_acquire) < count; spin++)
    cpu_relax();
  if (atomic_load_explicit(&done, memory_order_acquire) < count) {
    pthread_mutex_lock(&pool_lock);
    while (atomic_load_explicit(&done, memory_order_acquire) < count) pthread_cond_wait(&done_cv, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
  }
  separate_workers(threads);
  pthread_mutex_unlock(&pool_use);
}

// MARK: Scratch memory

typedef struct {
  void *pointer[BP_SCRATCH_SLOTS];
  size_t capacity[BP_SCRATCH_SLOTS];
} scratch_t;

static __thread scratch_t scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *value) {
  scratch_t *s = value;
  for (int i = 0; i < BP_SCRATCH_SLOTS; i++) {
    free(s->pointer[i]);
    s->pointer[i] = NULL;
    s->capacity[i] = 0;
  }
}

static void scratch_make_key(void) { pthread_key_create(&scratch_key, scratch_free); }

void *bp_scratch(int slot, size_t bytes) {
  if (scratch.capacity[slot] >= bytes) return scratch.pointer[slot];
  pthread_once(&scratch_once, scratch_make_key);
  free(scratch.pointer[slot]);
  size_t size = (bytes + 63) & ~(size_t)63;
  void *p = NULL;
  if (posix_memalign(&p, 64, size) != 0) p = NULL;
  scratch.pointer[slot] = p;
  scratch.capacity[slot] = p ? size : 0;
  pthread_setspecific(scratch_key, &scratch);
  return p;
}

// MARK: Huge pages for large arrays

// Large arrays are read through many pages: a 2048×2048 double matrix spans 8192 pages of 4 KiB,
// more than the second-level TLB holds, and the packing loops of a matrix product step from
// row to row. Linux backs an address range with 2 MiB pages when asked (madvise MADV_HUGEPAGE;
// transparent huge pages in "madvise" mode, as on the machine of BENCHMARKS.md, or "always"),
// as NumPy asks for every array of 4 MiB or more (`_get_madvise_hugepage()` is true in the
// NumPy 2.4.6 of the benchmarks). On the Zen 4 of BENCHMARKS.md (session 43, one thread,
// AVX-512 path, alternated runs) a 2048³ DGEMM from a C driver went from 51.1-52.2 to
// 53.6-53.9 GFLOP/s (best of 5) with its operands so advised, while OpenBLAS through NumPy,
// whose arrays are advised, read 51.9-52.4; through `backprop bench`, in a noisier spell, the
// medians of five pairs averaged 47.9 and 48.8. BACKPROP_HUGE_PAGES=0 turns it off.
static _Atomic int huge_pages_on = -1;  // -1: not read yet

int bp_advise_huge_pages(void *pointer, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < BP_HUGE_PAGE_MIN_BYTES || !bp_switch_from_env(&huge_pages_on, "BACKPROP_HUGE_PAGES")) return 0;
  // The whole pages inside the block (madvise takes a page-aligned start); the kernel backs
  // each 2 MiB-aligned stretch of them with one huge page.
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t start = ((uintptr_t)pointer + page - 1) & ~(page - 1);
  const uintptr_t end = ((uintptr_t)pointer + bytes) & ~(page - 1);
  if (end <= start) return 0;
  return madvise((void *)start, end - start, MADV_HUGEPAGE) == 0;
#else
  (void)pointer, (void)bytes;
  return 0;
#endif
}
