// ForwardProfile.swift: where a decoder step's wall time goes, part by part (`bench model
// --profile`). Off unless a profile is attached to the model; when on, the forward pass reads
// the clock at each part boundary (a dozen reads per layer).

import Dispatch

/// Wall time of a decoder's forward passes by part, accumulated while attached to
/// ``LlamaModel/profile``. Written by the thread that runs the forward pass; attach one profile
/// to one model at a time and read it when the passes are done.
public final class ForwardProfile: @unchecked Sendable {
    /// A part of a step, in the order the text report lists them.
    public enum Part: String, CaseIterable, Sendable {
        /// The fused query/key/value product.
        case qkv
        /// Attention, with the key/value cache writes.
        case attention
        /// The attention output product.
        case output
        /// The fused gate/up product.
        case gateUp = "gate_up"
        /// SwiGLU.
        case swiglu
        /// The down product.
        case down
        /// The LM head (recorded by callers that compute logits: ``add(_:seconds:)``).
        case lmHead = "lm_head"
        /// Choosing the next tokens (recorded by callers).
        case sampling
        /// Everything else: embeddings, norms, RoPE, residual adds, copies, bookkeeping.
        case other
    }

    /// Seconds accumulated per part.
    public private(set) var seconds: [Part: Double] = [:]

    /// An empty profile.
    public init() {}

    /// Clears every part.
    public func reset() { seconds = [:] }

    /// Adds `seconds` to `part`.
    public func add(_ part: Part, seconds s: Double) { seconds[part, default: 0] += s }

    /// Runs `body` and adds its wall time to `part`.
    public func time<R>(_ part: Part, _ body: () throws -> R) rethrows -> R {
        let t = Self.now()
        defer { seconds[part, default: 0] += Double(Self.now() &- t) * 1e-9 }
        return try body()
    }

    /// Total over the parts.
    public var total: Double { seconds.values.reduce(0, +) }

    /// The clock, in nanoseconds.
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Attributes the time since `mark` to `part` and moves `mark` to now.
    func lap(_ part: Part, _ mark: inout UInt64) {
        let t = Self.now()
        seconds[part, default: 0] += Double(t &- mark) * 1e-9
        mark = t
    }
}
