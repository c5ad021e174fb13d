// VectorIndex.swift: a FAISS-backed nearest-neighbour index over embedding vectors.
//
// Metric: inner product. Callers pass L2-normalised vectors, so every score is a cosine
// similarity and higher is better. Vectors are row-major float32: `[n, dimension]` flattened.
// Ids are positions: the i-th vector ever added has id i (FAISS's sequential ids).
//
// Three layouts (FAISS index_factory strings in brackets):
// - flat ["Flat"]: exact search; a BLAS matrix product per batch of queries. The reference.
// - hnsw ["HNSW<M>"]: a graph; approximate, fast queries, slow builds (Debian's FAISS is built
//   without SIMD, so graph construction runs scalar distance loops).
// - ivf ["IVF<lists>,Flat"]: k-means lists, `probes` of them scanned per query; needs training.

import CFaissShim
import Kernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - IndexKind

/// The layout of a ``VectorIndex`` and its tuning parameters.
///
/// ```swift
/// let kind = try IndexKind(parsing: "hnsw32")  // .hnsw(neighbors: 32), other parameters default
/// kind.factoryString                           // "HNSW32"
/// ```
public enum IndexKind: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Exact search over all vectors.
    case flat
    /// A hierarchical navigable small-world graph.
    /// - Parameters:
    ///   - neighbors: links per node and layer (`M`; layer 0 keeps `2M`). More is more accurate
    ///     and slower to build.
    ///   - efConstruction: candidate-list size while inserting. Applies to later adds.
    ///   - efSearch: candidate-list size while searching (at least `k` is used).
    case hnsw(neighbors: Int = 32, efConstruction: Int = 40, efSearch: Int = 64)
    /// An inverted file: vectors are bucketed into `lists` k-means cells and each query scans
    /// the `probes` nearest cells.
    /// - Parameters:
    ///   - lists: k-means cells (`nlist`). FAISS wants about 39 training vectors per list.
    ///   - probes: cells scanned per query (`nprobe`), clamped to `lists` by FAISS.
    case ivf(lists: Int = 256, probes: Int = 32)

    /// The FAISS `index_factory` description: `"Flat"`, `"HNSW32"`, `"IVF256,Flat"`.
    public var factoryString: String {
        switch self {
        case .flat: return "Flat"
        case .hnsw(let neighbors, _, _): return "HNSW\(neighbors)"
        case .ivf(let lists, _): return "IVF\(lists),Flat"
        }
    }

    /// The short form accepted by ``init(parsing:)`` (`"flat"`, `"hnsw32"`, `"ivf256"`), followed
    /// by the search parameters: `"hnsw32 (efConstruction 40, efSearch 64)"`.
    public var description: String {
        switch self {
        case .flat:
            return "flat"
        case .hnsw(let neighbors, let efConstruction, let efSearch):
            return "hnsw\(neighbors) (efConstruction \(efConstruction), efSearch \(efSearch))"
        case .ivf(let lists, let probes):
            return "ivf\(lists) (probes \(probes))"
        }
    }

    /// Parses a command-line kind, case-insensitively: `"flat"`, `"hnsw"`, `"hnsw<M>"`, `"ivf"`,
    /// `"ivf<lists>"`. Parameters left out take the case defaults.
    ///
    /// ```swift
    /// try IndexKind(parsing: "IVF1024")   // .ivf(lists: 1024, probes: 32)
    /// ```
    /// - Parameter text: the string to parse (surrounding whitespace is ignored).
    /// - Throws: ``RetrievalError/invalidIndexKind(_:reason:)`` for anything else, or for
    ///   parameters out of range.
    public init(parsing text: String) throws {
        let lowered = text.trimmingWhitespace().lowercased()
        func number(after prefix: String) throws -> Int? {
            let digits = lowered.dropFirst(prefix.count)
            if digits.isEmpty { return nil }
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let value = Int(digits)
            else {
                throw RetrievalError.invalidIndexKind(
                    text, reason: "'\(digits)' after '\(prefix)' is not a whole number")
            }
            return value
        }
        let kind: IndexKind
        if lowered == "flat" {
            kind = .flat
        } else if lowered.hasPrefix("hnsw") {
            kind = try number(after: "hnsw").map { .hnsw(neighbors: $0) } ?? .hnsw()
        } else if lowered.hasPrefix("ivf") {
            kind = try number(after: "ivf").map { .ivf(lists: $0) } ?? .ivf()
        } else {
            throw RetrievalError.invalidIndexKind(
                text, reason: "expected flat, hnsw, hnsw<neighbors>, ivf or ivf<lists>")
        }
        try kind.validate(label: text)
        self = kind
    }

    /// Checks that every parameter is in range; `label` names the kind in the error.
    func validate(label: String? = nil) throws {
        func require(_ ok: Bool, _ reason: String) throws {
            if !ok { throw RetrievalError.invalidIndexKind(label ?? description, reason: reason) }
        }
        switch self {
        case .flat:
            break
        case .hnsw(let neighbors, let efConstruction, let efSearch):
            try require((2...4096).contains(neighbors), "neighbors must be in 2...4096")
            try require(efConstruction >= 1, "efConstruction must be at least 1")
            try require(efSearch >= 1, "efSearch must be at least 1")
        case .ivf(let lists, let probes):
            try require(lists >= 1, "lists must be at least 1")
            try require(probes >= 1, "probes must be at least 1")
        }
    }

    /// The family name used in messages: "flat", "hnsw" or "ivf".
    var family: String {
        switch self {
        case .flat: return "flat"
        case .hnsw: return "hnsw"
        case .ivf: return "ivf"
        }
    }
}

