// The blocked, packed matrix product, instantiated by gemm.c for each element type and register
// tile (float and double; the 6-row tiles of the portable and AVX2 kernels and the 8- and 12-row
// tiles of the AVX-512 ones).
// Parameters (macros): T, NAME(x) (prefixes a name), MR, NR, BLOCKING (the gemm_blocking
// variable of this tile: KC, MC and NC), UKR_FN (the micro-kernel pointer type for T),
// PORTABLE_UKR (define to also instantiate the plain-C micro-kernel for this tile). All but T
// and UKR_FN are undefined at the end, for the next instance.
//
// Layout: op(A) is m×k with element (i, p) at a[i*rsa + p*csa]; op(B) is k×n with element
// (p, j) at b[p*rsb + j*csb]. C is m×n with row stride ldc.
//
// Loops (Goto's algorithm): columns in blocks of NC, depth in blocks of KC (B's block packed
// into NR-wide panels), rows in blocks of MC (A's block packed into MR-tall panels), then an
// MR×NR register tile for every pair of panels. With few columns of C to reuse its panels, A
// is read in place instead (`a_in_place`).

#define KC (BLOCKING.kc)
#define MC (BLOCKING.mc)
#define NC (BLOCKING.nc)

// Packs rows [0, mc) × depth [0, kc) of op(A) into MR-tall panels, zero-padded.
static void NAME(pack_a)(long mc, long kc, const T *a, long rsa, long csa, T *restrict buf) {
  for (long ir = 0; ir < mc; ir += MR) {
    long mr = mc - ir < MR ? mc - ir : MR;
    const T *src = a + ir * rsa;
    if (csa == 1 && mr == MR) {
      for (long p = 0; p < kc; p++)
        for (long i = 0; i < MR; i++) buf[p * MR + i] = src[i * rsa + p];
    } else if (rsa == 1 && mr == MR) {
      for (long p = 0; p < kc; p++)
        for (long i = 0; i < MR; i++) buf[p * MR + i] = src[p * csa + i];
    } else {
      for (long p = 0; p < kc; p++)
        for (long i = 0; i < MR; i++) buf[p * MR + i] = i < mr ? src[i * rsa + p * csa] : (T)0;
    }
    buf += MR * kc;
  }
}

// Packs depth [0, kc) × columns [0, nc) of op(B) into NR-wide panels, zero-padded.
static void NAME(pack_b)(long kc, long nc, const T *b, long rsb, long csb, T *restrict buf) {
  for (long jr = 0; jr < nc; jr += NR) {
    long nr = nc - jr < NR ? nc - jr : NR;
    const T *src = b + jr * csb;
    if (csb == 1 && nr == NR) {
      for (long p = 0; p < kc; p++)
        for (long j = 0; j < NR; j++) buf[p * NR + j] = src[p * rsb + j];
    } else if (rsb == 1 && nr == NR) {
      for (long j = 0; j < NR; j++)
        for (long p = 0; p < kc; p++) buf[p * NR + j] = src[j * csb + p];
    } else {
      for (long p = 0; p < kc; p++)
        for (long j = 0; j < NR; j++) buf[p * NR + j] = j < nr ? src[p * rsb + j * csb] : (T)0;
    }
    buf += NR * kc;
  }
}

