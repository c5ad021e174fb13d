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
    ///
    /// With one worker everything runs inline on the calling thread. Otherwise the workers are
    /// the caller (worker 0) and the persistent threads of ``WorkerPool/shared``; if the pool is
    /// already running a region (another thread's, or this call is nested inside a task), the
    /// region runs on Dispatch instead, so callers never wait for each other.
    static func forEachTask<W>(
        threads: Int, tasks: Int,
        setup: @Sendable (Int) -> W,
        body: @Sendable (inout W, Int) -> Void
    ) {
        if tasks == 0 { return }
        let workers = max(1, min(threads, tasks))
        if workers == 1 {
            var workspace = setup(0)
            for t in 0..<tasks { body(&workspace, t) }
            return
        }
        let counter = TaskCounter()
        let worker: @Sendable (Int) -> Void = { w in
            var workspace = setup(w)
            while true {
                let t = counter.next.add(1, ordering: .relaxed).oldValue
                if t >= tasks { break }
                body(&workspace, t)
            }
        }
        if !WorkerPool.shared.run(workers: workers, worker) {
            DispatchQueue.concurrentPerform(iterations: workers, execute: worker)
        }
    }
}

/// Persistent worker threads for ``Parallel/forEachTask(threads:tasks:setup:body:)``: created
/// once (grown on demand), parked on a condition variable between parallel regions after a
/// short spin, so a decode step's hundreds of small regions do not each pay Dispatch's thread
/// wake-ups. One region at a time: ``run(workers:_:)`` returns false when the pool is busy.
final class WorkerPool: @unchecked Sendable {
    /// The process-wide pool.
    static let shared = WorkerPool()

    /// Iterations a parked-to-be worker polls for the next region before sleeping: about 60 µs
    /// on this machine kind, longer than the serial gaps inside a decode step (quantising a
    /// product's input, setting up batched attention: up to ~10 µs). At a tenth of that, helpers
    /// fell asleep inside steps and each futex wake-up cost more than the gap: 3% of a 2-thread
    /// batch-16 decode step.
    static let spinIterations = 200_000

    // Guarded by `mutex` (written by the region's caller, read by helpers after waking).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private var generation = 0
    private var job: (@Sendable (Int) -> Void)?
    private var participants = 0
    private var helperCount = 0

    /// The current region's number, for spinning helpers (mirrors `generation`).
    private let published = Atomic<Int>(0)
    /// Helpers of the current region that have not finished.
    private let pending = Atomic<Int>(0)
    /// Whether a caller owns the pool.
    private let busy = Atomic<Bool>(false)

    private init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    /// Runs `worker(0)` on the calling thread and `worker(1) ... worker(workers - 1)` on pool
    /// threads, and returns once all have returned. Returns false (running nothing) when
    /// another region holds the pool.
    func run(workers: Int, _ worker: @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        growHelpers(to: workers - 1)
        withoutActuallyEscaping(worker) { escapable in
            pending.store(workers - 1, ordering: .relaxed)
            pthread_mutex_lock(mutex)
            job = escapable
            participants = workers
            generation += 1
            published.store(generation, ordering: .releasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            escapable(0)
            var spins = 0
            while pending.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > 1000 { _ = sched_yield() }
            }
            pthread_mutex_lock(mutex)
            job = nil  // helpers dropped their copies before counting themselves done
            pthread_mutex_unlock(mutex)
        }
        return true
    }

    /// Starts helper threads until there are `count` (called by the pool's owner only).
    private func growHelpers(to count: Int) {
        while helperCount < count {
            helperCount += 1
            let context = Unmanaged.passRetained(HelperContext(pool: self, index: helperCount)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<HelperContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.helperLoop(index: context.index)
                return nil
            }, context)
            precondition(rc == 0, "WorkerPool: pthread_create failed (\(rc))")
            pthread_detach(thread)
        }
    }

    /// A helper's life: wait for a region newer than the last one seen, run its share if its
    /// index is below the region's worker count, report done.
    private func helperLoop(index: Int) -> Never {
        var seen = 0
        while true {
            var spins = 0
            while published.load(ordering: .acquiring) == seen && spins < Self.spinIterations { spins += 1 }
            pthread_mutex_lock(mutex)
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            var mine = index < participants ? job : nil
            pthread_mutex_unlock(mutex)
            if mine != nil {
                mine!(index)
                mine = nil  // release the job before the caller may leave withoutActuallyEscaping
                pending.subtract(1, ordering: .releasing)
            }
        }
    }
}

/// What a new helper thread needs: its pool and its worker index (1-based).
private final class HelperContext {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
