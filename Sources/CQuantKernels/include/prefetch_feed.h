// prefetch_feed.h: memory that a memory-bound step will read next, handed to the compute-bound
// kernels running before it, which ask for it a few cache lines at a time while they work.
//
// A batched decode step alternates compute-bound matrix products with attention, which streams
// every sequence's key/value cache from DRAM (tens of megabytes a step at batch 16) and cannot
// overlap that with its own little arithmetic. The products leave the memory bus idle. With a
// feed listing the next layer's cache rows, each product task claims a run of lines and spreads
// prefetches of them over its block loop; the lines land in L2 and, as products evict them, in
// the (victim) L3, from where attention reads them several times faster than from DRAM.
//
// Prefetches never fault and never change a result: a feed affects only speed. Claims are
// atomic, so the workers of one parallel region share a feed; ranges are added only while no
// kernel is using it (between regions).

#ifndef LONGREWARD_PREFETCH_FEED_H
#define LONGREWARD_PREFETCH_FEED_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An ordered list of byte ranges and a cursor over their 64-byte lines.
typedef struct lrq_feed lrq_feed;

/// A new, empty feed (NULL when out of memory).
lrq_feed *lrq_feed_create(void);

/// Frees a feed.
void lrq_feed_destroy(lrq_feed *feed);

/// Forgets every range and rewinds the cursor.
void lrq_feed_clear(lrq_feed *feed);

/// Appends the lines covering [p, p + bytes) (nothing for bytes <= 0). Returns 0, or -1 when out
/// of memory (the feed is then unchanged).
int lrq_feed_add(lrq_feed *feed, const void *p, int64_t bytes);

/// Lines not yet claimed.
int64_t lrq_feed_remaining(const lrq_feed *feed);

/// Claims up to count lines (in order) and writes their addresses to out; returns how many.
int64_t lrq_feed_take(lrq_feed *feed, int64_t count, const char **out);

#ifdef __cplusplus
}
#endif

#endif
