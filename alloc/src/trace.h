/*
 * The live statistics trace: with QUARRY_CONF=stats_interval:MS,
 * stats_file:PATH a background thread appends one JSON line every MS
 * milliseconds to PATH (time, the global figures, allocation counters,
 * per-arena active/dirty/muzzy pages and purge counts).
 * bench/trace_chart.py draws such a file as an SVG chart.
 *
 * The thread reads the statistics as stats_totals() does (one arena at a
 * time under its locks) and writes with write(2) from a fixed buffer: it
 * never allocates, so it never binds to an arena and never changes the
 * heap it reports. It is started once, at load time, outside any quarry
 * lock. A forked child has no trace (the thread does not survive fork)
 * until it calls trace_start() again, which writes to opt_stats_file as
 * it is then (a child should point it at a file of its own).
 * docs/doctor.md gives its cost.
 */
#ifndef QUARRY_TRACE_H
#define QUARRY_TRACE_H

#include "common.h"

/* Starts the thread if the options ask for it and it is not running:
 * true when it runs. Call with no quarry lock held. */
bool trace_start(void);
/* In a forked child (fork.c): no trace runs, the parent's file is closed. */
void trace_postfork_child(void);

#endif
