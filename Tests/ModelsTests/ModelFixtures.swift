// Shared fixtures for the model tests: the real model files from $LONGREWARD_HOME (installed by
// `make setup`; a missing file fails the tests with that instruction) and the golden values
// derived by scripts/make-model-fixtures.py.

import Foundation
import Kernels
import Models
import Testing

/// One prompt's golden forward pass (float64 reference).
struct LogitGolden: Decodable, Sendable, CustomStringConvertible {
    let name: String
    let text: String
    let parse_special: Bool
    let token_ids: [Int32]
    let top1_id: [Int32]
    let top1_logit: [Double]
    let lse: [Double]
    var description: String { name }
}

struct GreedyGolden: Decodable {
    let prompt_token_ids: [Int32]
    let generated_ids: [Int32]
    let top2_logit_gaps: [Double]
}

struct MiniLMGolden: Decodable {
    let texts: [String]
    let token_ids: [[Int32]]
    let embeddings: [[Double]]
}

enum Fixtures {
    static func load<T: Decodable>(_ name: String, as: T.Type) -> T {
        let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
        return try! JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }
    static let logits = load("smollm2-logits.json", as: [LogitGolden].self)
    static let greedy = load("smollm2-greedy-fp64.json", as: GreedyGolden.self)
    static let minilm = load("minilm-embeddings.json", as: MiniLMGolden.self)
}

/// The embedded SmolLM2, loaded once for all tests (2 threads).
let sharedLanguageModel: Result<LanguageModel, any Error> = Result { try LanguageModel.load(threads: 2) }

/// The embedded MiniLM, loaded once.
let sharedEncoder: Result<BERTEncoder, any Error> = Result { try BERTEncoder(folder: try ModelLocator.encoder(), threads: 2) }

/// The loaded model, or a recorded failure that says to run `make setup`.
func requireModel<T>(_ r: Result<T, any Error>) -> T? {
    switch r {
    case .success(let m): return m
    case .failure(let e):
        Issue.record("model unavailable (run `make setup`): \(e)")
        return nil
    }
}

/// The embedded SmolLM2 decoding with exact (Float32) activations, as the judge runs it: its own
/// instance, because suites run concurrently and a test that switched the shared model's
/// `decodeActivations` for a while changed what other suites' "together equals alone" runs
/// computed (one run exact, the other 8-bit: not bitwise equal).
let sharedExactDecodeModel: Result<LanguageModel, any Error> = Result {
    let lm = try LanguageModel.load(threads: 2)
    lm.model.decodeActivations = .float32
    return lm
}

/// The embedded SmolLM2 with 8-bit KV caches (its own instance: the shared one stays Float32).
let sharedEightBitCacheModel: Result<LanguageModel, any Error> = Result {
    let lm = try LanguageModel.load(threads: 2)
    lm.model.kvCachePrecision = .int8
    return lm
}

/// Feeds the `chat_judge` golden text one token at a time through a fresh cache of `m` with
/// 8-bit activations: the share of positions whose argmax is the float64 reference's top-1
/// token, and each position's error in that token's log-probability (sorted).
func decodeAgainstFloat64(_ m: LlamaModel) throws -> (agreement: Double, errors: [Double]) {
    let g = try #require(Fixtures.logits.first { $0.name == "chat_judge" })
    let V = m.configuration.vocabularySize
    let cache = m.makeCache(capacity: g.token_ids.count)
    let z = FloatBuffer(count: V)
    var agree = 0
    var errors: [Double] = []
    for (i, t) in g.token_ids.enumerated() {
        let h = m.forward(tokens: [t], cache: cache, activations: .q8)
        m.logits(hidden: h.pointer, rows: 1, into: z.pointer, activations: .q8)
        if Sampler.argmax(z.pointer, count: V) == g.top1_id[i] { agree += 1 }
        let ours = Double(z[Int(g.top1_id[i])]) - Double(VectorMath.logSumExp(z.pointer, V))
        errors.append(abs(ours - (g.top1_logit[i] - g.lse[i])))
    }
    return (Double(agree) / Double(g.token_ids.count), errors.sorted())
}
