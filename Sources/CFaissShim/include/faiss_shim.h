// faiss_shim.h: a thin C API over FAISS 1.7.3 (Debian's static libfaiss.a ships no C API).
//
// Handles are opaque. Every function that can fail returns FAISS_SHIM_OK (0) or
// FAISS_SHIM_ERROR, and on failure writes a NUL-terminated message (truncated to fit) into the
// caller's `error` buffer of `error_capacity` bytes. C++ exceptions never cross this boundary.
// Vectors are row-major float32; ids and counts are int64, as in FAISS.
//
// Threads: a handle is not synchronised. Concurrent `search` calls on one handle are safe in
// FAISS, but anything that mutates (train, add, set_*) must be exclusive; the Swift wrapper
// serialises every call with a lock.

#ifndef FAISS_SHIM_H
#define FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An owned faiss::Index. Free with faiss_shim_free.
typedef struct FaissShimIndex FaissShimIndex;

enum {
    FAISS_SHIM_OK = 0,
    FAISS_SHIM_ERROR = 1,
};

/// The index families the Swift layer knows how to describe.
typedef enum {
    FAISS_SHIM_KIND_OTHER = 0,  ///< any other faiss::Index subclass
    FAISS_SHIM_KIND_FLAT = 1,   ///< IndexFlat (exact search)
    FAISS_SHIM_KIND_HNSW = 2,   ///< IndexHNSWFlat
    FAISS_SHIM_KIND_IVF = 3,    ///< IndexIVFFlat
} FaissShimKind;

/// What an index is, read back from the object (e.g. after faiss_shim_read).
typedef struct {
    FaissShimKind kind;
    int metric_inner_product;  ///< 1 for METRIC_INNER_PRODUCT, 0 otherwise
    int is_trained;
    int hnsw_neighbors;        ///< M (upper layers; layer 0 holds 2M). HNSW only
    int hnsw_ef_construction;  ///< HNSW only
    int hnsw_ef_search;        ///< HNSW only
    int64_t ivf_lists;         ///< nlist. IVF only
    int64_t ivf_probes;        ///< nprobe. IVF only
} FaissShimInfo;

/// Creates an index with faiss::index_factory(dimension, description, METRIC_INNER_PRODUCT).
/// For IVF indices, FAISS's "fewer than 39 training points per list" warning (printed to
/// stderr) is switched off: a library must not print; the Swift layer documents the trade-off.
int faiss_shim_create(const char *description, int64_t dimension, FaissShimIndex **out,
                      char *error, size_t error_capacity);

/// Reads an index written by faiss_shim_write (or faiss::write_index).
int faiss_shim_read(const char *path, FaissShimIndex **out, char *error, size_t error_capacity);

/// Writes the index to `path` (created or truncated), flushed and fsync'ed before returning.
int faiss_shim_write(const FaissShimIndex *index, const char *path, char *error,
                     size_t error_capacity);

/// Frees the index. NULL is ignored.
void faiss_shim_free(FaissShimIndex *index);

/// Vectors in the index.
int64_t faiss_shim_ntotal(const FaissShimIndex *index);

/// Vector dimension.
int64_t faiss_shim_dimension(const FaissShimIndex *index);

/// 1 when the index can accept vectors (always 1 for Flat and HNSW).
int faiss_shim_is_trained(const FaissShimIndex *index);

/// Describes the index (kind, metric and tuning parameters). Never fails.
void faiss_shim_describe(const FaissShimIndex *index, FaissShimInfo *info);

/// Trains on `n` row-major vectors (`x`: [n, d]).
int faiss_shim_train(FaissShimIndex *index, int64_t n, const float *x, char *error,
                     size_t error_capacity);

/// Adds `n` row-major vectors (`x`: [n, d]); they get ids ntotal ..< ntotal + n.
int faiss_shim_add(FaissShimIndex *index, int64_t n, const float *x, char *error,
                   size_t error_capacity);

/// Searches `n` queries (`x`: [n, d]) for their top `k`: `distances` and `labels` are [n, k],
/// best first. Missing results have label -1.
int faiss_shim_search(const FaissShimIndex *index, int64_t n, const float *x, int64_t k,
                      float *distances, int64_t *labels, char *error, size_t error_capacity);

/// Like faiss_shim_search, but only ids in [id_min, id_max) are considered (one document's
/// chunks, which get contiguous ids). Works for Flat, HNSW and IVF through FAISS's IDSelectorRange.
int faiss_shim_search_range(const FaissShimIndex *index, int64_t n, const float *x, int64_t k,
                            int64_t id_min, int64_t id_max, float *distances, int64_t *labels,
                            char *error, size_t error_capacity);

/// Sets hnsw.efConstruction (effective for vectors added afterwards). Fails unless HNSW.
int faiss_shim_set_hnsw_ef_construction(FaissShimIndex *index, int value, char *error,
                                        size_t error_capacity);

/// Sets hnsw.efSearch. Fails unless HNSW.
int faiss_shim_set_hnsw_ef_search(FaissShimIndex *index, int value, char *error,
                                  size_t error_capacity);

/// Sets nprobe (clamped by FAISS to nlist at search time). Fails unless IVF.
int faiss_shim_set_ivf_probes(FaissShimIndex *index, int64_t value, char *error,
                              size_t error_capacity);

/// Sets the OpenMP thread count used by every later shim call, on whichever thread makes it
/// (OpenMP's own setting is per calling thread, so the shim re-applies it on each call).
/// add and search never use more threads than they have rows.
/// The default is 1: on a 2-core machine with the other core busy, FAISS's per-block
/// parallel regions cost milliseconds each (4-query flat searches: 0.5 ms per query with 1
/// thread, 12-20 ms with 2). 0 selects the OpenMP default (OMP_NUM_THREADS, else one per core).
void faiss_shim_set_num_threads(int count);

/// The count set by faiss_shim_set_num_threads (1 unless changed; 0 = OpenMP default).
int faiss_shim_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif  // FAISS_SHIM_H
