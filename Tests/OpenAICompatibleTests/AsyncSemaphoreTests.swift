// AsyncSemaphoreTests.swift: permits, FIFO hand-off and cancellation of waiters.

import OpenAICompatible
import Testing

@Suite struct AsyncSemaphoreTests {
    @Test func boundsConcurrencyAndHandsOffInOrder() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        let running = Shared((now: 0, peak: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    try await semaphore.withPermit {
                        running.update {
                            $0.now += 1
                            $0.peak = max($0.peak, $0.now)
                        }
                        try await Task.sleep(nanoseconds: 2_000_000)
                        running.update { $0.now -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(running.value.peak == 3)
        #expect(running.value.now == 0)
    }

    @Test func cancelledWaiterLeavesWithoutTakingAPermit() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.wait()
        let waiter = Task { try await semaphore.wait() }
        try await Task.sleep(nanoseconds: 20_000_000)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await semaphore.signal()
        // The permit went back to the pool, not to the cancelled waiter.
        try await semaphore.wait()
    }
}
