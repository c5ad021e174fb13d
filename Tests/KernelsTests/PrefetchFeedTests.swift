// PrefetchFeed: ranges become whole 64-byte lines in order, claims hand each line out once
// (also to concurrent claimers), and clearing empties the feed.

import Dispatch
@testable import Kernels
import Testing

@Suite struct PrefetchFeedTests {
    @Test func rangesBecomeWholeLinesInOrder() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { buffer.deallocate() }
        let base = UInt(bitPattern: buffer)
        let feed = PrefetchFeed()
        #expect(feed.remainingLines == 0 && feed.take(4).isEmpty)
        feed.add(buffer + 10, bytes: 100)    // bytes 10 ..< 110: lines 0 and 64
        feed.add(buffer + 1024, bytes: 64)   // exactly one line
        feed.add(buffer + 2000, bytes: 0)    // nothing
        feed.add(buffer + 2047, bytes: 2)    // straddles 2048: lines 1984 and 2048
        #expect(feed.remainingLines == 5)
        #expect(feed.take(3) == [base, base + 64, base + 1024])
        #expect(feed.remainingLines == 2)
        #expect(feed.take(10) == [base + 1984, base + 2048])
        #expect(feed.take(1).isEmpty && feed.remainingLines == 0)
        feed.clear()
        #expect(feed.remainingLines == 0)
        feed.add(buffer, bytes: 4096)
        #expect(feed.remainingLines == 64 && feed.take(64) == (0..<64).map { base + UInt(64 * $0) })
    }

    @Test func concurrentClaimsTakeEveryLineOnce() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 10_000, alignment: 64)
        defer { buffer.deallocate() }
        let feed = PrefetchFeed()
        for r in 0..<100 { feed.add(buffer + 6400 * r, bytes: 6400) }  // 100 ranges of 100 lines
        let taken = Locked<[UInt]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            var mine: [UInt] = []
            while true {
                let lines = feed.take(7 + w)
                if lines.isEmpty { break }
                #expect(zip(lines, lines.dropFirst()).allSatisfy { $1 == $0 + 64 })  // a claim is one run
                mine += lines
            }
            taken.withLock { $0 += mine }
        }
        let all = taken.withLock { $0 }.sorted()
        #expect(all == (0..<10_000).map { UInt(bitPattern: buffer) + UInt(64 * $0) })
    }
}
