import NIOConcurrencyHelpers
import Testing

@testable import HeraldStore

/// The batching behind enqueue and settle: every caller gets its own result, concurrent callers
/// share commits, and parallel lanes really commit side by side.
@Suite("Group commit")
struct GroupCommitterTests {
    /// A commit that doubles each item, takes a moment, and records how many commits overlapped.
    final class Recorder: Sendable {
        private let state = NIOLockedValueBox((running: 0, mostAtOnce: 0, batches: [[Int]]()))

        var mostAtOnce: Int { state.withLockedValue { $0.mostAtOnce } }
        var batches: [[Int]] { state.withLockedValue { $0.batches } }

        func commit(_ items: [Int]) async -> [Result<Int, any Error>] {
            state.withLockedValue { state in
                state.running += 1
                state.mostAtOnce = max(state.mostAtOnce, state.running)
                state.batches.append(items)
            }
            try? await Task.sleep(for: .milliseconds(50))
            state.withLockedValue { $0.running -= 1 }
            return items.map { $0 < 0 ? .failure(StoreError(.invalidArgument, "negative")) : .success($0 * 2) }
        }
    }

    static func submitAll(_ items: [Int], to submit: @escaping @Sendable (Int) async throws -> Int) async -> [Int: Int?] {
        await withTaskGroup(of: (Int, Int?).self) { group in
            for item in items { group.addTask { (item, try? await submit(item)) } }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    @Test func concurrentCallersShareCommitsAndEachGetsItsOwnResult() async {
        let recorder = Recorder()
        let committer = GroupCommitter<Int, Int>(maxBatch: 16) { await recorder.commit($0) }
        let items = Array(-5..<60)
        let results = await Self.submitAll(items) { try await committer.submit($0) }
        for item in items { #expect(results[item] == (item < 0 ? nil : item * 2)) }
        #expect(recorder.mostAtOnce == 1, "one lane commits one batch at a time")
        #expect(recorder.batches.count < items.count, "callers shared commits")
        #expect(recorder.batches.allSatisfy { $0.count <= 16 })
        #expect(recorder.batches.flatMap { $0 }.sorted() == items, "every item was committed once")
    }

    @Test func aBatchStopsAtItsWeightButAlwaysTakesOneItem() async {
        let recorder = Recorder()
        // An item weighs its own value: two of 30 to 49 fit under 100, three do not; 250 goes alone.
        let committer = GroupCommitter<Int, Int>(maxBatch: 16, maxWeight: 100, weight: { $0 }) { await recorder.commit($0) }
        let items = [250] + Array(30..<50)
        let results = await Self.submitAll(items) { try await committer.submit($0) }
        for item in items { #expect(results[item] == item * 2) }
        #expect(recorder.batches.flatMap { $0 }.sorted() == items.sorted(), "every item was committed once")
        for batch in recorder.batches {
            #expect(batch.count == 1 || batch.reduce(0, +) <= 100, "batch \(batch) is over the weight")
        }
        #expect(recorder.batches.contains { $0.count > 1 }, "light items still shared commits")
    }

    @Test func parallelLanesCommitSideBySide() async {
        let recorder = Recorder()
        let committer = ParallelGroupCommitter<Int, Int>(lanes: 2, maxBatch: 16) { await recorder.commit($0) }
        let items = Array(0..<80)
        let results = await Self.submitAll(items) { try await committer.submit($0) }
        for item in items { #expect(results[item] == item * 2) }
        #expect(recorder.mostAtOnce == 2)
        #expect(recorder.batches.flatMap { $0 }.sorted() == items)
        #expect(committer.statistics.items == items.count)
    }

    /// Batches are committed by a task of their own: on the executor given (SQLite's writer
    /// thread), and not cancelled with a caller that gave up waiting.
    @Test func commitsRunOnTheGivenExecutorAndACancelledCallerCancelsNothing() async throws {
        let thread = WriterThread(name: "test-writer")
        defer { thread.stop() }
        let seen = NIOLockedValueBox((onThread: [Bool](), cancelled: [Bool](), items: [Int]()))
        let committer = GroupCommitter<Int, Int>(maxBatch: 4, executor: thread) { items in
            seen.withLockedValue { seen in
                seen.onThread.append(thread.isCurrent)
                seen.cancelled.append(Task.isCancelled)
                seen.items += items
            }
            return items.map { .success($0) }
        }
        let cancelledCaller = Task { try await committer.submit(-1) }
        cancelledCaller.cancel()
        let results = await Self.submitAll(Array(0..<20)) { try await committer.submit($0) }
        #expect(try await cancelledCaller.value == -1, "the cancelled caller's item was committed all the same")
        for item in 0..<20 { #expect(results[item] == item) }
        let committed = seen.withLockedValue { $0 }
        #expect(committed.items.sorted() == Array(-1..<20))
        #expect(!committed.onThread.isEmpty && committed.onThread.allSatisfy { $0 }, "every batch ran on the writer thread")
        #expect(!committed.cancelled.contains(true), "no batch saw a cancellation")
        #expect(!thread.isCurrent)
    }
}
