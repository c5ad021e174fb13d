// `longreward bench ...`: measurements of the numeric core and models.

import ArgumentParser
import Benchmarking
import Foundation
import Judges
import Kernels
import Models

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure kernels and models on this machine.",
        subcommands: [BenchAttentionCommand.self, BenchModelCommand.self, BenchEmbedCommand.self, BenchHTTPCommand.self, BenchTrainCommand.self, BenchJudgeCommand.self]
    )
}

struct BenchAttentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Time flash attention forward and forward+backward (causal GQA, 9/3 heads, head dim 64).",
        discussion: """
            Reports seconds, GFLOP/s (causal forward = 2*N*N*d*H, backward = 2.5x forward) and peak \
            resident memory per case, beside cblas_sgemm's GFLOP/s on 2048^3 measured in the same run.
            """
    )

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Comma-separated sequence lengths.")
    var lengths: String = "1024,4096,16384,32768"

    @Flag(name: .long, help: "Time the forward pass only.")
    var forwardOnly = false

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard parsedLengths != nil else {
            throw ValidationError("--lengths must be positive integers separated by commas, got '\(lengths)'")
        }
    }

    var parsedLengths: [Int]? {
        let parts = lengths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return parts.map { $0! }
    }

    func run() async throws {
        let config = AttentionBenchmarkConfiguration(
            lengths: parsedLengths!, threads: threads, includeBackward: !forwardOnly)
        let report = AttentionBenchmark.run(config) { Console.status($0) }
        Console.clearStatus()
        if json {
            print(try Console.json(report))
        } else {
            print(AttentionBenchmark.table(report))
        }
    }
}

struct BenchModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Decoder throughput: prefill (default 512 tokens), greedy decode (128 steps) and, with --batch, batched decode; tokens/s.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Prompt tokens prefilled (and decoded after).")
    var promptTokens: Int = 512

    @Option(name: .long, help: "Decode steps timed.")
    var decodeTokens: Int = 128

    @Option(name: .long, help: "Comma-separated batch sizes for batched decode (tokens/s summed over the batch), e.g. 1,4,16.")
    var batch: String = ""

    @Option(name: .long, help: "Prefills timed, and decode rounds (one sequence's decode, then every batch size); each figure is its best.")
    var runs: Int = 3

    func validate() throws {
        guard promptTokens >= 1, decodeTokens >= 1 else { throw ValidationError("--prompt-tokens and --decode-tokens must be positive") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
        guard batchSizes != nil else { throw ValidationError("--batch: expected positive integers separated by commas, got '\(batch)'") }
    }

    private var batchSizes: [Int]? {
        if batch.isEmpty { return [] }
        let v = batch.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return v.allSatisfy({ ($0 ?? 0) >= 1 }) ? v.map { $0! } : nil
    }

    @Flag(name: .long, help: "With --batch: also where a batched step's time goes (milliseconds per step: products, attention, LM head, sampling, the rest).")
    var profile = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        Console.status("loading model")
        let lm = try modelOptions.load()
        Console.status("prefill \(promptTokens) + decode \(decodeTokens) with \(modelOptions.threads) thread(s)")
        let r = ModelBenchmark.decoder(
            lm, threads: modelOptions.threads, promptTokens: promptTokens, decodeTokens: decodeTokens, batches: batchSizes ?? [],
            runs: runs, profile: profile)
        Console.clearStatus()
        if json {
            print(try Console.json(r))
        } else {
            print(String(format: "threads %d: prefill %.1f tokens/s (%d tokens), decode %.1f tokens/s (%d steps), peak RSS %.0f MiB; best of %d rounds",
                         r.threads, r.prefillTokensPerSecond, r.promptTokens, r.decodeTokensPerSecond, r.decodeTokens,
                         Double(r.peakRSSBytes) / 1_048_576, r.runs))
            for f in r.batchedDecode {
                print(String(format: "  batch %2d: decode %.1f tokens/s summed (%.2fx one sequence)", f.batch, f.tokensPerSecond, f.speedup))
                if let ms = f.millisecondsPerStep { print("            " + Self.profileLine(ms, step: 1000 * Double(f.batch) / f.tokensPerSecond)) }
            }
        }
    }
}

extension BenchModelCommand {
    /// "step 49.0 ms: qkv 4.1, attention 15.3, ..., unaccounted 0.2" from milliseconds per part.
    static func profileLine(_ ms: [String: Double], step: Double) -> String {
        let parts = ForwardProfile.Part.allCases.compactMap { p in ms[p.rawValue].map { p.rawValue + String(format: " %.1f", $0) } }
        let rest = step - ms.values.reduce(0, +)
        return String(format: "step %.1f ms: ", step) + parts.joined(separator: ", ") + String(format: ", unaccounted %.1f", rest)
    }
}

