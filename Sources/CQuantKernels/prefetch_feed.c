// prefetch_feed.c: see include/prefetch_feed.h.

#include "prefetch_feed_internal.h"

#include <stdlib.h>

lrq_feed *lrq_feed_create(void) {
    lrq_feed *f = calloc(1, sizeof(lrq_feed));
    if (f) atomic_init(&f->next, 0);
    return f;
}

void lrq_feed_destroy(lrq_feed *f) {
    if (!f) return;
    free(f->base);
    free(f->end);
    free(f);
}

void lrq_feed_clear(lrq_feed *f) {
    f->count = 0;
    atomic_store_explicit(&f->next, 0, memory_order_relaxed);
}

int lrq_feed_add(lrq_feed *f, const void *p, int64_t bytes) {
    if (bytes <= 0) return 0;
    if (f->count == f->capacity) {
        const int64_t cap = f->capacity ? 2 * f->capacity : 64;
        const char **base = realloc(f->base, (size_t)cap * sizeof(*base));
        if (!base) return -1;
        f->base = base;
        int64_t *end = realloc(f->end, (size_t)cap * sizeof(*end));
        if (!end) return -1;
        f->end = end;
        f->capacity = cap;
    }
    const uintptr_t first = (uintptr_t)p & ~(uintptr_t)63, last = ((uintptr_t)p + (uintptr_t)bytes - 1) & ~(uintptr_t)63;
    const int64_t before = f->count ? f->end[f->count - 1] : 0;
    f->base[f->count] = (const char *)first;
    f->end[f->count] = before + (int64_t)((last - first) / 64) + 1;
    f->count++;
    return 0;
}

int64_t lrq_feed_remaining(const lrq_feed *f) {
    const int64_t total = f->count ? f->end[f->count - 1] : 0;
    const int64_t next = atomic_load_explicit(&((lrq_feed *)f)->next, memory_order_relaxed);
    return next < total ? total - next : 0;
}

lrq_feed_run lrq_feed_claim(lrq_feed *f, int64_t want) {
    lrq_feed_run run = {f, 0, 0, 0, 0};
    if (!f || want <= 0 || f->count == 0) return run;
    const int64_t total = f->end[f->count - 1];
    if (atomic_load_explicit(&f->next, memory_order_relaxed) >= total) return run;
    const int64_t a = atomic_fetch_add_explicit(&f->next, want, memory_order_relaxed);
    if (a >= total) return run;
    // The range holding line a: the first whose end exceeds it.
    int64_t lo = 0, hi = f->count - 1;
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (f->end[mid] > a) hi = mid; else lo = mid + 1;
    }
    const int64_t start = lo ? f->end[lo - 1] : 0;
    run.range = lo;
    run.at = f->base[lo] + 64 * (a - start);
    run.left_in_range = f->end[lo] - a;
    run.left = (a + want < total ? a + want : total) - a;
    return run;
}

void lrq_feed_next_range(lrq_feed_run *run) {
    const lrq_feed *f = run->feed;
    run->range++;
    run->at = f->base[run->range];
    run->left_in_range = f->end[run->range] - f->end[run->range - 1];
}

int64_t lrq_feed_take(lrq_feed *f, int64_t want, const char **out) {
    lrq_feed_run run = lrq_feed_claim(f, want);
    int64_t n = 0;
    for (const char *p; (p = lrq_feed_next(&run));) out[n++] = p;
    return n;
}