#ifdef PORTABLE_UKR
// The portable micro-kernel: c[MR×NR] (row stride ldc) = (accumulate ? c : 0) + a·b, with
// element (i, p) of the A panel at a[i·ars + p·acs] (ars 1 and acs MR when packed).
static void NAME(ukr_portable)(long kc, const T *restrict a, long ars, long acs, const T *restrict b, T *restrict c,
                               long ldc, int accumulate) {
  T t[MR * NR];
  for (int x = 0; x < MR * NR; x++) t[x] = 0;
  for (long p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++) {
      T ai = a[i * ars + p * acs];
      for (int j = 0; j < NR; j++) t[i * NR + j] += ai * b[p * NR + j];
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + t[i * NR + j] : t[i * NR + j];
}
#endif

// Whether the packed path reads op(A) in place: one of its strides 1 (A transposed, or A's
// rows contiguous) and at most four column panels of B to reuse each panel of A, too few to
// repay its packing. (288x15488 by 15488x64 with A transposed, the example CNN's filter
// gradient: packing A took a quarter of the time with a 6x16 tile.)
static int NAME(a_in_place)(long rsa, long csa, long n) { return (rsa == 1 || csa == 1) && n <= 4 * NR; }

// Packs the rows of op(A) the tiles do not read in place: all of them (`in_place` 0), or only
// the last panel when it is short (the tiles read the full panels in place).
static void NAME(pack_a_for)(int in_place, long mc, long kc, const T *a, long rsa, long csa, T *restrict buf) {
  if (!in_place) NAME(pack_a)(mc, kc, a, rsa, csa, buf);
  else if (mc % MR) NAME(pack_a)(mc % MR, kc, a + mc / MR * MR * rsa, rsa, csa, buf);
}

// One register tile: C[mr×nr] (+)= the A panel (element (i, p) at ap[i·ars + p·acs]) · the B
// panel, depth kc; a tile short of MR rows or NR columns goes through a local tile.
static inline void NAME(tile)(UKR_FN ukr, long mr, long nr, long kc, const T *ap, long ars, long acs, const T *bp,
                              T *c, long ldc, int accumulate) {
  if (mr == MR && nr == NR) {
    ukr(kc, ap, ars, acs, bp, c, ldc, accumulate);
    return;
  }
  T tile[MR * NR];
  ukr(kc, ap, ars, acs, bp, tile, NR, 0);
  for (long i = 0; i < mr; i++)
    for (long j = 0; j < nr; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
}

// C[mc×nc] (+)= the packed A block (MR-tall panels) · the packed B block (NR-wide panels), depth
// kc: one register tile for every pair of panels, B's panel outermost (it stays in L1).
static void NAME(tiles)(UKR_FN ukr, long mc, long nc, long kc, const T *abuf, const T *bbuf, T *c, long ldc,
                        int accumulate) {
  for (long jr = 0; jr < nc; jr += NR)
    for (long ir = 0; ir < mc; ir += MR)
      NAME(tile)(ukr, mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, kc, abuf + ir * kc, 1, MR,
                 bbuf + jr * kc, c + ir * ldc + jr, ldc, accumulate);
}

// Asks for share `q` of `shares` of an A panel read in place (element (i, p) at
// a[i·rsa + p·csa], depth kc). A transposed A (rsa 1): the panel starts where the one before
// it ends, so of each depth only the line of its last value can be new. Rows contiguous
// (csa 1): the lines of each row.
static inline void NAME(prefetch_panel)(const T *a, long rsa, long csa, long kc, long q, long shares) {
  if (rsa == 1) {
    for (long p = kc * q / shares; p < kc * (q + 1) / shares; p++) __builtin_prefetch(a + p * csa + MR - 1, 0, 3);
  } else {
    const long per = 64 / (long)sizeof(T), lines = (kc + per - 1) / per + 1;  // a row's lines, at most
    for (long l = MR * lines * q / shares; l < MR * lines * (q + 1) / shares; l++)
      __builtin_prefetch(a + l / lines * rsa + l % lines * per, 0, 3);
  }
}

// The same with the A block read in place (`a_in_place`: element (i, p) at ain[i·rsa + p·csa])
// but for a short last panel, packed alone at `abuf`. A's panel is outermost: it comes from
// memory once and stays in L1 for its few tiles, while the packed B block comes from L2. Each
// tile also asks for a share of the next panel (`prefetch_panel`).
static void NAME(tiles_in_place)(UKR_FN ukr, long mc, long nc, long kc, const T *ain, long rsa, long csa,
                                 const T *abuf, const T *bbuf, T *c, long ldc, int accumulate) {
  const long panels = (nc + NR - 1) / NR;
  for (long ir = 0; ir < mc; ir += MR) {
    const long mr = mc - ir < MR ? mc - ir : MR;
    const T *ap = ain + ir * rsa;
    for (long jr = 0, q = 0; jr < nc; jr += NR, q++) {
      if (ir + 2 * MR <= mc) NAME(prefetch_panel)(ap + MR * rsa, rsa, csa, kc, q, panels);
      if (mr == MR) NAME(tile)(ukr, MR, nc - jr < NR ? nc - jr : NR, kc, ap, rsa, csa, bbuf + jr * kc, c + ir * ldc + jr, ldc, accumulate);
      else NAME(tile)(ukr, mr, nc - jr < NR ? nc - jr : NR, kc, abuf, 1, MR, bbuf + jr * kc, c + ir * ldc + jr, ldc, accumulate);
    }
  }
}

// One block of rows: C[mc×nc] (+)= the rows of op(A) at `ablock` (depth kc) · the packed B
// block, A packed into `abuf` first (all of it, or only a short last panel when `in_place`).
static void NAME(block)(UKR_FN ukr, int in_place, long mc, long nc, long kc, const T *ablock, long rsa, long csa,
                        T *abuf, const T *bbuf, T *c, long ldc, int accumulate) {
  NAME(pack_a_for)(in_place, mc, kc, ablock, rsa, csa, abuf);
  if (in_place) NAME(tiles_in_place)(ukr, mc, nc, kc, ablock, rsa, csa, abuf, bbuf, c, ldc, accumulate);
  else NAME(tiles)(ukr, mc, nc, kc, abuf, bbuf, c, ldc, accumulate);
}

// C[m0..<m1, n0..<n1] (+)= op(A)·op(B), unblocked: when there is no memory for packing.
static void NAME(unpacked)(long m0, long m1, long n0, long n1, long k, const T *a, long rsa, long csa, const T *b,
                           long rsb, long csb, int overwrite, T *c, long ldc) {
  for (long i = m0; i < m1; i++)
    for (long j = n0; j < n1; j++) {
      T s = 0;
      for (long p = 0; p < k; p++) s += a[i * rsa + p * csa] * b[p * rsb + j * csb];
      c[i * ldc + j] = overwrite ? s : c[i * ldc + j] + s;
    }
}

// C[m0..<m1, n0..<n1] (+)= op(A)·op(B) with the blocked loops; `overwrite`: beta = 0.
static void NAME(blocked)(UKR_FN ukr, long m0, long m1, long n0, long n1, long k, const T *a, long rsa,
                          long csa, const T *b, long rsb, long csb, int overwrite, T *c, long ldc) {
  long kcmax = k < KC ? k : KC;
  long ncmax = n1 - n0 < NC ? n1 - n0 : NC;
  long mcmax = m1 - m0 < MC ? m1 - m0 : MC;
  const int in_place = NAME(a_in_place)(rsa, csa, n1 - n0);
  T *bbuf = bp_scratch(0, sizeof(T) * (size_t)kcmax * (size_t)((ncmax + NR - 1) / NR * NR));
  T *abuf = bp_scratch(1, sizeof(T) * (size_t)kcmax * (size_t)((mcmax + MR - 1) / MR * MR));
  if (!bbuf || !abuf) {
    NAME(unpacked)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);
    return;
  }
  for (long jc = n0; jc < n1; jc += NC) {
    long nc = n1 - jc < NC ? n1 - jc : NC;
    for (long pc = 0; pc < k; pc += KC) {
      long kc = k - pc < KC ? k - pc : KC;
      int accumulate = !(overwrite && pc == 0);
      NAME(pack_b)(kc, nc, b + pc * rsb + jc * csb, rsb, csb, bbuf);
      for (long ic = m0; ic < m1; ic += MC) {
        long mc = m1 - ic < MC ? m1 - ic : MC;
        NAME(block)(ukr, in_place, mc, nc, kc, a + ic * rsa + pc * csa, rsa, csa, abuf, bbuf, c + ic * ldc + jc, ldc,
                    accumulate);
      }
    }
  }
}

typedef struct {
  UKR_FN ukr;
  long m, n, k, rsa, csa, rsb, csb, ldc;
  const T *a, *b;
  T *c;
  int overwrite, split_columns;
} NAME(job);

static void NAME(run_part)(void *context, int index, int count) {
  NAME(job) *j = context;
  if (j->split_columns) {
    long panels = (j->n + NR - 1) / NR;
    long n0 = panels * index / count * NR, n1 = panels * (index + 1) / count * NR;
    if (n1 > j->n) n1 = j->n;
    if (n0 < n1)
      NAME(blocked)(j->ukr, 0, j->m, n0, n1, j->k, j->a, j->rsa, j->csa, j->b, j->rsb, j->csb, j->overwrite, j->c, j->ldc);
  } else {
    long panels = (j->m + MR - 1) / MR;
    long m0 = panels * index / count * MR, m1 = panels * (index + 1) / count * MR;
    if (m1 > j->m) m1 = j->m;
    if (m0 < m1)
      NAME(blocked)(j->ukr, m0, m1, 0, j->n, j->k, j->a, j->rsa, j->csa, j->b, j->rsb, j->csb, j->overwrite, j->c, j->ldc);
  }
}

// One block of B (depth kc, columns nc) shared by the threads, packed once (`bbuf`), or packed
// by each thread into its own scratch (`copy`: the block's number, see gemm.c's `own_b_call`):
// each piece packs and multiplies its own rows of A.
typedef struct {
  UKR_FN ukr;
  long m, nc, kc, rsa, csa, rsb, csb, ldc;
  long rows;                      // the most rows a piece packs at once (MC, whole panels)
  const long *bounds;             // piece i: panels [bounds[i], bounds[i + 1])
  const T *a, *b, *bbuf;          // a, b: op(A) and op(B) at the block's depth and columns
  T *c;                           // c: C at the block's first column
  int accumulate, in_place;       // in_place: op(A) read in place (`a_in_place`)
  long copy;                      // 0: B packed in bbuf; else each thread packs its own
} NAME(shared_job);

static void NAME(shared_piece)(void *context, int index, int count) {
  (void)count;
  NAME(shared_job) *j = context;
  const T *bbuf = j->bbuf;
  if (j->copy) {  // this thread's own packed B, packed by its first piece of the block
    T *own = bp_scratch(0, sizeof(T) * (size_t)j->kc * (size_t)((j->nc + NR - 1) / NR * NR));
    if (own && own_b_held != j->copy) {
      NAME(pack_b)(j->kc, j->nc, j->b, j->rsb, j->csb, own);
      own_b_held = j->copy;
    }
    bbuf = own;
  }
  const long stop = j->bounds[index + 1] * MR < j->m ? j->bounds[index + 1] * MR : j->m;
  for (long m0 = j->bounds[index] * MR; m0 < stop; m0 += j->rows) {  // at most MC rows packed at once
    const long m1 = m0 + j->rows < stop ? m0 + j->rows : stop;
    T *abuf = bp_scratch(1, sizeof(T) * (size_t)j->kc * (size_t)j->rows);
    if (!abuf || !bbuf) {  // out of memory for packing: the block unblocked
      NAME(unpacked)(m0, m1, 0, j->nc, j->kc, j->a, j->rsa, j->csa, j->b, j->rsb, j->csb, !j->accumulate, j->c, j->ldc);
      continue;
    }
    NAME(block)(j->ukr, j->in_place, m1 - m0, j->nc, j->kc, j->a + m0 * j->rsa, j->rsa, j->csa, abuf, bbuf,
                j->c + m0 * j->ldc, j->ldc, j->accumulate);
  }
}

// Columns [index·step, (index+1)·step) of one block of B packed into their panels of the shared
// buffer (`step` a multiple of NR): the threads pack a large product's B together.
typedef struct {
  long kc, nc, rsb, csb, step;
  const T *b;
  T *bbuf;
} NAME(pack_job);

static void NAME(pack_piece)(void *context, int index, int count) {
  (void)count;
  const NAME(pack_job) *j = context;
  const long j0 = index * j->step, j1 = j0 + j->step < j->nc ? j0 + j->step : j->nc;
  if (j0 < j1) NAME(pack_b)(j->kc, j1 - j0, j->b + j0 * j->csb, j->rsb, j->csb, j->bbuf + j0 * j->kc);
}

// The blocked loops with each block of B packed and the rows of A claimed in pieces by
// `threads` threads. Medium products (`large` 0), and large ones whose packed block of B fills
// at most half of L2: each thread packs the whole block for itself (gemm.c's `own_b_call`:
// packing it twice on two cores costs less than moving one packed copy from one core's caches
// to the other's). Larger blocks (session 25): the threads pack B's panels together and share
// them. (On the Zen 4 of BENCHMARKS.md, 2 threads, 1 MiB of L2: a copy per thread measured 5%
// faster at 256³, float and double, 2% at 512³ float, a 512 KiB block; 0.5% slower at 512³
// double and 1% at 1024³ float, blocks of 2 and 1 MiB.) Either way the threads then claim pieces of
// rows that shrink towards the end (`gemm_shared_pieces`), so that a thread the machine slows
// down takes fewer pieces instead of holding up the product (with one half of the rows each,
// the product waited for the slower half), and neither waits long for the other's last piece.
// Every element is computed as in `blocked`, so the bits do not depend on the split. Returns 0
// (nothing done) when there is no memory for packing.
static int NAME(shared)(UKR_FN ukr, int threads, int large, long m, long n, long k, const T *a, long rsa,
                        long csa, const T *b, long rsb, long csb, int overwrite, T *c, long ldc) {
  const long kcmax = k < KC ? k : KC, ncmax = n < NC ? n : NC;
  T *bbuf = bp_scratch(0, sizeof(T) * (size_t)kcmax * (size_t)((ncmax + NR - 1) / NR * NR));
  if (!bbuf) return 0;
  long bounds[GEMM_SHARED_PIECES + 1];
  const long most = MC / MR > 0 ? MC / MR : 1;  // panels per piece packed at once
  const int pieces = gemm_shared_pieces((m + MR - 1) / MR, most, threads, bounds);
  const long rows = most * MR;
  const long l2 = cache_sizes[1] > 0 ? cache_sizes[1] : 512L << 10;
  const int own = !large || (long)sizeof(T) * kcmax * ((ncmax + NR - 1) / NR * NR) <= l2 / 2;
  for (long jc = 0; jc < n; jc += NC) {
    const long nc = n - jc < NC ? n - jc : NC;
    for (long pc = 0; pc < k; pc += KC) {
      const long kc = k - pc < KC ? k - pc : KC;
      if (!own) {  // B's panels packed by the threads together, two pieces per thread
        const long bpanels = (nc + NR - 1) / NR, bstep = (bpanels + 2 * threads - 1) / (2 * threads) * NR;
        NAME(pack_job) pj = {kc, nc, rsb, csb, bstep, b + pc * rsb + jc * csb, bbuf};
        bp_parallel_for((int)((nc + bstep - 1) / bstep), NAME(pack_piece), &pj);
      }
      NAME(shared_job) job = {ukr, m, nc, kc, rsa, csa, rsb, csb, ldc, rows, bounds, a + pc * csa,
                              b + pc * rsb + jc * csb, bbuf, c + jc, !(overwrite && pc == 0),
                              NAME(a_in_place)(rsa, csa, n), own ? own_b_call() : 0};
      bp_parallel_for((int)pieces, NAME(shared_piece), &job);
    }
  }
  return 1;
}

// C (+)= op(A)·op(B) on the packed path with micro-kernel `ukr`, split over the pool's threads
// when the product is large enough (`work` multiply-adds): from THREAD_WORK the threads pack
// each block of B together and share it, claiming pieces of rows (`shared`, when there are rows
// for eight pieces per thread; otherwise each thread packs its own part of B); from
// SHARED_WORK (medium products, at least four tiles of rows) the caller packs each block of B
// and the threads share it, when that measures faster. `overwrite`: beta = 0.
static void NAME(packed)(UKR_FN ukr, long m, long n, long k, const T *a, long rsa, long csa, const T *b,
                         long rsb, long csb, int overwrite, T *c, long ldc) {
  NAME(job) job = {ukr, m, n, k, rsa, csa, rsb, csb, ldc, a, b, c, overwrite, 1};
  int threads = bp_max_threads();
  const double work = (double)m * (double)n * (double)k;
  if (threads > 1 && work < THREAD_WORK) {
    double start = 0;
    const int kind = sizeof(T) == sizeof(double) ? BP_SPLIT_DGEMM : BP_SPLIT_SGEMM;
    if (work >= SHARED_WORK && m >= 4 * MR) {
      const int split = bp_split_begin(kind, &start);
      if (split ? NAME(shared)(ukr, threads, 0, m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc)
                : (NAME(run_part)(&job, 0, 1), 1)) {
        bp_split_end(kind, split, work, start);
        return;
      }
    }
    threads = 1;
  }
  // A large product with rows for at least eight pieces per thread: one packed B shared by the
  // threads, who pack it together and claim its rows in pieces (`shared`).
  if (threads > 1 && (m + MR - 1) / MR >= 8L * threads &&
      NAME(shared)(ukr, threads, 1, m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc))
    return;
  // Otherwise split the longer side; never give a thread less than one panel.
  job.split_columns = (n / NR) >= (m / MR);
  long panels = job.split_columns ? (n + NR - 1) / NR : (m + MR - 1) / MR;
  if (threads > panels) threads = (int)panels;
  if (threads <= 1) {
    NAME(run_part)(&job, 0, 1);
  } else {
    bp_parallel_for(threads, NAME(run_part), &job);
  }
}

#undef KC
#undef MC
#undef NC
#undef NAME
#undef MR
#undef NR
#undef BLOCKING
#undef PORTABLE_UKR
