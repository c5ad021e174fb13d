// ChunkerTests.swift: normalisation, sentence splitting and token windows with offsets.

import Foundation
import Formats
import Retrieval
import Testing

/// One token per whitespace-separated word: easy to reason about in tests.
private let wordChunker = Chunker { text in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count }

@Suite struct ChunkerTests {
    @Test func normalisationFixesNewlinesAndRejectsBinary() throws {
        #expect(try DocumentText.normalise(text: "a\r\nb\rc\n\n  ", source: "t") == "a\nb\nc")
        #expect(try DocumentText.normalise(bytes: [0xEF, 0xBB, 0xBF] + Array("hi".utf8), source: "t") == "hi")
        #expect(throws: RetrievalError.emptyDocument(source: "t")) { try DocumentText.normalise(text: " \n\t ", source: "t") }
        #expect(throws: RetrievalError.self) { try DocumentText.normalise(bytes: [0xFF, 0xFE, 0x00, 0x41], source: "t") }
        #expect(throws: RetrievalError.self) { try DocumentText.normalise(bytes: Array("ab\u{0}cd".utf8), source: "t") }
    }

    @Test func sentencesSplitOnTerminatorsAndNewlinesButNotAbbreviations() {
        let text = "Dr. Smith arrived at 3.5 p.m. on Monday. Did it work? Yes! \"Quoted end.\" Next\nline two"
        let bytes = Array(text.utf8)
        let sentences = Sentences.ranges(bytes).map { String(decoding: bytes[$0.0..<$0.1], as: UTF8.self) }
        #expect(sentences == [
            "Dr. Smith arrived at 3.5 p.m. on Monday.", "Did it work?", "Yes!", "\"Quoted end.\"", "Next", "line two",
        ])
    }

    @Test func chunksRespectSizeKeepOffsetsAndNeverCutWords() throws {
        // 40 sentences of 7 words each.
        let text = (0..<40).map { "Sentence \($0) has exactly seven words here." }.joined(separator: " ")
        let doc = try wordChunker.chunk(text, source: "t", options: ChunkingOptions(fineTokens: 20, coarseTokens: 100))
        #expect(doc.tokenCount == 280)
        for level in [doc.fine, doc.coarse] {
            var expectedStart = 0
            for (i, chunk) in level.enumerated() {
                #expect(chunk.ordinal == i)
                #expect(chunk.tokenStart == expectedStart)
                expectedStart = chunk.tokenEnd
                let bytes = Array(text.utf8)[chunk.byteStart..<chunk.byteEnd]
                #expect(String(decoding: bytes, as: UTF8.self) == chunk.text)
                #expect(chunk.text.hasPrefix("Sentence") && chunk.text.hasSuffix("here."), "cut inside a sentence: \(chunk.text)")
            }
            #expect(expectedStart == 280)
        }
        // 20-token windows hold two 7-word sentences; 100-token windows hold 14.
        #expect(doc.fine.allSatisfy { $0.tokenCount == 14 })
        #expect(doc.coarse.map(\.tokenCount) == [98, 98, 84])
    }

    @Test func overlongSentencesSplitBetweenWordsThenCharacters() throws {
        let long = (0..<50).map { "w\($0)" }.joined(separator: " ")
        let doc = try wordChunker.chunk(long, source: "t", options: ChunkingOptions(fineTokens: 8, coarseTokens: 16))
        #expect(doc.fine.allSatisfy { $0.tokenCount <= 8 })
        #expect(doc.fine.map(\.text).joined(separator: " ") == long)
        // A single 'word' longer than any window is cut between characters (UTF-8 safe).
        let blob = String(repeating: "é", count: 100)
        let charChunker = Chunker { $0.count }
        let pieces = try charChunker.chunk(blob, source: "t", options: ChunkingOptions(fineTokens: 8, coarseTokens: 8)).fine
        #expect(pieces.allSatisfy { $0.tokenCount <= 8 && !$0.text.isEmpty })
        #expect(pieces.map(\.text).joined() == blob)
    }

    @Test func documentsOverTheLimitAreRefused() throws {
        let text = String(repeating: "word ", count: 500)
        #expect(throws: RetrievalError.documentTooLong(source: "big.txt", tokens: 500, limit: 400)) {
            try wordChunker.chunk(text, source: "big.txt", options: ChunkingOptions(fineTokens: 10, coarseTokens: 50, maxDocumentTokens: 400))
        }
        // Far over the limit, the byte-size bound refuses before tokenising anything.
        #expect(throws: RetrievalError.documentTooLong(source: "big.txt", tokens: 312, limit: 100)) {
            try wordChunker.chunk(text, source: "big.txt", options: ChunkingOptions(fineTokens: 10, coarseTokens: 50, maxDocumentTokens: 100))
        }
        #expect(throws: RetrievalError.self) { try ChunkingOptions(fineTokens: 64, coarseTokens: 32).validate() }
    }

    @Test func jsonlDocumentsReportTheirLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chunker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let good = folder.appendingPathComponent("docs.jsonl").path
        try "{\"id\": \"a\", \"text\": \"Alpha.\"}\n\n{\"context\": \"Beta.\"}\n".write(toFile: good, atomically: true, encoding: .utf8)
        let docs = try DocumentText.read(path: good)
        #expect(docs.map(\.id) == ["a", "docs-3"])
        #expect(docs.map(\.text) == ["Alpha.", "Beta."])
        let bad = folder.appendingPathComponent("bad.jsonl").path
        try "{\"text\": \"ok\"}\n{\"text\": 3}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        do {
            _ = try DocumentText.read(path: bad)
            Issue.record("accepted a bad line")
        } catch let error as RetrievalError {
            #expect(error.description.contains("bad.jsonl:2"))
        }
        #expect(throws: RetrievalError.self) { try DocumentText.read(path: folder.appendingPathComponent("missing.txt").path) }
    }
}
