import Testing

@testable import HeraldStore

@Suite("Start latch", .timeLimit(.minutes(1)))
struct StartLatchTests {
    @Test func waitersGoWhenItOpensAndLaterOnesAtOnce() async throws {
        let latch = StartLatch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await latch.wait() } }
            #expect(!latch.isOpen)
            latch.open()
            try await group.waitForAll()
        }
        try await latch.wait()
        #expect(latch.isOpen)
    }

    @Test func aCancelledWaiterThrowsAndTheLatchStaysShut() async throws {
        let latch = StartLatch()
        let waiter = Task { try await latch.wait() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(!latch.isOpen)
    }
}
