// The floor for Backprop's fused all-reduce: plain MPI_Allreduce(MPI_SUM) of COUNT floats over
// MPI_COMM_WORLD, timed over many calls, and a ping-pong between ranks 0 and 1 for the latency
// and bandwidth of the ring all-reduce cost model (ARCHITECTURE.md). Built by bench.sh with mpicc.
//   mpiexec -n 2 ./allreduce_floor COUNT [ITERATIONS]
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

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
  return oneWay;
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
  MPI_Barrier(MPI_COMM_WORLD);
  double start = MPI_Wtime();
  for (int i = 0; i < iterations; i++) MPI_Allreduce(send, receive, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double perCall = (MPI_Wtime() - start) / iterations;
  double latency = size >= 2 ? pingpong(rank, 8, 2000) : 0;
  int big = 8 << 20;
  double large = size >= 2 ? pingpong(rank, big, 20) : 0;
  if (rank == 0) {
    printf("floor ranks=%d floats=%d bytes=%d mpi-allreduce-us=%.2f\n", size, count, count * 4, perCall * 1e6);
    if (size >= 2)
      printf("pingpong latency-us=%.2f bandwidth-GBps=%.3f (8-byte and 8 MiB one-way)\n", latency * 1e6,
             big / (large - latency) / 1e9);
  }
  free(send);
  free(receive);
  MPI_Finalize();
  return 0;
}
