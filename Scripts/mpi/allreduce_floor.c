// The floor for Backprop's fused all-reduce: plain MPI_Allreduce(MPI_SUM) of COUNT floats over
// MPI_COMM_WORLD, timed over many calls, and a ping-pong between ranks 0 and 1 for the latency
// and bandwidth of the ring all-reduce cost model (ARCHITECTURE.md). Built by bench.sh with mpicc.
//   mpiexec -n 2 ./allreduce_floor COUNT [ITERATIONS]
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// One timing: the caller's figure for one repetition, agreed across ranks (the slowest).
static double agreed(double t) {
  double worst;
  MPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

static double pingpong(int rank, int bytes, int iterations) {
  char *buffer = calloc((size_t)bytes + 1, 1);
  MPI_Barrier(MPI_COMM_WORLD);
  double start = MPI_Wtime();
  for (int i = 0; i < iterations; i++) {
    if (rank == 0) {
      MPI_Send(buffer, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(buffer, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buffer, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buffer, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
  }
  double oneWay = (MPI_Wtime() - start) / (2.0 * iterations);
  free(buffer);
  return agreed(oneWay);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int count = argc > 1 ? atoi(argv[1]) : 9610;
  int iterations = argc > 2 ? atoi(argv[2]) : 2000;
  float *send = malloc(sizeof(float) * (size_t)count), *receive = malloc(sizeof(float) * (size_t)count);
  for (int i = 0; i < count; i++) send[i] = (float)(rank + i);
  for (int i = 0; i < 50; i++) MPI_Allreduce(send, receive, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  // 25 repetitions of `iterations / 25` calls: the median and the best repetition (this
  // machine is shared, so the best is the floor and the median what a step meets).
  enum { REPS = 25 };
  double calls[REPS], small[REPS], large[REPS];
  int per = iterations / REPS > 0 ? iterations / REPS : 1;
  int big = 8 << 20;
  for (int k = 0; k < REPS; k++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (int i = 0; i < per; i++) MPI_Allreduce(send, receive, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    calls[k] = agreed((MPI_Wtime() - start) / per);
    small[k] = size >= 2 ? pingpong(rank, 8, 100) : 0;
    large[k] = size >= 2 ? pingpong(rank, big, 2) : 0;
  }
  qsort(calls, REPS, sizeof(double), compare);
  qsort(small, REPS, sizeof(double), compare);
  qsort(large, REPS, sizeof(double), compare);
  if (rank == 0) {
    printf("floor ranks=%d floats=%d bytes=%d mpi-allreduce-us median=%.2f best=%.2f\n", size, count, count * 4,
           calls[REPS / 2] * 1e6, calls[0] * 1e6);
    if (size >= 2)
      printf("pingpong one-way latency-us median=%.2f best=%.2f; 8 MiB bandwidth-GBps median=%.3f best=%.3f\n",
             small[REPS / 2] * 1e6, small[0] * 1e6, big / large[REPS / 2] / 1e9, big / large[0] / 1e9);
  }
  free(send);
  free(receive);
  MPI_Finalize();
  return 0;
}
