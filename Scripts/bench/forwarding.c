// The cost of a value kept in memory instead of a register, as the scalar program keeps its
// registers (BENCHMARKS.md, session 31): one chain of multiply-adds, in a register and through a
// volatile memory location. Build and run: clang -O2 -o /tmp/forwarding Scripts/bench/forwarding.c && /tmp/forwarding
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  const long N=200000000; volatile float m[2]={1,0}; float x=1;
  for (int rep=0; rep<3; rep++) {
  double t0=now();
  for(long i=0;i<N;i++){ x = x*1.0000001f + 1e-7f; __asm__ volatile("" : "+x"(x)); }
  double t1=now();
  for(long i=0;i<N;i++){ m[0] = m[0]*1.0000001f + 1e-7f; }
  double t2=now();
  printf("register chain %.3f ns/iter, through memory %.3f ns/iter (x=%g m=%g)\n",(t1-t0)/N*1e9,(t2-t1)/N*1e9,x,m[0]);
  }
  return 0;
}
