// Parallel.swift: the kernels' one way to use several cores: a fixed number of workers pulling
// task indices, in increasing order, from a shared counter (dynamic scheduling). Tasks are
// numbered so that the most expensive come first when that balances the load.

import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared task counter handed to workers.
final class TaskCounter: Sendable {
    let next = Atomic<Int>(0)
}

/// A per-index ticket: the sequence number of the next writer allowed to touch an output block.
/// Used to make accumulations that several workers contribute to happen in a fixed order, so
/// results are bitwise identical from run to run whatever the thread count and timing.
final class Ticket: Sendable {
    let value = Atomic<Int>(0)

    /// Spins (yielding the core) until the ticket shows `turn`.
    @inline(__always)
    func wait(for turn: Int) {
        while value.load(ordering: .acquiring) != turn { _ = sched_yield() }
    }

    /// Lets the writer with sequence number `turn` go next.
    @inline(__always)
    func pass(to turn: Int) { value.store(turn, ordering: .releasing) }
}

/// Pointer wrapper for handing buffers to worker closures under strict concurrency.
/// Workers write disjoint regions (or regions ordered by a ``Ticket``); see each call site.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
    init(_ p: UnsafePointer<T>) { pointer = UnsafeMutablePointer(mutating: p) }
}

enum Parallel {
    /// Runs `body(worker, task)` for every task in `0..<tasks` on up to `threads` workers.
    /// Each worker first calls `setup(worker)` once (allocate its workspace there).
    /// Tasks are handed out in increasing order.
    static func forEachTask<W>(
        threads: Int, tasks: Int,
        setup: @Sendable (Int) -> W,
        body: @Sendable (inout W, Int) -> Void
    ) {
        if tasks == 0 { return }
        let workers = max(1, min(threads, tasks))
        let counter = TaskCounter()
        // With one worker, concurrentPerform runs the closure inline on the calling thread.
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var workspace = setup(w)
            while true {
                let t = counter.next.add(1, ordering: .relaxed).oldValue
                if t >= tasks { break }
                body(&workspace, t)
            }
        }
    }
}
