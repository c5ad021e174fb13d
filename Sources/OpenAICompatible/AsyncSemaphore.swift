// AsyncSemaphore.swift: a counting semaphore for async code, first come first served.
//
// Waiters suspend on a continuation instead of blocking a thread, so thousands of queued calls
// cost nothing but memory. A cancelled waiter leaves the queue and throws `CancellationError`;
// a permit is only ever handed to a waiter still in the queue, so none is lost.

/// Bounds how many tasks run a section at once.
///
/// ```swift
/// let slots = AsyncSemaphore(permits: 8)
/// try await slots.withPermit { try await doRequest() }
/// ```
public actor AsyncSemaphore {
    private var available: Int
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var head = 0  // waiters[head...] are still queued
    private var nextID: UInt64 = 0

    /// Creates a semaphore with `permits` (at least 1) permits.
    public init(permits: Int) {
        precondition(permits >= 1, "AsyncSemaphore needs at least one permit")
        available = permits
    }

    /// Takes a permit, suspending until one is free.
    /// - Throws: `CancellationError` if the task is cancelled while waiting (no permit is taken).
    public func wait() async throws {
        try Task.checkCancellation()
        if available > 0 {
            available -= 1
            return
        }
        let id = nextID
        nextID += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((id, continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// Returns a permit, waking the longest waiter if any.
    public func signal() {
        if head < waiters.count {
            let next = waiters[head].continuation
            head += 1
            compactIfNeeded()
            next.resume()
        } else {
            available += 1
        }
    }

    /// Runs `body` holding a permit, returning it afterwards even when `body` throws.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await wait()
        do {
            let value = try await body()
            signal()
            return value
        } catch {
            signal()
            throw error
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters[head...].firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.continuation.resume(throwing: CancellationError())
    }

    private func compactIfNeeded() {
        if head > 64 && head * 2 > waiters.count {
            waiters.removeFirst(head)
            head = 0
        }
    }
}
