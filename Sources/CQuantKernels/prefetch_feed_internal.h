// prefetch_feed_internal.h: the feed's layout and the kernels' cursor over claimed lines
// (private to CQuantKernels).

#ifndef LONGREWARD_PREFETCH_FEED_INTERNAL_H
#define LONGREWARD_PREFETCH_FEED_INTERNAL_H

#include "prefetch_feed.h"

#include <stdatomic.h>

struct lrq_feed {
    const char **base;     // per range: its first line's address
    int64_t *end;          // per range: lines in it and in every range before it
    int64_t count, capacity;
    _Atomic int64_t next;  // first line not yet claimed
};

/// A run of claimed lines, walked in order: the next line's address and how many lines follow
/// it in its range (so that a step is an add and a compare).
typedef struct {
    const lrq_feed *feed;
    const char *at;
    int64_t left_in_range, left, range;
} lrq_feed_run;

/// Claims up to `want` lines as one run (one atomic add; empty when the feed is NULL or spent).
lrq_feed_run lrq_feed_claim(lrq_feed *feed, int64_t want);

/// Moves a run to its next range (its current one is used up).
void lrq_feed_next_range(lrq_feed_run *run);

/// The run's next line, or NULL when it is used up.
static inline const char *lrq_feed_next(lrq_feed_run *run) {
    if (run->left <= 0) return 0;
    if (run->left_in_range == 0) lrq_feed_next_range(run);
    run->left--;
    run->left_in_range--;
    const char *p = run->at;
    run->at += 64;
    return p;
}

/// Prefetches (into L2) up to `lines` of the run's next lines.
static inline void lrq_feed_prefetch(lrq_feed_run *run, int64_t lines) {
    for (int64_t k = 0; k < lines; k++) {
        const char *line = lrq_feed_next(run);
        if (!line) return;
        __builtin_prefetch(line, 0, 2);
    }
}

#endif
