// CallPlan.swift: how many judge calls a run expects, refined as the work reveals its size
// (the number of statements is known only once they are extracted), for progress and ETA.

import Foundation
import Store

/// A running estimate of a run's judge calls (logical calls; parse retries come on top).
public final class CallPlan: @unchecked Sendable {
    /// Support calls assumed per answer until its statements are extracted.
    public static let statementsEstimate = 6

    private let lock = NSLock()
    private var planned = 0

    /// Creates an empty plan.
    public init() {}

    /// Adds (or, negative, removes) expected calls.
    public func add(_ calls: Int) { lock.withLock { planned += calls } }

    /// The calls expected in all.
    public var total: Int { lock.withLock { planned } }
}

extension Scorer {
    /// Judge calls that scoring these answers of one item will make: for each answer without a
    /// stored reward, helpfulness, logic, statements, completeness and an estimated
    /// ``CallPlan/statementsEstimate`` support calls (corrected once the statements are known);
    /// plus one extraction per coarse chunk when any answer is to be scored.
    public func plannedCalls(document: DocumentRecord, answers: [AnswerRecord]) throws -> Int {
        let pending = try answers.filter { try index.store.rewardRecord(answerID: $0.id, configHash: configHash) == nil }.count
        guard pending > 0 else { return 0 }
        let coarse = try index.store.chunks(documentID: document.id, level: .coarse).count
        return coarse + pending * (4 + CallPlan.statementsEstimate)
    }
}