// MARK: - SearchHit

/// One search result: the id of a stored vector and its score (inner product, which is the
/// cosine similarity for normalised vectors; higher is closer).
public struct SearchHit: Sendable, Equatable {
    /// The vector's id: its position in insertion order, starting at 0.
    public var id: Int
    /// Inner product between query and vector.
    public var score: Float

    /// Creates a hit.
    public init(id: Int, score: Float) {
        self.id = id
        self.score = score
    }
}

// MARK: - VectorIndex

/// A nearest-neighbour index over fixed-dimension float vectors, backed by FAISS and scored by
/// inner product.
///
/// Pass L2-normalised vectors (as sentence embedders produce) so scores are cosines. Vectors
/// are identified by insertion order: the first vector added has id 0.
///
/// ```swift
/// let index = try VectorIndex(dimension: 384, kind: .hnsw())
/// try index.add(embeddings)                       // [n * 384] floats, ids 0 ..< n
/// let hits = try index.search(query, k: 10)[0]    // best first
/// try index.write(to: "chunks.faiss")
/// let again = try VectorIndex.read(from: "chunks.faiss")
/// ```
///
/// IVF indices are trained once, on the first non-empty ``add(_:)``: make that batch
/// representative (FAISS wants ~39 vectors per list). If it holds fewer vectors than `lists`,
/// the index is built with one list per vector instead (k-means cannot make more cells than it
/// has points), and ``kind`` reports the clamped count. Later adds go into the trained lists.
///
/// Thread safety: the class is `Sendable`. A lock (`Locked`) owns the FAISS handle and every call
/// holds it for its whole duration, so adds, searches, writes and frees never overlap; parallel
/// searches on one index are serialised (each FAISS call is itself parallel across
/// ``threadCount`` OpenMP threads).
public final class VectorIndex: Sendable {
    /// State guarded by the mutex: the handle and the kind (which IVF training can change).
    private struct State {
        var handle: OpaquePointer
        var kind: IndexKind
    }

    private let state: Locked<State>

    /// The number of floats in each vector.
    public let dimension: Int

    /// Creates an empty index.
    ///
    /// ```swift
    /// let index = try VectorIndex(dimension: 384, kind: .ivf(lists: 1024, probes: 16))
    /// ```
    /// - Parameters:
    ///   - dimension: floats per vector (at least 1).
    ///   - kind: the layout and its tuning parameters.
    /// - Throws: ``RetrievalError/invalidArgument(name:value:reason:)`` for a dimension below
    ///   1, ``RetrievalError/invalidIndexKind(_:reason:)`` for parameters out of range,
    ///   ``RetrievalError/index(operation:path:message:)`` if FAISS refuses the layout.
    public init(dimension: Int, kind: IndexKind) throws {
        guard dimension >= 1, dimension <= Int(Int32.max) else {
            throw RetrievalError.invalidArgument(
                name: "dimension", value: dimension, reason: "must be in 1...\(Int32.max)")
        }
        try kind.validate()
        let handle = try Self.create(kind: kind, dimension: dimension)
        self.dimension = dimension
        self.state = Locked(State(handle: handle, kind: kind))
    }

