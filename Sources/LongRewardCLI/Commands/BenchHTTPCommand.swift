// `longreward bench http`: OpenAI-compatible client throughput against a loopback server.

import ArgumentParser
import Benchmarking

struct BenchHTTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract:
            "Judge/embedder HTTP client throughput against a loopback server with a fixed delay.",
        discussion: """
            A loopback server answers every chat completion after --delay-ms; the client keeps \
            --in-flight requests open. Reports requests/s beside the ideal in-flight/delay, the \
            per-call client overhead \
            ((wall - ceil(requests / in-flight) * delay) * in-flight / requests) \
            and client latency p50/p99.
            """
    )

    @Option(name: .long, help: "Requests in flight (the client's maxInFlight).")
    var inFlight: Int = 32

    @Option(
        name: .long,
        help: "Server delay before each answer, in milliseconds (0 measures pure overhead).")
    var delayMs: Double = 50

    @Option(name: .long, help: "Requests to time (after a warm-up of --in-flight requests).")
    var requests: Int = 640

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
        guard delayMs >= 0 else { throw ValidationError("--delay-ms must not be negative") }
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
    }

    func run() async throws {
        let config = HTTPBenchmarkConfiguration(
            inFlight: inFlight, delaySeconds: delayMs / 1000, requests: requests)
        let report = try await HTTPBenchmark.run(config) { Console.status($0) }
        Console.clearStatus()
        print(json ? try Console.json(report) : HTTPBenchmark.summary(report))
    }
}
