// VectorIndexTests.swift: exactness of Flat against brute force, file round trips, the recall
// of HNSW and IVF against Flat on embedding-like data, and every error path.

import Foundation
import Retrieval
import TestSupport
import Testing

// MARK: - Test data

/// Seeded, embedding-like unit vectors. Real sentence embeddings are anisotropic (they share a
/// common direction) and clustered at several scales, so a query's similarities fall off
/// gradually rather than jumping between "same cluster" and "other". This models that with
/// topics (around a common direction) and subtopics (around their topic); each vector is a
/// random subtopic plus isotropic noise, L2-normalised.
///
/// With the parameters used below (20 topics x 50 subtopics, 5000 vectors) a query's exact
/// top-1 cosine is ~0.41 and its top-10 ~0.22, and HNSW/IVF recall lands near MACHINE-NOTES'
/// figures for real 384-d embeddings (0.987 / 0.915 at 100k).
private struct EmbeddingLikeData {
    let dimension: Int
    let subtopics: [[Float]]
    let noise: Float

    /// - Parameters:
    ///   - subtopicWeight: norm of a subtopic's offset from its (unit) topic.
    ///   - noise: norm of each vector's offset from its (unit) subtopic.
    init(
        dimension: Int, topics: Int, subtopicsPerTopic: Int, subtopicWeight: Float = 1.5,
        noise: Float = 1.3, seed: UInt64
    ) {
        var g = SeededGenerator(seed: seed)
        let common = normalised(gaussian(dimension, &g))
        let topicCentres = (0..<topics).map { _ in
            normalised(zip(common, normalised(gaussian(dimension, &g))).map { 0.7 * $0 + $1 })
        }
        self.dimension = dimension
        self.noise = noise
        self.subtopics = (0..<topics * subtopicsPerTopic).map { i in
            let offset = normalised(gaussian(dimension, &g))
            return normalised(
                zip(topicCentres[i / subtopicsPerTopic], offset).map { $0 + subtopicWeight * $1 })
        }
    }

    /// `count` vectors, row-major `[count, dimension]`, each near a random subtopic.
    func sample(_ count: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        var out: [Float] = []
        out.reserveCapacity(count * dimension)
        let sigma = noise / Float(dimension).squareRoot()
        for _ in 0..<count {
            let centre = subtopics[Int(g.next() % UInt64(subtopics.count))]
            let offset = gaussian(dimension, &g)
            out += normalised(zip(centre, offset).map { $0 + sigma * $1 })
        }
        return out
    }
}