    private init(handle: sending OpaquePointer, dimension: Int, kind: IndexKind) {
        self.dimension = dimension
        self.state = Locked(State(handle: handle, kind: kind))
    }

    deinit {
        state.withLock { faiss_shim_free($0.handle) }
    }

    /// The number of vectors stored (and the id the next vector will get).
    public var count: Int {
        state.withLock { Int(faiss_shim_ntotal($0.handle)) }
    }

    /// The layout. For IVF, `lists` is the number actually trained (see the type's discussion).
    public var kind: IndexKind {
        state.withLock { $0.kind }
    }

    /// OpenMP threads each FAISS call may use, process-wide. The default is 1; `nil` selects
    /// OpenMP's own default (`OMP_NUM_THREADS`, else one per core). Adds and searches never use
    /// more threads than they have rows. The setting is re-applied on every call, because
    /// OpenMP keeps it per calling thread.
    ///
    /// More threads pay off only on a quiet machine and for large batches: with 2 cores and
    /// the other one busy, each of FAISS's parallel regions can wait milliseconds for a
    /// descheduled worker (a 4-query flat search took 12-20 ms per query with 2 threads versus
    /// 0.5 ms with 1), and building HNSW over 10k vectors gained at most 25%.
    public static var threadCount: Int? {
        get {
            let count = Int(faiss_shim_num_threads())
            return count > 0 ? count : nil
        }
        set { faiss_shim_set_num_threads(Int32(clamping: max(newValue ?? 0, 0))) }
    }

    // MARK: Adding and searching

    /// Adds vectors; they get the next free ids, in order.
    ///
    /// An untrained IVF index is first trained on this batch (see the type's discussion).
    /// - Parameter vectors: `[n, dimension]` row-major floats, L2-normalised. Empty is a no-op.
    /// - Returns: the ids assigned, `count ..< count + n`.
    /// - Throws: ``RetrievalError/dimensionMismatch(expected:got:context:)`` when the count is
    ///   not a multiple of ``dimension``; ``RetrievalError/index(operation:path:message:)`` when
    ///   FAISS fails.
    @discardableResult
    public func add(_ vectors: [Float]) throws -> Range<Int> {
        let n = try rows(in: vectors, context: "add")
        let dimension = dimension
        return try state.withLock { state in
            let start = Int(faiss_shim_ntotal(state.handle))
            if n == 0 { return start..<start }
            if faiss_shim_is_trained(state.handle) == 0 {
                try Self.train(&state, on: vectors, rows: n, dimension: dimension)
            }
            try vectors.withUnsafeBufferPointer { x in
                try Self.faiss("add") {
                    faiss_shim_add(state.handle, Int64(n), x.baseAddress, $0, $1)
                }
            }
            return start..<(start + n)
        }
    }

    /// Finds the `k` best-scoring stored vectors for each query.
    ///
    /// ```swift
    /// let hits = try index.search(queries, k: 5)   // hits[q][0] is query q's best match
    /// ```
    /// - Parameters:
    ///   - queries: `[q, dimension]` row-major floats, L2-normalised.
    ///   - k: results wanted per query (at least 1).
    /// - Returns: one array per query, best first. It holds fewer than `k` hits when the index
    ///   has fewer than `k` vectors, or when an approximate index found fewer (FAISS's `-1`
    ///   labels are dropped).
    /// - Throws: ``RetrievalError/invalidArgument(name:value:reason:)`` for `k < 1`,
    ///   ``RetrievalError/dimensionMismatch(expected:got:context:)``, or
    ///   ``RetrievalError/index(operation:path:message:)`` when FAISS fails.
    public func search(_ queries: [Float], k: Int) throws -> [[SearchHit]] {
        try search(queries, k: k, idRange: nil)
    }

