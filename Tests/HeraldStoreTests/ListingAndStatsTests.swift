import Foundation
import HeraldTestSupport
import Testing

@testable import HeraldStore

@Suite("Listing and statistics")
struct ListingAndStatsTests {
    @Test(arguments: StoreBackendKind.allCases)
    func filtersMatchEveryField(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            let welcome = try await store.enqueue(sampleMessage(to: ["Alice@Example.com"], tags: ["welcome"], templateCode: "welcome"))
                .message
            let receipt = try await store.enqueue(sampleMessage(to: ["bob@example.com"], tags: ["receipt"], templateCode: "receipt"))
                .message
            let other = try await store.enqueue(sampleMessage(to: ["carol@example.com"])).message
            let claimed = try await store.claim(limit: 3, owner: "w", lease: .seconds(60))
            let receiptLease = try #require(claimed.first { $0.message.id == receipt.id }).lease
            _ = try await store.settle(Settlement(lease: receiptLease, kind: .delivered, report: deliveredReport(account: 11)))
            let toRelease = claimed.map(\.lease).filter { $0.messageID != receipt.id }
            #expect(toRelease.map(\.messageID) == [welcome.id, other.id])
            #expect(try await store.release(toRelease) == [welcome.id, other.id])

            func ids(_ filter: MessageFilter) async throws -> [Int64] {
                try await store.messages(matching: filter, limit: 50, cursor: nil).messages.map(\.id)
            }
            #expect(try await ids(MessageFilter()) == [other.id, receipt.id, welcome.id], "newest first")
            #expect(try await ids(MessageFilter(statuses: [.success])) == [receipt.id])
            let pendingOrSuccess = try await ids(MessageFilter(statuses: [.pending, .success]))
            #expect(pendingOrSuccess == [other.id, receipt.id, welcome.id])
            #expect(try await ids(MessageFilter(recipient: "alice@example.COM")) == [welcome.id], "addresses match without case")
            #expect(try await ids(MessageFilter(recipient: "cc@example.com")).count == 3, "cc recipients are searchable")
            #expect(try await ids(MessageFilter(templateCode: "receipt")) == [receipt.id])
            #expect(try await ids(MessageFilter(accountID: 11)) == [receipt.id])
            #expect(try await ids(MessageFilter(tag: "welcome")) == [welcome.id])
            #expect(try await ids(MessageFilter(templateCode: "receipt", tag: "welcome")) == [])
            let now = Date()
            #expect(
                try await ids(MessageFilter(createdFrom: now.addingTimeInterval(-600), createdBefore: now.addingTimeInterval(600))).count
                    == 3)
            #expect(try await ids(MessageFilter(createdFrom: now.addingTimeInterval(600))) == [])
            #expect(try await ids(MessageFilter(createdBefore: now.addingTimeInterval(-600))) == [])
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func cursorPaginationVisitsEveryMessageOnce(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            var created: [Int64] = []
            for index in 0..<25 { created.append(try await store.enqueue(sampleMessage(subject: "m\(index)")).message.id) }
            var seen: [Int64] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await store.messages(matching: MessageFilter(), limit: 10, cursor: cursor)
                seen += page.messages.map(\.id)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(seen == created.reversed())
            await #expect(throws: StoreError.self) {
                try await store.messages(matching: MessageFilter(), limit: 10, cursor: "not-a-cursor")
            }
        }
    }

    @Test(arguments: StoreBackendKind.allCases)
    func statsCountStatusesErrorClassesAndAccounts(kind: StoreBackendKind) async throws {
        try await withTestStore(kind) { store, _ in
            for index in 0..<4 { _ = try await store.enqueue(sampleMessage(subject: "s\(index)")) }
            let claimed = try await store.claim(limit: 4, owner: "w", lease: .seconds(60))
            #expect(claimed.count == 4)
            _ = try await store.settle(Settlement(lease: claimed[0].lease, kind: .delivered, report: deliveredReport(account: 1)))
            _ = try await store.settle(Settlement(lease: claimed[1].lease, kind: .delivered, report: deliveredReport(account: 2)))
            _ = try await store.settle(
                Settlement(lease: claimed[2].lease, kind: .failed, report: AttemptReport(accountID: 1, errorClass: "recipient_rejected")))
            _ = try await store.settle(
                Settlement(
                    lease: claimed[3].lease, kind: .retry(after: .seconds(600)), report: AttemptReport(accountID: 2, errorClass: "tls")))
            _ = try await store.enqueue(sampleMessage(subject: "waiting"))

            let stats = try await store.stats(window: .seconds(3600))
            #expect(stats.countsByStatus[.success] == 2)
            #expect(stats.countsByStatus[.failed] == 1)
            #expect(stats.countsByStatus[.retrying] == 1)
            #expect(stats.countsByStatus[.pending] == 1)
            #expect(stats.successRate == 2.0 / 3.0)
            #expect(stats.errorClasses == ["recipient_rejected": 1, "tls": 1])
            #expect(stats.accounts[1] == AccountAttemptCounts(succeeded: 1, failed: 1))
            #expect(stats.accounts[2] == AccountAttemptCounts(succeeded: 1, failed: 1))
            #expect(stats.queueDepth == 2)
        }
    }

    @Test func queueAndListingQueriesUseIndexes() async throws {
        try await withTestStore(.sqlite) { store, _ in
            let store = try #require(store as? SQLiteStore)
            func plan(_ sql: String) async throws -> String {
                try await rawRows(store, "EXPLAIN QUERY PLAN " + sql).compactMap { $0.optionalText("detail") }.joined(separator: "\n")
            }
            let claimPlan = try await plan(store.queries.claim.replacingOccurrences(of: "?", with: "1"))
            #expect(claimPlan.contains("messages_queue"), "\(claimPlan)")
            #expect(!claimPlan.contains("TEMP B-TREE"), "a claim reads the queue in order instead of sorting it: \(claimPlan)")
            for sql in [store.queries.reclaimExpired, store.queries.expire] {
                #expect(!(try await plan(sql.replacingOccurrences(of: "?", with: "1"))).contains("SCAN messages"))
            }
            let recipientPlan = try await plan(
                "SELECT id FROM messages WHERE id IN (SELECT message_id FROM message_recipients WHERE address = 'a') ORDER BY id DESC LIMIT 10"
            )
            #expect(recipientPlan.contains("SEARCH message_recipients"), "\(recipientPlan)")
            let statusPlan = try await plan("SELECT id FROM messages WHERE status IN ('failed') ORDER BY id DESC LIMIT 10")
            #expect(statusPlan.contains("messages_status"), "\(statusPlan)")
        }
    }
}