/// `n` standard normal floats (Box-Muller).
private func gaussian(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
    (0..<n).map { _ in
        let u1 = 1 - Double(g.next() >> 11) / Double(1 << 53)  // (0, 1]
        let u2 = Double(g.next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}


/// `count` uniformly random unit vectors.
private func randomUnitVectors(_ count: Int, dimension: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).flatMap { _ in normalised(gaussian(dimension, &g)) }
}

/// Exact top-k by inner product in Double: the reference for Flat.
private func bruteForce(_ base: [Float], _ queries: [Float], dimension d: Int, k: Int)
    -> [[SearchHit]]
{
    let n = base.count / d
    return stride(from: 0, to: queries.count, by: d).map { q in
        let scored = (0..<n).map { i in
            var dot = 0.0
            for j in 0..<d { dot += Double(queries[q + j]) * Double(base[i * d + j]) }
            return SearchHit(id: i, score: Float(dot))
        }
        return Array(scored.sorted { $0.score > $1.score }.prefix(k))
    }
}

/// Mean fraction of `truth`'s ids that `found` also returned, per query.
private func recall(_ found: [[SearchHit]], truth: [[SearchHit]]) -> Double {
    let perQuery = zip(found, truth).map { f, t in
        Double(Set(f.map(\.id)).intersection(t.map(\.id)).count) / Double(t.count)
    }
    return perQuery.reduce(0, +) / Double(perQuery.count)
}

/// A fresh empty folder under the system temporary directory.
private func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("VectorIndexTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

// MARK: - Tests

@Suite struct VectorIndexTests {
    @Test func flatMatchesBruteForce() throws {
        let d = 64
        let k = 10
        let base = randomUnitVectors(1000, dimension: d, seed: 1)
        let queries = randomUnitVectors(20, dimension: d, seed: 2)
        let index = try VectorIndex(dimension: d, kind: .flat)
        #expect(try index.add(base) == 0..<1000)
        let found = try index.search(queries, k: k)
        let truth = bruteForce(base, queries, dimension: d, k: k)
        #expect(found.count == 20)
        for (f, t) in zip(found, truth) {
            // Random unit vectors in 64-d: neighbouring top-10 scores differ by ~1e-2, far above
            // float32 rounding (~1e-6), so the order must agree exactly.
            #expect(f.map(\.id) == t.map(\.id))
            let close = compareClose(f.map(\.score), t.map(\.score), rtol: 0, atol: 1e-5)
            #expect(close.ok, "\(close)")
        }
    }

    /// Restricting the search to an id range (one document's chunks) returns exactly the
    /// brute-force top-k within that range, for every index kind.
    @Test(arguments: [IndexKind.flat, .hnsw(neighbors: 16), .ivf(lists: 8, probes: 8)])
    func rangeSearchStaysInsideTheRange(kind: IndexKind) throws {
        let d = 32, k = 5
        let base = randomUnitVectors(600, dimension: d, seed: 11)
        let queries = randomUnitVectors(10, dimension: d, seed: 12)
        let index = try VectorIndex(dimension: d, kind: kind)
        try index.add(base)
        let range = 200..<260
        let slice = Array(base[range.lowerBound * d..<range.upperBound * d])
        let truth = bruteForce(slice, queries, dimension: d, k: k).map { $0.map { SearchHit(id: $0.id + range.lowerBound, score: $0.score) } }
        let found = try index.search(queries, k: k, idRange: range)
        #expect(found.allSatisfy { $0.allSatisfy { range.contains($0.id) } })
        #expect(recall(found, truth: truth) >= (kind == .flat ? 1.0 : 0.9), "\(kind)")
        // k larger than the range returns the whole range.
        #expect(try index.search(Array(queries.prefix(d)), k: 100, idRange: 0..<3)[0].map(\.id).sorted() == [0, 1, 2])
    }

    @Test func idsAreSequentialAndSmallIndicesReturnWhatTheyHave() throws {
        let d = 16
        let index = try VectorIndex(dimension: d, kind: .flat)
        #expect(try index.search(randomUnitVectors(2, dimension: d, seed: 3), k: 5) == [[], []])
        #expect(try index.add(randomUnitVectors(3, dimension: d, seed: 4)) == 0..<3)
        #expect(try index.add([]) == 3..<3)
        #expect(try index.add(randomUnitVectors(2, dimension: d, seed: 5)) == 3..<5)
        #expect(index.count == 5)
        let hits = try index.search(randomUnitVectors(1, dimension: d, seed: 6), k: 50)
        #expect(hits[0].count == 5)
        #expect(Set(hits[0].map(\.id)) == Set(0..<5))
        #expect(zip(hits[0], hits[0].dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(try index.search([], k: 1).isEmpty)
    }

    @Test(arguments: [
        IndexKind.flat, .hnsw(neighbors: 16, efConstruction: 40, efSearch: 32),
        .ivf(lists: 16, probes: 4),
    ])
    func writeReadRoundTrip(kind: IndexKind) throws {
        let d = 32
        let data = EmbeddingLikeData(dimension: d, topics: 10, subtopicsPerTopic: 10, seed: 10)
        let index = try VectorIndex(dimension: d, kind: kind)
        try index.add(data.sample(1500, seed: 11))
        try index.add(data.sample(500, seed: 12))  // IVF: into the lists trained above
        let queries = data.sample(50, seed: 13)
        let before = try index.search(queries, k: 10)

        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/index.faiss"
        try index.write(to: path)
        try index.write(to: path)  // overwriting is fine
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["index.faiss"])

        let loaded = try VectorIndex.read(from: path)
        #expect(loaded.count == 2000)
        #expect(loaded.dimension == d)
        #expect(loaded.kind == kind)
        #expect(try loaded.search(queries, k: 10) == before)
    }

    @Test func readAppliesSearchParametersButKeepsStructure() throws {
        let d = 16
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = randomUnitVectors(300, dimension: d, seed: 20)

        let hnsw = try VectorIndex(dimension: d, kind: .hnsw(neighbors: 8))
        try hnsw.add(data)
        try hnsw.write(to: folder + "/hnsw.faiss")
        let tuned = try VectorIndex.read(
            from: folder + "/hnsw.faiss",
            kind: .hnsw(neighbors: 64, efConstruction: 80, efSearch: 200))
        #expect(tuned.kind == .hnsw(neighbors: 8, efConstruction: 80, efSearch: 200))

        let ivf = try VectorIndex(dimension: d, kind: .ivf(lists: 8, probes: 2))
        try ivf.add(data)
        try ivf.write(to: folder + "/ivf.faiss")
        let probed = try VectorIndex.read(from: folder + "/ivf.faiss", kind: .ivf(probes: 8))
        #expect(probed.kind == .ivf(lists: 8, probes: 8))
        // All lists probed: IVF is exact.
        let flat = try VectorIndex(dimension: d, kind: .flat)
        try flat.add(data)
        let queries = randomUnitVectors(10, dimension: d, seed: 21)
        #expect(
            try probed.search(queries, k: 5).map { $0.map(\.id) }
                == flat.search(queries, k: 5).map { $0.map(\.id) })

        #expect {
            try VectorIndex.read(from: folder + "/ivf.faiss", kind: .flat)
        } throws: { error in
            guard case RetrievalError.kindMismatch(let path, .flat, _) = error else { return false }
            return path == folder + "/ivf.faiss"
        }
    }

    @Test func ivfWithFewerVectorsThanListsClampsLists() throws {
        let d = 16
        let index = try VectorIndex(dimension: d, kind: .ivf(lists: 256, probes: 32))
        try index.add(randomUnitVectors(100, dimension: d, seed: 30))
        #expect(index.kind == .ivf(lists: 100, probes: 32))
        #expect(try index.add(randomUnitVectors(400, dimension: d, seed: 31)) == 100..<500)
        #expect(index.kind == .ivf(lists: 100, probes: 32))
        let hits = try index.search(randomUnitVectors(3, dimension: d, seed: 32), k: 10)
        #expect(hits.allSatisfy { $0.count == 10 })
    }

    /// HNSW and IVF against exact search on 5000 clustered 384-d unit vectors. Bounds: HNSW
    /// must reach 0.95 (measured 0.97 here; HNSW builds in parallel, so the graph and recall
    /// vary slightly run to run). IVF256/probes32 measured 0.95 here and 0.94 with other seeds,
    /// so 0.90 catches a real regression without flaking.
    @Test func approximateRecallOnEmbeddingLikeData() throws {
        let d = 384
        let k = 10
        let data = EmbeddingLikeData(dimension: d, topics: 20, subtopicsPerTopic: 50, seed: 40)
        let base = data.sample(5000, seed: 41)
        let queries = data.sample(200, seed: 42)

        let flat = try VectorIndex(dimension: d, kind: .flat)
        try flat.add(base)
        let truth = try flat.search(queries, k: k)

        let hnsw = try VectorIndex(dimension: d, kind: .hnsw())
        try hnsw.add(base)
        let hnswRecall = recall(try hnsw.search(queries, k: k), truth: truth)

        let ivf = try VectorIndex(dimension: d, kind: .ivf())
        try ivf.add(base)
        let ivfRecall = recall(try ivf.search(queries, k: k), truth: truth)

        print("recall@10 on 5000 x 384: hnsw32/ef64 \(hnswRecall), ivf256/probes32 \(ivfRecall)")
        #expect(hnswRecall >= 0.95)
        #expect(ivfRecall >= 0.90)
    }

    // MARK: Errors

    @Test func wrongDimensionsAreRejected() throws {
        let index = try VectorIndex(dimension: 8, kind: .flat)
        #expect {
            try index.add([Float](repeating: 0.1, count: 12))
        } throws: { error in
            guard case RetrievalError.dimensionMismatch(8, 12, "add") = error else { return false }
            return true
        }
        try index.add([Float](repeating: 0.1, count: 16))
        #expect {
            try index.search([Float](repeating: 0.1, count: 7), k: 1)
        } throws: { error in
            guard case RetrievalError.dimensionMismatch(8, 7, "search") = error else {
                return false
            }
            return true
        }
        #expect {
            try index.search([Float](repeating: 0.1, count: 8), k: 0)
        } throws: { error in
            guard case RetrievalError.invalidArgument("k", 0, _) = error else { return false }
            return true
        }
        #expect(throws: RetrievalError.self) { try VectorIndex(dimension: 0, kind: .flat) }
        #expect(throws: RetrievalError.self) {
            try VectorIndex(dimension: 8, kind: .hnsw(neighbors: 1))
        }
    }

    @Test func missingAndGarbageFilesNameThePath() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let missing = folder + "/missing.faiss"
        #expect {
            try VectorIndex.read(from: missing)
        } throws: { error in
            guard case RetrievalError.indexFileMissing(let path) = error else { return false }
            return path == missing && "\(error)".contains(missing)
        }

        let garbage = folder + "/garbage.faiss"
        try Data("this is not a FAISS index, just some text".utf8).write(
            to: URL(fileURLWithPath: garbage))
        #expect {
            try VectorIndex.read(from: garbage)
        } throws: { error in
            guard case RetrievalError.index("read", garbage?, let message) = error else {
                return false
            }
            return !message.isEmpty && "\(error)".contains(garbage)
        }

        let empty = folder + "/empty.faiss"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect {
            try VectorIndex.read(from: empty)
        } throws: { error in
            guard case RetrievalError.index("read", empty?, _) = error else { return false }
            return true
        }

        // A real index file cut in half.
        let truncated = folder + "/truncated.faiss"
        let whole = try VectorIndex(dimension: 16, kind: .hnsw(neighbors: 8))
        try whole.add(randomUnitVectors(200, dimension: 16, seed: 50))
        try whole.write(to: truncated)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: truncated))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect {
            try VectorIndex.read(from: truncated)
        } throws: { error in
            guard case RetrievalError.index("read", truncated?, _) = error else { return false }
            return true
        }

        let index = try VectorIndex(dimension: 4, kind: .flat)
        let unwritable = folder + "/no/such/folder/index.faiss"
        #expect {
            try index.write(to: unwritable)
        } throws: { error in
            guard case RetrievalError.index("write", unwritable?, _) = error else { return false }
            return true
        }
    }

    @Test(arguments: [
        ("flat", IndexKind.flat), (" Flat ", .flat), ("HNSW", .hnsw()),
        ("hnsw16", .hnsw(neighbors: 16)),
        ("ivf", .ivf()), ("IVF1024", .ivf(lists: 1024)),
    ])
    func parsesKinds(text: String, kind: IndexKind) throws {
        #expect(try IndexKind(parsing: text) == kind)
    }

    @Test(arguments: ["", "lsh", "flat2", "hnswx", "hnsw1", "hnsw-3", "ivf0", "ivf 12", "ivf١٢"])
    func rejectsInvalidKinds(text: String) {
        #expect {
            try IndexKind(parsing: text)
        } throws: { error in
            guard case RetrievalError.invalidIndexKind(let echoed, _) = error else { return false }
            return echoed == text
        }
    }

    @Test func factoryStringsAndCodable() throws {
        #expect(IndexKind.flat.factoryString == "Flat")
        #expect(IndexKind.hnsw().factoryString == "HNSW32")
        #expect(IndexKind.ivf(lists: 64).factoryString == "IVF64,Flat")
        let kinds: [IndexKind] = [
            .flat, .hnsw(neighbors: 8, efConstruction: 20, efSearch: 30), .ivf(),
        ]
        let decoded = try JSONDecoder().decode([IndexKind].self, from: JSONEncoder().encode(kinds))
        #expect(decoded == kinds)
    }
}