    /// Searches like `search(_:k:)` but only among ids in `idRange` (nil: all). Documents' chunks
    /// get contiguous ids, so this restricts retrieval to one document without a second index.
    public func search(_ queries: [Float], k: Int, idRange: Range<Int>?) throws -> [[SearchHit]] {
        guard k >= 1 else {
            throw RetrievalError.invalidArgument(name: "k", value: k, reason: "must be at least 1")
        }
        let n = try rows(in: queries, context: "search")
        if n == 0 { return [] }
        return try state.withLock { state in
            let total = Int(faiss_shim_ntotal(state.handle))
            if total == 0 { return Array(repeating: [], count: n) }
            // Never ask for more than exist: FAISS would pad with -1 labels.
            let kk = min(k, idRange.map { min($0.count, total) } ?? total)
            if kk <= 0 { return Array(repeating: [], count: n) }
            var scores = [Float](repeating: 0, count: n * kk)
            var labels = [Int64](repeating: -1, count: n * kk)
            try queries.withUnsafeBufferPointer { x in
                try scores.withUnsafeMutableBufferPointer { s in
                    try labels.withUnsafeMutableBufferPointer { l in
                        try Self.faiss("search") {
                            if let idRange {
                                faiss_shim_search_range(
                                    state.handle, Int64(n), x.baseAddress, Int64(kk), Int64(idRange.lowerBound),
                                    Int64(idRange.upperBound), s.baseAddress, l.baseAddress, $0, $1)
                            } else {
                                faiss_shim_search(
                                    state.handle, Int64(n), x.baseAddress, Int64(kk), s.baseAddress,
                                    l.baseAddress, $0, $1)
                            }
                        }
                    }
                }
            }
            return (0..<n).map { q in
                (q * kk..<(q + 1) * kk).compactMap { j in
                    labels[j] < 0 ? nil : SearchHit(id: Int(labels[j]), score: scores[j])
                }
            }
        }
    }

    // MARK: Files

    /// Writes the index to `path` atomically: to a temporary file in the same folder, flushed to
    /// disk, then renamed over `path`, so readers never see a partial file.
    ///
    /// - Parameter path: destination file; its folder must exist.
    /// - Throws: ``RetrievalError/index(operation:path:message:)`` with `path` when writing or
    ///   renaming fails (the temporary file is removed).
    public func write(to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try state.withLock { state in
                try Self.faiss("write", path: path) {
                    faiss_shim_write(state.handle, temporary, $0, $1)
                }
            }
        } catch {
            unlink(temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            let message = "rename \(temporary) -> \(path): \(String(cString: strerror(errno)))"
            unlink(temporary)
            throw RetrievalError.index(operation: "write", path: path, message: message)
        }
    }

    /// Reads an index written by ``write(to:)``.
    ///
    /// The layout and its parameters are recovered from the file. When `kind` is given, it
    /// must be of the same family (flat, hnsw or ivf); its search-time parameters (`efSearch`
    /// and `efConstruction`, or `probes`) replace the stored ones, while the structure
    /// (`neighbors`, `lists`) always comes from the file.
    ///
    /// ```swift
    /// let index = try VectorIndex.read(from: "chunks.faiss", kind: .hnsw(efSearch: 128))
    /// ```
    /// - Parameters:
    ///   - path: the index file.
    ///   - kind: optional search-time overrides, as above.
    /// - Returns: the index.
    /// - Throws: ``RetrievalError/indexFileMissing(path:)``,
    ///   ``RetrievalError/index(operation:path:message:)`` for unreadable or corrupt files,
    ///   ``RetrievalError/unsupportedIndex(path:reason:)`` for FAISS indices of other types or
    ///   metrics, ``RetrievalError/kindMismatch(path:requested:found:)``.
    public static func read(from path: String, kind requested: IndexKind? = nil) throws
        -> VectorIndex
    {
        guard access(path, F_OK) == 0 else { throw RetrievalError.indexFileMissing(path: path) }
        try requested?.validate()
        var opened: OpaquePointer?
        try faiss("read", path: path) { faiss_shim_read(path, &opened, $0, $1) }
        guard let handle = opened else {
            throw RetrievalError.index(operation: "read", path: path, message: "no index returned")
        }
        do {
            var info = FaissShimInfo()
            faiss_shim_describe(handle, &info)
            guard info.metric_inner_product == 1 else {
                throw RetrievalError.unsupportedIndex(
                    path: path, reason: "metric is not inner product")
            }
            let stored: IndexKind
            switch info.kind {
            case FAISS_SHIM_KIND_FLAT:
                stored = .flat
            case FAISS_SHIM_KIND_HNSW:
                stored = .hnsw(
                    neighbors: Int(info.hnsw_neighbors),
                    efConstruction: Int(info.hnsw_ef_construction),
                    efSearch: Int(info.hnsw_ef_search))
            case FAISS_SHIM_KIND_IVF:
                stored = .ivf(lists: Int(info.ivf_lists), probes: Int(info.ivf_probes))
            default:
                throw RetrievalError.unsupportedIndex(
                    path: path, reason: "not a Flat, HNSWFlat or IVFFlat index")
            }
            let kind = try merge(stored: stored, requested: requested, path: path)
            try configure(handle, kind: kind, path: path)
            return VectorIndex(
                handle: handle, dimension: Int(faiss_shim_dimension(handle)), kind: kind)
        } catch {
            faiss_shim_free(handle)
            throw error
        }
    }

