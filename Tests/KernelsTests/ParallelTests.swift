// Parallel.forEachTask on the persistent WorkerPool: every task runs exactly once, per-worker
// setup runs once per worker, and regions from several threads at once (the pool busy) or nested
// inside a task fall back without deadlocking.

import Dispatch
import Foundation
import Testing
@testable import Kernels

@Suite struct ParallelTests {
    /// Counts how often each task ran. An NSLock, not a `Mutex`: ThreadSanitizer reported the
    /// Mutex-guarded counts as races between pool threads (5 reports, reproducible with this
    /// suite alone) and reports nothing with a pthread lock; see the README, Sanitizers.
    final class Counts: @unchecked Sendable {
        private let lock = NSLock()
        private var runs: [Int]
        private var setupCount = 0
        init(_ n: Int) { runs = [Int](repeating: 0, count: n) }
        func ran(_ t: Int) { lock.lock(); runs[t] += 1; lock.unlock() }
        func setUp() { lock.lock(); setupCount += 1; lock.unlock() }
        var values: [Int] { lock.lock(); defer { lock.unlock() }; return runs }
        var setups: Int { lock.lock(); defer { lock.unlock() }; return setupCount }
    }

    /// A worker's workspace: counts the tasks that worker ran.
    final class Workspace: @unchecked Sendable { var tasks = 0 }

    @Test(arguments: [1, 2, 3, 8])
    func everyTaskRunsExactlyOnce(_ threads: Int) {
        for tasks in [1, 2, 7, 100] {
            for _ in 0..<50 {  // many regions: helpers park and wake between them
                let c = Counts(tasks)
                Parallel.forEachTask(
                    threads: threads, tasks: tasks, setup: { _ in c.setUp(); return 0 },
                    body: { _, t in c.ran(t) })
                #expect(c.values == [Int](repeating: 1, count: tasks), "threads \(threads) tasks \(tasks)")
                #expect(c.setups == min(threads, tasks))
            }
        }
    }

    @Test func workspacesArePerWorker() {
        // One workspace per worker; together they ran every task once.
        let spaces = Locked<[Workspace]>([])
        Parallel.forEachTask(
            threads: 2, tasks: 1000,
            setup: { _ in let w = Workspace(); spaces.withLock { $0.append(w) }; return w },
            body: { ws, _ in ws.tasks += 1 })
        let all = spaces.withLock { $0 }
        #expect(all.count == 2)
        #expect(all.reduce(0) { $0 + $1.tasks } == 1000)
    }

    @Test func nestedRegionsDoNotDeadlock() {
        let c = Counts(4 * 5)
        Parallel.forEachTask(
            threads: 2, tasks: 4, setup: { _ in () },
            body: { _, outer in
                Parallel.forEachTask(
                    threads: 2, tasks: 5, setup: { _ in () },
                    body: { _, inner in c.ran(outer * 5 + inner) })
            })
        #expect(c.values == [Int](repeating: 1, count: 20))
    }

    @Test func concurrentCallersDoNotDeadlock() {
        // Four threads each run 200 regions; only one can hold the pool at a time.
        let c = Counts(4 * 200 * 3)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for region in 0..<200 {
                Parallel.forEachTask(
                    threads: 2, tasks: 3, setup: { _ in () },
                    body: { _, t in c.ran((caller * 200 + region) * 3 + t) })
            }
        }
        #expect(c.values == [Int](repeating: 1, count: 2400))
    }
}