struct BenchEmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Encoder throughput: 512 texts of about 200 words, batch 32, sentences/s.")

    @OptionGroup var encoderOptions: EncoderOptions

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() async throws {
        Console.status("loading encoder")
        let enc = try BERTEncoder(folder: try ModelLocator.encoder(encoderOptions.model), threads: encoderOptions.threads)
        Console.status("embedding 512 texts with \(encoderOptions.threads) thread(s)")
        let r = ModelBenchmark.encoder(enc, threads: encoderOptions.threads)
        Console.clearStatus()
        if json {
            print(try Console.json(r))
        } else {
            print(String(format: "threads %d: %.1f sentences/s (%d texts, %.0f tokens each on average), peak RSS %.0f MiB",
                         r.threads, r.sentencesPerSecond, r.texts, r.meanTokens, Double(r.peakRSSBytes) / 1_048_576))
        }
    }
}

struct BenchTrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "One DPO optimiser step on one pair of random ids: pair tokens/s (2 (P + A) / s) and peak memory.",
        discussion: "Compare with PyTorch eager on the same shape: ../shared/peers/torch_dpo_step.py.")

    @Option(name: .long, help: "Model (llama GGUF or Hugging Face folder). Default: the embedded SmolLM2.")
    var model: String?

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Prompt tokens P.")
    var promptTokens: Int = 1792

    @Option(name: .long, help: "Tokens of each answer A.")
    var answerTokens: Int = 256

    @Flag(name: .long, help: "Keep every block's activations instead of recomputing them.")
    var noRecompute = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard threads >= 1, promptTokens >= 1, answerTokens >= 1 else { throw ValidationError("--threads, --prompt-tokens and --answer-tokens must be positive") }
    }

    func run() async throws {
        Console.status("one DPO step on P \(promptTokens) + 2 x A \(answerTokens) with \(threads) thread(s)")
        let r = try TrainBenchmark.run(
            modelPath: try ModelLocator.decoder(model), promptTokens: promptTokens, answerTokens: answerTokens, threads: threads, recompute: !noRecompute)
        Console.clearStatus()
        if json { print(try Console.json(r)); return }
        print(String(format: "threads %d, P %d A %d%@: %.1f pair tokens/s (%.2f s per pair), reference pass %.0f packed tokens/s (%.0f pair tokens/s), peak RSS %.0f MiB",
                     r.threads, r.promptTokens, r.answerTokens, r.recompute ? "" : " (no recompute)", r.pairTokensPerSecond, r.secondsPerPair,
                     r.referenceTokensPerSecond, r.referencePairTokensPerSecond, Double(r.peakRSSBytes) / 1_048_576))
    }
}

struct BenchJudgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge",
        abstract: "The embedded judge under load: the demo's rubric calls, many in flight, with and without continuous batching.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Judge calls in the set.")
    var calls: Int = 32

    @Option(name: .long, help: "Calls in flight (and the most decoded together).")
    var inFlight: Int = 16

    @Option(name: .long, help: "Completion budget per call.")
    var maxTokens: Int = 256

    @Option(name: .long, help: "Verdict mode: parse, expected or direct.")
    var verdict: VerdictMode = .parse

    @Option(name: .long, help: "Decode activations: float32 (exact, the judge's default) or q8 (integer kernels).")
    var decodeActivations: ActivationPrecision = .float32

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard calls >= 1, inFlight >= 1, maxTokens >= 8 else { throw ValidationError("--calls and --in-flight must be positive, --max-tokens at least 8") }
    }

    func run() async throws {
        Console.status("loading model")
        let lm = try modelOptions.load()
        let folder = try RubricLibrary.locate()
        let root = (folder as NSString).deletingLastPathComponent
        let document = try String(contentsOfFile: root + "/Corpora/harrow-valley-report.md", encoding: .utf8)
        let requests = try JudgeBenchmark.requests(
            rubrics: try RubricLibrary(folder: folder), demoItems: root + "/Corpora/harrow-valley-demo.jsonl", document: document,
            count: calls, maxTokens: maxTokens, verdict: verdict)
        Console.status("\(calls) judge calls, \(inFlight) in flight, \(modelOptions.threads) thread(s), \(decodeActivations.rawValue) decode, continuous then static batching")
        let r = try await JudgeBenchmark.run(lm, requests: requests, inFlight: inFlight, verdict: verdict, decodeActivations: decodeActivations)
        Console.clearStatus()
        if json { print(try Console.json(r)); return }
        for f in r.results {
            print(String(format: "%@: %d calls in %.1f s, %.2f calls/s, %.1f generated tokens/s (%d generated, %d prefilled), latency mean %.1f s, max %.1f s",
                         f.continuousBatching ? "continuous" : "static    ", r.calls, f.seconds, f.callsPerSecond, f.tokensPerSecond,
                         f.generatedTokens, f.promptTokens, f.meanLatency, f.maxLatency))
        }
    }
}
