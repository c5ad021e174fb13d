// `longreward index`: ingest, chunk, embed and index documents into a store.

import ArgumentParser
import Benchmarking
import Foundation
import Scoring

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Ingest documents (txt, md, jsonl) into a store: chunk, embed once, add to the FAISS index.",
        discussion: """
            A txt or md file is one document named after the file; a jsonl file holds one document per \
            line ("text" or "context", optional "id"). Documents already in the store are skipped; \
            each document is committed on its own, so an interrupted run resumes where it stopped.
            """)

    @Argument(help: "Document files.")
    var documents: [String]

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "Requests in flight for an HTTP embedder.")
    var concurrency: Int = 8

    func validate() throws {
        guard !documents.isEmpty else { throw ValidationError("give at least one document") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        var table = TextTable(["document", "tokens", "fine", "coarse", "status", "seconds"])
        let results = try await IndexJob.run(paths: documents, options: try storeOptions.pipeline(concurrency: concurrency)) { doc in
            Console.status("indexed \(doc.id): \(doc.tokens) tokens, \(doc.fineChunks) chunks")
        }
        Console.clearStatus()
        for d in results {
            table.add([d.id, "\(d.tokens)", "\(d.fineChunks)", "\(d.coarseChunks)", d.added ? "added" : "already indexed", String(format: "%.1f", d.seconds)])
        }
        print(table.render())
    }
}
