// faiss_shim.cpp: the C API of faiss_shim.h over FAISS 1.7.3's C++ classes.
//
// Each entry point runs its body inside `guarded`, which turns any C++ exception
// (faiss::FaissException, std::bad_alloc, ...) into FAISS_SHIM_ERROR plus a message in the
// caller's buffer. Nothing here prints.

#include "faiss_shim.h"

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>

struct FaissShimIndex {
    std::unique_ptr<faiss::Index> index;
};

namespace {

// 1 by default; 0 = OpenMP default. See faiss_shim_set_num_threads.
std::atomic<int> requested_threads{1};
// OpenMP's default, captured once at load time (OMP_NUM_THREADS, else the core count).
const int default_threads = omp_get_max_threads();

// FAISS answers fewer than `distance_compute_blas_threshold` (20) queries on a flat index (or
// an IVF coarse quantizer) with its scalar reference loop, which Debian builds without SIMD:
// 2.9 ms per query against 10k x 384 vectors, versus 0.44 ms through BLAS. Route every batch
// through BLAS. Set once, before any search; libfaiss.a is linked statically, so this global
// belongs to the shim alone.
const bool blas_for_small_batches = [] {
    faiss::distance_compute_blas_threshold = 1;
    return true;
}();

void apply_threads() {
    int n = requested_threads.load(std::memory_order_relaxed);
    omp_set_num_threads(n > 0 ? n : default_threads);
}

// FAISS parallelises add and search across vectors or queries: more threads than rows only
// adds fork/join cost (a single HNSW query took 9 ms with 2 threads on a busy machine,
// 0.6 ms with 1).
void limit_threads(int64_t rows) {
    if (rows < omp_get_max_threads()) omp_set_num_threads(rows > 1 ? static_cast<int>(rows) : 1);
}

void write_error(char *error, size_t capacity, const char *message) {
    if (error == nullptr || capacity == 0) return;
    std::snprintf(error, capacity, "%s", message);
}

/// Runs `body`, mapping exceptions to FAISS_SHIM_ERROR with a message.
template <typename Body>
int guarded(char *error, size_t capacity, Body body) {
    try {
        apply_threads();
        body();
        return FAISS_SHIM_OK;
    } catch (const std::exception &e) {
        write_error(error, capacity, e.what());
    } catch (...) {
        write_error(error, capacity, "unknown C++ exception");
    }
    return FAISS_SHIM_ERROR;
}

[[noreturn]] void fail(const std::string &message) { throw std::runtime_error(message); }

faiss::IndexHNSW *as_hnsw(FaissShimIndex *handle) {
    auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(handle->index.get());
    if (hnsw == nullptr) fail("not an HNSW index");
    return hnsw;
}

}  // namespace

extern "C" {

int faiss_shim_create(const char *description, int64_t dimension, FaissShimIndex **out,
                      char *error, size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        if (dimension <= 0 || dimension > INT32_MAX) fail("dimension out of range");
        std::unique_ptr<faiss::Index> index(faiss::index_factory(
            static_cast<int>(dimension), description, faiss::METRIC_INNER_PRODUCT));
        if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(index.get())) {
            // k-means needs at least one point per list; below 39 per list FAISS only warns
            // (on stderr). Silence the warning; the caller owns the trade-off.
            ivf->cp.min_points_per_centroid = 1;
        }
        *out = new FaissShimIndex{std::move(index)};
    });
}

int faiss_shim_read(const char *path, FaissShimIndex **out, char *error, size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        std::unique_ptr<faiss::Index> index(faiss::read_index(path));
        *out = new FaissShimIndex{std::move(index)};
    });
}

int faiss_shim_write(const FaissShimIndex *handle, const char *path, char *error,
                     size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        FILE *file = std::fopen(path, "wb");
        if (file == nullptr) fail(std::string("cannot open for writing: ") + std::strerror(errno));
        try {
            faiss::write_index(handle->index.get(), file);
        } catch (...) {
            std::fclose(file);
            throw;
        }
        // Flush and sync so that a rename after this call never exposes a partial file.
        int failure = 0;
        if (std::fflush(file) != 0 || fsync(fileno(file)) != 0) failure = errno;
        if (std::fclose(file) != 0 && failure == 0) failure = errno;
        if (failure != 0) fail(std::string("write failed: ") + std::strerror(failure));
    });
}

void faiss_shim_free(FaissShimIndex *handle) { delete handle; }

int64_t faiss_shim_ntotal(const FaissShimIndex *handle) { return handle->index->ntotal; }

int64_t faiss_shim_dimension(const FaissShimIndex *handle) { return handle->index->d; }

