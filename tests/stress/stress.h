/*
 * The phases of the stress program (stress_main.c runs them in order).
 */
#ifndef STRESS_H
#define STRESS_H

#include <stdint.h>

/* `threads` long-lived threads, `iters` operations each, with cross-thread
 * frees and barrier-synchronised whole-heap checks. */
void run_steady(unsigned threads, unsigned long iters, uint64_t seed);

/* `total` short-lived threads, a few at a time, whose blocks outlive them
 * and who free blocks allocated by threads that have already exited. */
void run_churn(unsigned total, uint64_t seed);

#endif /* STRESS_H */
