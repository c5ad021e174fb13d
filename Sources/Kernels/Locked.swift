// Locked.swift: a value behind a pthread mutex, the project's one lock type.
//
// Why not `Synchronization.Mutex`: on Linux, ThreadSanitizer does not see the ordering Mutex
// provides between our worker threads, and reported accesses guarded by one Mutex as data races
// (ParallelTests, LoopbackServer; reproducible). It intercepts pthread mutexes, so with this type
// the sanitizer checks the locking instead of flagging it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that threads read and write only inside ``withLock(_:)``.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// Guards `value`.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
