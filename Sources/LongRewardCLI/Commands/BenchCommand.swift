// `longreward bench ...`: measurements of the numeric core and models.

import ArgumentParser
import Benchmarking
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure kernels and models on this machine.",
        subcommands: [BenchAttentionCommand.self]
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