    // MARK: Helpers

    /// Rows in `vectors`, or a dimension error.
    private func rows(in vectors: [Float], context: String) throws -> Int {
        guard vectors.count % dimension == 0 else {
            throw RetrievalError.dimensionMismatch(
                expected: dimension, got: vectors.count, context: context)
        }
        return vectors.count / dimension
    }

    /// Runs a shim call that reports failure through an error buffer.
    private static func faiss(
        _ operation: String, path: String? = nil,
        _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws {
        var buffer = [CChar](repeating: 0, count: 1024)
        let status = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        guard status == Int32(FAISS_SHIM_OK) else {
            let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw RetrievalError.index(operation: operation, path: path, message: message)
        }
    }

    /// A new, empty FAISS index for `kind`, with its parameters applied.
    private static func create(kind: IndexKind, dimension: Int) throws -> OpaquePointer {
        var created: OpaquePointer?
        try faiss("create \(kind.factoryString)") {
            faiss_shim_create(kind.factoryString, Int64(dimension), &created, $0, $1)
        }
        guard let handle = created else {
            throw RetrievalError.index(operation: "create", path: nil, message: "no index returned")
        }
        do {
            try configure(handle, kind: kind, path: nil)
        } catch {
            faiss_shim_free(handle)
            throw error
        }
        return handle
    }

    /// Applies `kind`'s tuning parameters (efConstruction, efSearch, nprobe) to `handle`.
    private static func configure(_ handle: OpaquePointer, kind: IndexKind, path: String?) throws {
        switch kind {
        case .flat:
            break
        case .hnsw(_, let efConstruction, let efSearch):
            try faiss("set efConstruction", path: path) {
                faiss_shim_set_hnsw_ef_construction(handle, Int32(clamping: efConstruction), $0, $1)
            }
            try faiss("set efSearch", path: path) {
                faiss_shim_set_hnsw_ef_search(handle, Int32(clamping: efSearch), $0, $1)
            }
        case .ivf(_, let probes):
            try faiss("set nprobe", path: path) {
                faiss_shim_set_ivf_probes(handle, Int64(probes), $0, $1)
            }
        }
    }

    /// The kind of a read index: `stored`'s structure with `requested`'s search parameters.
    private static func merge(stored: IndexKind, requested: IndexKind?, path: String) throws
        -> IndexKind
    {
        guard let requested else { return stored }
        switch (stored, requested) {
        case (.flat, .flat):
            return .flat
        case (.hnsw(let neighbors, _, _), .hnsw(_, let efConstruction, let efSearch)):
            return .hnsw(neighbors: neighbors, efConstruction: efConstruction, efSearch: efSearch)
        case (.ivf(let lists, _), .ivf(_, let probes)):
            return .ivf(lists: lists, probes: probes)
        default:
            throw RetrievalError.kindMismatch(
                path: path, requested: requested, found: stored.description)
        }
    }

    /// Trains an untrained index on the first batch. For IVF with fewer rows than lists, the
    /// (still empty) index is first rebuilt with `lists = rows` so that k-means can run.
    private static func train(
        _ state: inout State, on vectors: [Float], rows: Int, dimension: Int
    ) throws {
        if case .ivf(let lists, let probes) = state.kind, rows < lists {
            let clamped = IndexKind.ivf(lists: rows, probes: probes)
            let replacement = try create(kind: clamped, dimension: dimension)
            faiss_shim_free(state.handle)
            state.handle = replacement
            state.kind = clamped
        }
        let handle = state.handle
        try vectors.withUnsafeBufferPointer { x in
            try faiss("train") { faiss_shim_train(handle, Int64(rows), x.baseAddress, $0, $1) }
        }
    }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
