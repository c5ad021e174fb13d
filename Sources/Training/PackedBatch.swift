// PackedBatch.swift: shared-prompt packing of training sequences into one token list.
//
// A sequence is a prompt followed by one or more answers that each continue the prompt:
//   [prompt | answer 0 | answer 1]        (a DPO pair: chosen, rejected)
//   segments  0 ... 0 | 1 ... 1 | 2 ... 2
//   positions 0..P-1  | P..P+A-1| P..P+B-1 (every answer restarts at the prompt's end)
// Attention runs per sequence (a span of the packed list) with a causal mask and segments, so an
// answer sees the prompt and its own earlier tokens, never another answer, and sequences never
// see each other. Token-wise work (projections, norms, MLP) runs over the whole list at once.
//
// Answer token i is predicted from the hidden state of the token before it in its own sequence:
// the prompt's last token for i = 0, else the answer's token i - 1. Only these rows reach the
// LM head, so the cost and memory of logits scale with answer tokens, not with T x V.

/// One training sequence: a prompt and the answers that continue it.
public struct TrainingSequence: Sendable, Equatable {
    /// Prompt token ids (at least one).
    public var prompt: [Int32]
    /// Answers, each scored on its own (one for KTO or log-prob passes, two for a DPO pair).
    public var answers: [[Int32]]

    /// Creates a sequence.
    public init(prompt: [Int32], answers: [[Int32]]) {
        self.prompt = prompt
        self.answers = answers
    }

    /// Tokens the packed form holds.
    public var packedCount: Int { prompt.count + answers.reduce(0) { $0 + $1.count } }
}

/// Several ``TrainingSequence``s packed into one token list with attention spans.
public struct PackedBatch: Sendable {
    /// Token ids `[T]`.
    public var tokens: [Int32] = []
    /// RoPE positions `[T]`.
    public var positions: [Int32] = []
    /// Segment ids `[T]` (0 prompt, k + 1 answer k), relative to each span.
    public var segments: [Int32] = []
    /// Per sequence, its range of the token list; attention never crosses a span.
    public var spans: [Range<Int>] = []
    /// Per scored answer token, the row whose hidden state predicts it `[M]`.
    public var scoredRows: [Int32] = []
    /// Per scored answer token, the token id `[M]`.
    public var targets: [Int32] = []
    /// Per scored answer token, the index of its answer in ``answerLengths`` `[M]`.
    public var answerOfRow: [Int32] = []
    /// Tokens per answer, over all sequences in order (sequence 0's answers first).
    public var answerLengths: [Int] = []

    /// Number of tokens `T`.
    public var count: Int { tokens.count }
    /// Largest position + 1.
    public var positionLimit: Int { Int(positions.max() ?? 0) + 1 }

    /// Packs `sequences` in order.
    public init(_ sequences: [TrainingSequence]) {
        for s in sequences {
            precondition(!s.prompt.isEmpty, "PackedBatch: a sequence needs at least one prompt token")
            let start = tokens.count
            let P = s.prompt.count
            tokens += s.prompt
            positions += (0..<P).map { Int32($0) }
            segments += [Int32](repeating: 0, count: P)
            for (k, answer) in s.answers.enumerated() {
                let a0 = tokens.count
                let answerIndex = Int32(answerLengths.count)
                for (i, t) in answer.enumerated() {
                    scoredRows.append(Int32(i == 0 ? start + P - 1 : a0 + i - 1))
                    targets.append(t)
                    answerOfRow.append(answerIndex)
                }
                tokens += answer
                positions += (0..<answer.count).map { Int32(P + $0) }
                segments += [Int32](repeating: Int32(k + 1), count: answer.count)
                answerLengths.append(answer.count)
            }
            spans.append(start..<tokens.count)
        }
    }
}
