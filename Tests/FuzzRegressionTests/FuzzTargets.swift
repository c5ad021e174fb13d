// FuzzTargets.swift: the fuzz targets, one function per parser, shared by the libFuzzer binary
// (scripts/fuzz.sh compiles this file with -D FUZZ_BUILD against instrumented copies of the
// modules) and by FuzzRegressionTests, which replays every kept input in Tests/Fuzz/.
// Each target feeds arbitrary bytes to a parser and checks invariants a correct parser keeps;
// a thrown error is a fine outcome, a crash or a broken invariant is not.

import Foundation
#if FUZZ_BUILD
    import Formats
    import Tokenizers
    @testable import FuzzParts
#else
    import Formats
    import Tokenizers
    import Judges
    import Retrieval
    import Scoring
    import Evaluation
    @testable import OpenAICompatible
#endif

/// A broken invariant: traps with its message (kept in optimised builds, unlike precondition's).
func check(_ condition: Bool, _ message: @autoclosure () -> String = "invariant broken", file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}

/// Every fuzz target by name.
enum FuzzTargets {
    static let names = ["gguf", "safetensors", "jsonl-items", "jsonl-pairs", "verdict", "openai", "bpe", "wordpiece", "chunker"]

    /// A scratch file per process for the parsers that read paths.
    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(dir)/longreward-fuzz-\(getpid())"
    }()

    static func withFile<T>(_ data: Data, suffix: String, _ body: (String) throws -> T) rethrows -> T {
        let path = scratch + suffix
        _ = FileManager.default.createFile(atPath: path, contents: data)
        defer { unlink(path) }
        return try body(path)
    }

    /// The embedded models' tokenizers, loaded once (the fuzz script needs `make setup` first).
    static let bpe: BPETokenizer? = {
        let home = ProcessInfo.processInfo.environment["LONGREWARD_HOME"] ?? (NSHomeDirectory() + "/.cache/longreward")
        guard let gguf = try? GGUFFile(path: home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf") else { return nil }
        return try? BPETokenizer(gguf: gguf)
    }()
    static let wordPiece: WordPieceTokenizer? = {
        let home = ProcessInfo.processInfo.environment["LONGREWARD_HOME"] ?? (NSHomeDirectory() + "/.cache/longreward")
        return try? WordPieceTokenizer(contentsOfFile: home + "/models/all-MiniLM-L6-v2/vocab.txt")
    }()

    /// Runs one input through `target`; traps (a finding) when an invariant breaks.
    static func run(_ target: String, _ data: Data) {
        switch target {
        case "gguf":
            withFile(data, suffix: ".gguf") { path in
                guard let file = try? GGUFFile(path: path) else { return }
                // Every tensor the reader accepted lies inside the file.
                for t in file.tensors { check(t.byteCount >= 0) }
            }
        case "safetensors":
            withFile(data, suffix: ".safetensors") { path in
                _ = try? SafeTensorsFile(path: path)
            }
        case "jsonl-items":
            withFile(data, suffix: ".jsonl") { path in
                guard let items = try? ScoreInput.read(path: path, answersRequired: false) else { return }
                for item in items { check(item.line >= 1 && !item.question.isEmpty) }
            }
        case "jsonl-pairs":
            withFile(data, suffix: ".jsonl") { path in
                guard let items = try? EvalInput.read(path: path) else { return }
                for item in items {
                    check(item.item.answers.count >= 2 && !item.preferences.isEmpty)
                    for p in item.preferences {
                        check(item.item.answers.indices.contains(p.better) && item.item.answers.indices.contains(p.worse) && p.better != p.worse)
                    }
                }
            }
        case "verdict":
            let text = String(decoding: data, as: UTF8.self)
            for mode in [ParseMode.rating, .statements, .support, .extract, .text, .choice, .question] {
                if case .rating(let v, _)? = VerdictParser.parse(text, mode: mode) { check((0...10).contains(v)) }
            }
            // Neutralised text holds no verdict opener, closer, chat marker or control character,
            // whatever went in.
            let safe = JudgedText.neutralise(text, blockMarkers: ["Answer:", "[Answer A]"])
            check(!JudgedText.holdsMarker(safe), "neutralised text still holds a marker: \(safe.debugDescription)")
            check(!safe.unicodeScalars.contains(where: JudgedText.isControl), "neutralised text holds a control character")
            _ = JudgedText.ownOutput(text, judged: [String(text.prefix(40))], blockMarkers: [])
        case "openai":
            _ = try? ResponseParsing.chat(data)
            _ = try? ResponseParsing.embeddings(data, count: 2)
            let error = OpenAIClientError.httpStatus(
                429, url: URL(string: "http://127.0.0.1:1/v1/chat/completions")!, body: OpenAIClientError.snippet(data, hiding: "sk-secret"),
                retryAfter: RetryPolicy.parseRetryAfter(String(decoding: data.prefix(32), as: UTF8.self)))
            check(!error.description.contains("sk-secret"))
        case "bpe":
            guard let bpe else { return }
            // Control bytes have no piece in SmolLM2's vocabulary (they encode as its unknown
            // token, and judged text has them replaced first); everything else round-trips.
            let text = String(String.UnicodeScalarView(String(decoding: data, as: UTF8.self).unicodeScalars.filter { !JudgedText.isControl($0) }))
            let ids = bpe.encode(text, parseSpecial: false)
            check(ids.allSatisfy { $0 >= 0 && Int($0) < bpe.vocabularySize })
            // Byte-level BPE round-trips any text.
            // Characters with a byte the vocabulary lacks come back as U+FFFD; nothing else changes,
            // and no unknown (<|endoftext|>) token appears.
            check(!ids.contains { $0 == bpe.unknownID }, "the unknown token in \(text.debugDescription)")
            let back = try? bpe.decode(ids)
            check(back.map { $0.unicodeScalars.count == text.unicodeScalars.count && zip($0.unicodeScalars, text.unicodeScalars).allSatisfy { $0 == $1 || $0 == "\u{FFFD}" } } ?? false, "BPE round trip: \(text.debugDescription) came back as \(String(describing: back?.debugDescription))")
        case "wordpiece":
            guard let wordPiece else { return }
            let ids = wordPiece.encode(String(decoding: data, as: UTF8.self))
            check(ids.count <= 256)
        case "chunker":
            let text = String(decoding: data, as: UTF8.self)
            guard let normal = try? DocumentText.normalise(text: text, source: "fuzz") else { return }
            let chunker = Chunker { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).count + 1 }
            guard let doc = try? chunker.chunk(normal, source: "fuzz", options: ChunkingOptions(fineTokens: 8, coarseTokens: 32)) else { return }
            let bytes = Array(normal.utf8)
            for chunk in doc.fine + doc.coarse {
                check(chunk.byteStart >= 0 && chunk.byteStart <= chunk.byteEnd && chunk.byteEnd <= bytes.count)
            }
        default:
            fatalError("unknown fuzz target '\(target)' (one of \(names.joined(separator: ", ")))")
        }
    }
}

#if FUZZ_BUILD
    /// libFuzzer's entry: the target comes from LONGREWARD_FUZZ_TARGET.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let target = ProcessInfo.processInfo.environment["LONGREWARD_FUZZ_TARGET"] ?? "verdict"
        FuzzTargets.run(target, bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
#endif
