// PackedBatchTests.swift: shared-prompt packing computes exactly what the unpacked sequences
// [prompt, chosen] and [prompt, rejected] compute: the same log-probs and the same gradients,
// with several pairs in one packed row that never see each other.

import Foundation
import Testing
@testable import Training

@Suite struct PackedBatchTests {
    @Test func layoutOfAPackedPair() {
        let b = PackedBatch([TrainingSequence(prompt: [5, 6, 7], answers: [[8, 9], [10]]), TrainingSequence(prompt: [1], answers: [[2]])])
        #expect(b.tokens == [5, 6, 7, 8, 9, 10, 1, 2])
        #expect(b.positions == [0, 1, 2, 3, 4, 3, 0, 1])
        #expect(b.segments == [0, 0, 0, 1, 1, 2, 0, 1])
        #expect(b.spans == [0..<6, 6..<8])
        // chosen 8 from row 2 (last prompt token), 9 from row 3; rejected 10 from row 2; 2 from row 6
        #expect(b.scoredRows == [2, 3, 2, 6])
        #expect(b.targets == [8, 9, 10, 2])
        #expect(b.answerOfRow == [0, 0, 1, 2])
        #expect(b.answerLengths == [2, 1, 1])
    }

    @Test func packedEqualsUnpacked() throws {
        let c = try TrainingFixtures.goldenCase()
        let weights = try LlamaParameters.loadHuggingFace(folder: TrainingFixtures.path("policy"))
        // Loss gradient per answer: fixed, distinct numbers.
        let g: [Double] = [0.31, -0.52, 0.17, -0.08]

        let packed = LlamaTrainingModel(weights: weights)
        let sumsPacked = packed.forwardBackward(PackedBatch(TrainingFixtures.sequences(c))) { _ in g }

        let unpacked = LlamaTrainingModel(weights: weights)
        var sumsUnpacked = [Double]()
        var k = 0
        for p in c.pairs {
            for answer in [p.chosen, p.rejected] {
                let gk = g[k]
                // One sequence [prompt, answer], no segments beyond the prompt's.
                sumsUnpacked += unpacked.forwardBackward(PackedBatch([TrainingSequence(prompt: p.prompt, answers: [answer])])) { _ in [gk] }
                k += 1
            }
        }
        for i in 0..<4 { #expect(abs(sumsPacked[i] - sumsUnpacked[i]) < 1e-4, "answer \(i): \(sumsPacked[i]) vs \(sumsUnpacked[i])") }
        for e in packed.gradients.entries {
            let a = packed.gradients.values(e), b = unpacked.gradients.values(e)
            let scale = b.map { abs($0) }.max()!
            let err = zip(a, b).map { abs($0 - $1) }.max()!
            #expect(err <= 1e-5 * max(scale, 1e-3), "\(e.huggingFaceName): \(err) of \(scale)")
        }
    }

    @Test func packedRowsWithManyPairsNeverSeeEachOther() throws {
        let c = try TrainingFixtures.goldenCase()
        let weights = try LlamaParameters.loadHuggingFace(folder: TrainingFixtures.path("policy"))
        let model = LlamaTrainingModel(weights: weights)
        let seqs = TrainingFixtures.sequences(c)
        let alone = seqs.map { model.answerLogProbabilities(PackedBatch([$0])) }
        let together = model.answerLogProbabilities(PackedBatch(seqs + seqs.reversed()))
        let expected = alone.flatMap { $0 } + alone.reversed().flatMap { $0 }
        for i in expected.indices { #expect(abs(together[i] - expected[i]) < 1e-4) }
    }
}
