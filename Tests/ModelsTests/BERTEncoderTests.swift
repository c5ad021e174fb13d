// all-MiniLM-L6-v2 in Swift against sentence-transformers.

import Foundation
import Models
import Testing

@Suite(.serialized) struct BERTEncoderTests {
    /// WordPiece ids identical to sentence-transformers' for all 12 texts (truncated at 256), and
    /// embeddings with cosine >= 0.9999 against its float32 output, batched.
    @Test func embeddingsMatchSentenceTransformers() throws {
        guard let enc = requireModel(sharedEncoder) else { return }
        let g = Fixtures.minilm
        let ids = g.texts.map { enc.tokenizer.encode($0) }
        #expect(ids == g.token_ids)
        let vectors = enc.embed(texts: g.texts, batchSize: 5)
        for (i, v) in vectors.enumerated() {
            let ref = g.embeddings[i]
            var dot = 0.0, nv = 0.0, nr = 0.0
            for j in 0..<v.count { dot += Double(v[j]) * ref[j]; nv += Double(v[j] * v[j]); nr += ref[j] * ref[j] }
            let cosine = dot / (nv.squareRoot() * nr.squareRoot())
            #expect(cosine >= 0.9999, "text \(i): cosine \(cosine)")
            #expect(abs(nv.squareRoot() - 1) < 1e-5)
        }
    }

    /// A batch gives the same vectors as one text at a time (padding is masked).
    @Test func batchingDoesNotChangeEmbeddings() throws {
        guard let enc = requireModel(sharedEncoder) else { return }
        let texts = Array(Fixtures.minilm.texts.prefix(6))
        let batched = enc.embed(texts: texts, batchSize: 6)
        let single = texts.map { enc.embed(texts: [$0])[0] }
        for (a, b) in zip(batched, single) { #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }) }
    }
}
