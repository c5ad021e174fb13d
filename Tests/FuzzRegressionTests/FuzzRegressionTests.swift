// FuzzRegressionTests.swift: every kept fuzz input (seeds and the inputs that once crashed, in
// Tests/Fuzz/) goes through its target again, plus a short seeded mutation smoke run per target.
// The long runs are scripts/fuzz.sh's job; this keeps fixed crashes fixed in `make test`.

import Foundation
import Kernels
import Testing

private let fuzzFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fuzz").standardized

/// The files kept for a target: seeds and regressions.
private func kept(_ target: String) -> [URL] {
    ["seeds", "regressions"].flatMap { kind -> [URL] in
        let folder = fuzzFolder.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }
}

@Suite struct FuzzRegressionTests {
    @Test(arguments: FuzzTargets.names)
    func keptInputsPass(target: String) throws {
        let files = kept(target)
        #expect(!files.isEmpty, "no seeds for \(target) in Tests/Fuzz/seeds/\(target)")
        for file in files { FuzzTargets.run(target, try Data(contentsOf: file)) }
    }

    /// A few thousand seeded mutations of the seeds (bit flips, byte insertions and deletions,
    /// splices): not a replacement for libFuzzer, a tripwire that costs seconds.
    @Test(arguments: FuzzTargets.names)
    func mutationSmoke(target: String) throws {
        let seeds = try kept(target).map { try [UInt8](Data(contentsOf: $0)) }
        var rng = SplitMix64(seed: 0xF022 &+ UInt64(target.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        let rounds = ["bpe", "wordpiece", "gguf", "safetensors"].contains(target) ? 300 : 1500
        for _ in 0..<rounds {
            var bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 5 {
                case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                case 2 where !bytes.isEmpty: bytes.remove(at: position)
                case 3 where !bytes.isEmpty: bytes[position] = [0, 0xFF, 0x7F, 0x80, UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\"")][Int(rng.next() % 7)]
                default:
                    let other = seeds[Int(rng.next() % UInt64(seeds.count))]
                    if !other.isEmpty { bytes.insert(contentsOf: other.prefix(Int(rng.next() % UInt64(other.count)) + 1), at: position) }
                }
            }
            FuzzTargets.run(target, Data(bytes))
        }
    }
}
