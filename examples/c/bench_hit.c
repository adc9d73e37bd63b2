/* The embedded hit from C (#20 point 7): sutra_cache_get of a 3,072-byte blob over 10k random
 * keys into the caller's buffer, median over batches of 1,000 random keys of the time per call
 * (the thread's CPU time and the wall time), one JSON line. bindings/python/bench/
 * bench_hit_runs.py --c-bin runs it in fresh processes beside the Python figure.
 *
 *   gcc -O2 -o bench_hit examples/c/bench_hit.c $(pkg-config --cflags --libs sutra_cache) -lm
 *   ./bench_hit [entries] [batches]
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sutra_cache.h"

#define VALUE 3072
#define BATCH 1000

static double now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { /* xorshift64 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  int entries = argc > 1 ? atoi(argv[1]) : 10000;
  int batches = argc > 2 ? atoi(argv[2]) : 200;
  if (entries <= 0 || batches <= 0) {
    fprintf(stderr, "usage: bench_hit [entries > 0] [batches > 0]\n");
    return 2;
  }
  rng ^= (uint64_t)now_ns(CLOCK_MONOTONIC);
  struct sutra_error err;
  struct sutra_options o;
  sutra_options_init(&o);
  o.active_expire_interval_ms = 0;
  struct sutra_cache *c = NULL;
  if (sutra_cache_open(NULL, &o, &c, &err) != SUTRA_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  char(*keys)[16] = malloc((size_t)entries * 16);
  uint8_t *value = malloc(VALUE), *out = malloc(VALUE);
  int *pick = malloc(BATCH * sizeof(int));
  double *cpu = malloc((size_t)batches * sizeof(double));
  double *wall = malloc((size_t)batches * sizeof(double));
  for (int i = 0; i < entries; i++) {
    snprintf(keys[i], 16, "emb:%08d", i);
    for (int j = 0; j < VALUE; j++) value[j] = (uint8_t)next();
    bool written;
    if (sutra_cache_set(c, (const uint8_t *)keys[i], strlen(keys[i]), value, VALUE,
                        SUTRA_TTL_DEFAULT, 0, &written, &err) != SUTRA_OK) {
      fprintf(stderr, "set: %s\n", err.message);
      return 1;
    }
  }
  size_t len;
  bool found;
  long misses = 0;
  for (int b = 0; b < batches; b++) {
    for (int i = 0; i < BATCH; i++) pick[i] = (int)(next() % (uint64_t)entries);
    double w = now_ns(CLOCK_MONOTONIC), t = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < BATCH; i++) {
      const char *k = keys[pick[i]];
      sutra_cache_get(c, (const uint8_t *)k, 12, out, VALUE, &len, &found, &err);
      misses += !found;
    }
    cpu[b] = (now_ns(CLOCK_THREAD_CPUTIME_ID) - t) / BATCH;
    wall[b] = (now_ns(CLOCK_MONOTONIC) - w) / BATCH;
  }
  qsort(cpu, (size_t)batches, sizeof(double), cmp);
  qsort(wall, (size_t)batches, sizeof(double), cmp);
  printf("{\"path\": \"c\", \"median_ns\": %.1f, \"wall_median_ns\": %.1f, \"misses\": %ld}\n",
         cpu[batches / 2], wall[batches / 2], misses);
  sutra_cache_close(c, &err);
  free(keys), free(value), free(out), free(pick), free(cpu), free(wall);
  return misses != 0;
}
