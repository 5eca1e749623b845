/* Thread synchronisation of minisam's online kernel (one barrier per training step). */
#ifndef MINISAM_MS_BARRIER_H
#define MINISAM_MS_BARRIER_H

#include "ms_platform.h"

/* A sense-reversing barrier for the n threads of a parallel region. OpenMP's own barrier
   makes a futex system call every time, which costs more than a whole online step of a
   small map. Waiting threads spin, then yield the CPU once the wait gets long (so that
   more threads than cores still make progress). */
typedef struct { int count; char pad1[60]; int sense; char pad2[60]; } ms_barrier_t;

static void ms_barrier_wait(ms_barrier_t *bar, int *local_sense, int n) {
    if (n <= 1) return;
    int sense = !*local_sense;
    *local_sense = sense;
    if (__atomic_add_fetch(&bar->count, 1, __ATOMIC_ACQ_REL) == n) {
        __atomic_store_n(&bar->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&bar->sense, sense, __ATOMIC_RELEASE);
    } else {
        long spins = 0;
        while (__atomic_load_n(&bar->sense, __ATOMIC_ACQUIRE) != sense) {
            if (++spins < 256) {  /* a few microseconds */
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            } else {
                ms_yield();
            }
        }
    }
}

#endif  /* MINISAM_MS_BARRIER_H */