int faiss_shim_is_trained(const FaissShimIndex *handle) {
    return handle->index->is_trained ? 1 : 0;
}

void faiss_shim_describe(const FaissShimIndex *handle, FaissShimInfo *info) {
    const faiss::Index *index = handle->index.get();
    *info = FaissShimInfo{};
    info->kind = FAISS_SHIM_KIND_OTHER;
    info->metric_inner_product = index->metric_type == faiss::METRIC_INNER_PRODUCT;
    info->is_trained = index->is_trained;
    if (dynamic_cast<const faiss::IndexFlat *>(index) != nullptr) {
        info->kind = FAISS_SHIM_KIND_FLAT;
    } else if (auto *hnsw = dynamic_cast<const faiss::IndexHNSWFlat *>(index)) {
        info->kind = FAISS_SHIM_KIND_HNSW;
        info->hnsw_neighbors = hnsw->hnsw.nb_neighbors(1);
        info->hnsw_ef_construction = hnsw->hnsw.efConstruction;
        info->hnsw_ef_search = hnsw->hnsw.efSearch;
    } else if (auto *ivf = dynamic_cast<const faiss::IndexIVFFlat *>(index)) {
        info->kind = FAISS_SHIM_KIND_IVF;
        info->ivf_lists = static_cast<int64_t>(ivf->nlist);
        info->ivf_probes = static_cast<int64_t>(ivf->nprobe);
    }
}

int faiss_shim_train(FaissShimIndex *handle, int64_t n, const float *x, char *error,
                     size_t error_capacity) {
    return guarded(error, error_capacity, [&] { handle->index->train(n, x); });
}

int faiss_shim_add(FaissShimIndex *handle, int64_t n, const float *x, char *error,
                   size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        limit_threads(n);
        handle->index->add(n, x);
    });
}

int faiss_shim_search(const FaissShimIndex *handle, int64_t n, const float *x, int64_t k,
                      float *distances, int64_t *labels, char *error, size_t error_capacity) {
    static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "FAISS ids are 64-bit");
    return guarded(error, error_capacity, [&] {
        limit_threads(n);
        handle->index->search(n, x, k, distances,
                              reinterpret_cast<faiss::Index::idx_t *>(labels));
    });
}

int faiss_shim_search_range(const FaissShimIndex *handle, int64_t n, const float *x, int64_t k,
                            int64_t id_min, int64_t id_max, float *distances, int64_t *labels,
                            char *error, size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        limit_threads(n);
        faiss::IDSelectorRange selector(id_min, id_max);
        auto *labels_out = reinterpret_cast<faiss::Index::idx_t *>(labels);
        faiss::Index *index = handle->index.get();
        if (auto *hnsw = dynamic_cast<faiss::IndexHNSW *>(index)) {
            // A filtered graph walk sees few admissible nodes when the range is a small part
            // of the index: widen the beam so k results are still found.
            faiss::SearchParametersHNSW params;
            params.sel = &selector;
            params.efSearch = std::max<int>(hnsw->hnsw.efSearch, static_cast<int>(4 * k));
            index->search(n, x, k, distances, labels_out, &params);
        } else if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(index)) {
            faiss::SearchParametersIVF params;
            params.sel = &selector;
            params.nprobe = ivf->nprobe;
            index->search(n, x, k, distances, labels_out, &params);
        } else {
            faiss::SearchParameters params;
            params.sel = &selector;
            index->search(n, x, k, distances, labels_out, &params);
        }
    });
}

int faiss_shim_set_hnsw_ef_construction(FaissShimIndex *handle, int value, char *error,
                                        size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        if (value < 1) fail("efConstruction must be at least 1");
        as_hnsw(handle)->hnsw.efConstruction = value;
    });
}

int faiss_shim_set_hnsw_ef_search(FaissShimIndex *handle, int value, char *error,
                                  size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        if (value < 1) fail("efSearch must be at least 1");
        as_hnsw(handle)->hnsw.efSearch = value;
    });
}

int faiss_shim_set_ivf_probes(FaissShimIndex *handle, int64_t value, char *error,
                              size_t error_capacity) {
    return guarded(error, error_capacity, [&] {
        if (value < 1) fail("nprobe must be at least 1");
        auto *ivf = dynamic_cast<faiss::IndexIVF *>(handle->index.get());
        if (ivf == nullptr) fail("not an IVF index");
        ivf->nprobe = static_cast<size_t>(value);
    });
}

void faiss_shim_set_num_threads(int count) {
    requested_threads.store(count > 0 ? count : 0, std::memory_order_relaxed);
}

int faiss_shim_num_threads(void) { return requested_threads.load(std::memory_order_relaxed); }

}  // extern "C"
