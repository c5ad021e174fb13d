// Kernel benchmarks for `make bench` (ordo-one/benchmark reports mean, p50, p95 and memory).
// The same cases are available without this package as `longreward bench attention`.

import Benchmark
import Benchmarking
import Kernels
import Models

/// Causal GQA attention in SmolLM2's shape (9 query heads, 3 KV heads, head dim 64).
private func attentionBuffers(_ n: Int) -> (AttentionShape, [FloatBuffer]) {
    let shape = AttentionShape(queryLength: n, heads: 9, kvHeads: 3, headDim: 64)
    let buffers = [shape.queryCount, shape.keyCount, shape.keyCount, shape.queryCount, shape.lseCount,
                   shape.queryCount, shape.queryCount, shape.keyCount, shape.keyCount]
        .map { FloatBuffer(count: $0) }
    for b in buffers.prefix(3) { for i in 0..<b.count { b.pointer[i] = Float((i * 7919) % 2001 - 1000) / 1000 } }
    return (shape, buffers)
}

let benchmarks: @Sendable () -> Void = {
    modelBenchmarks()
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds,
        maxDuration: .seconds(20), maxIterations: 5)

    for threads in [1, 2] {
        Benchmark("sgemm 2048^3 threads=\(threads)", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(Measure.sgemmGFLOPS(n: 2048, threads: threads, repeats: 1))
            }
        }
        for n in [1024, 4096, 16384, 32768] {
            Benchmark("attention forward N=\(n) threads=\(threads)", configuration: config) { benchmark in
                let (shape, b) = attentionBuffers(n)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    Attention.forward(out: b[3].pointer, lse: b[4].pointer, q: b[0].pointer, k: b[1].pointer,
                                      v: b[2].pointer, shape: shape, mask: .causal, threads: threads)
                }
            }
            Benchmark("attention forward+backward N=\(n) threads=\(threads)", configuration: config) { benchmark in
                let (shape, b) = attentionBuffers(n)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    Attention.forward(out: b[3].pointer, lse: b[4].pointer, q: b[0].pointer, k: b[1].pointer,
                                      v: b[2].pointer, shape: shape, mask: .causal, threads: threads)
                    Attention.backward(dq: b[5].pointer, dk: b[7].pointer, dv: b[8].pointer, dout: b[0].pointer,
                                       q: b[0].pointer, k: b[1].pointer, v: b[2].pointer, out: b[3].pointer,
                                       lse: b[4].pointer, shape: shape, mask: .causal, threads: threads)
                }
            }
        }
    }
}

// MARK: - Models (need `make setup`'s model files)

let modelBenchmarks: @Sendable () -> Void = {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, maxDuration: .seconds(30), maxIterations: 5)
    for threads in [1, 2] {
        Benchmark("SmolLM2 prefill 512 tokens threads=\(threads)", configuration: config) { benchmark in
            let lm = try LanguageModel.load(threads: threads)
            let ids = Array(lm.tokenizer.encode(ModelBenchmark.fillerText(words: 1024)).prefix(512))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(lm.model.forward(tokens: ids, cache: lm.model.makeCache(capacity: 512)))
            }
        }
        Benchmark("SmolLM2 decode 128 tokens threads=\(threads)", configuration: config) { benchmark in
            let lm = try LanguageModel.load(threads: threads)
            let prompt = lm.encodePrompt(lm.chatPrompt([.user("Describe a water pumping station.")]))
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(lm.generate(prompts: [prompt], parameters: [GenerationParameters(maxTokens: 128)]))
            }
        }
        Benchmark("MiniLM 512 texts x 200 words batch 32 threads=\(threads)", configuration: config) { benchmark in
            let enc = try BERTEncoder(folder: try ModelLocator.encoder(), threads: threads)
            let ids = (0..<512).map { enc.tokenizer.encode(ModelBenchmark.fillerText(words: 200, seed: UInt64($0) + 1)) }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(enc.embed(tokenIDs: ids)) }
        }
    }
}
