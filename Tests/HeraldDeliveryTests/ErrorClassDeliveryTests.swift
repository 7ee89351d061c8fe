import Foundation
import HeraldDelivery
import HeraldStore
import HeraldTestSupport
import Testing

/// For each error class, live against the fault-injecting server: account A (tried first) fails
/// that way, account B is healthy. The table decides whether B gets the message, whether the
/// message retries or fails, and whether A's breaker counts it.
@Suite struct ErrorClassDeliveryTests {
    typealias Fault = SMTPTestServer.Fault

    struct Case: Sendable, CustomStringConvertible {
        var errorClass: ErrorClass
        var faults: [Fault] = []
        var implicitTLSServer = false
        var wrongPassword = false
        var recipients = ["rcpt@example.com"]
        /// Expected: B delivers (failover); otherwise the message ends `retrying` or `failed`.
        var failsOver: Bool
        var endStatus: MessageStatus
        var countsAgainstA: Bool
        var opensA: Bool
        var throttlesA = false
        var description: String { errorClass.rawValue + (faults.isEmpty ? "" : " \(faults.map { "\($0.trigger)" })") }
    }

    static let cases: [Case] = [
        Case(
            errorClass: .network, faults: [Fault(.connect, .drop)], failsOver: true, endStatus: .success, countsAgainstA: true,
            opensA: false),
        Case(
            errorClass: .timeout, faults: [Fault(.command("MAIL"), .silence)], failsOver: true, endStatus: .success, countsAgainstA: true,
            opensA: false),
        Case(errorClass: .tls, implicitTLSServer: true, failsOver: true, endStatus: .success, countsAgainstA: true, opensA: true),
        Case(errorClass: .auth, wrongPassword: true, failsOver: true, endStatus: .success, countsAgainstA: true, opensA: true),
        Case(
            errorClass: .auth, faults: [Fault(.command("AUTH"), .reply("454 4.7.0 Temporary authentication failure"))], failsOver: true,
            endStatus: .success, countsAgainstA: true, opensA: false),
        Case(
            errorClass: .rateLimited, faults: [Fault(.command("MAIL"), .reply("450 4.7.0 Mail frequency limited, try later"))],
            failsOver: true, endStatus: .success, countsAgainstA: false, opensA: false, throttlesA: true),
        Case(
            errorClass: .senderRejected,
            faults: [Fault(.command("MAIL"), .reply("501 5.1.7 mail from address must be same as authorization user"))],
            failsOver: true, endStatus: .success, countsAgainstA: true, opensA: true),
        Case(
            errorClass: .recipientRejected, recipients: ["refuse-1@example.com", "refuse-2@example.com"], failsOver: false,
            endStatus: .failed, countsAgainstA: false, opensA: false),
        Case(
            errorClass: .contentRejected, faults: [Fault(.endOfData, .reply("554 5.7.1 DT:SPM message rejected as spam"))],
            failsOver: false, endStatus: .failed, countsAgainstA: false, opensA: false),
        Case(
            errorClass: .tooLarge, faults: [Fault(.endOfData, .reply("552 5.3.4 Message size exceeds fixed limit"))], failsOver: false,
            endStatus: .failed, countsAgainstA: false, opensA: false),
        Case(
            errorClass: .transient, faults: [Fault(.command("DATA"), .reply("451 4.3.0 Local error in processing"))], failsOver: false,
            endStatus: .retrying, countsAgainstA: false, opensA: false),
        Case(
            errorClass: .permanent, faults: [Fault(.endOfData, .reply("554 5.3.0 Transaction failed"))], failsOver: false,
            endStatus: .failed, countsAgainstA: false, opensA: false),
        Case(
            errorClass: .protocol, faults: [Fault(.command("MAIL"), .garbage)], failsOver: true, endStatus: .success,
            countsAgainstA: true, opensA: false),
    ]

    @Test(arguments: cases)
    func eachErrorClassRetriesFailsOverAndCountsAsTheTableSays(testCase: Case) async throws {
        let faulty = try await Harness.server {
            $0.faults = testCase.faults
            $0.implicitTLS = testCase.implicitTLSServer
        }
        let healthy = try await Harness.server()
        defer {
            Task {
                await faulty.stop()
                await healthy.stop()
            }
        }
        try await withTestStore(.sqlite) { store, _ in
            let a = try await Harness.account(
                store, "a", server: faulty, priority: 1, password: testCase.wrongPassword ? "wrong" : Harness.password)
            let b = try await Harness.account(store, "b", server: healthy, priority: 2)
            let id = try await store.enqueue(Harness.message(to: testCase.recipients)).message.id

            let message = try await Harness.withWorker(store) { _ in
                try await Harness.status(store, id, in: [.success, .retrying, .failed])
            }
            #expect(message.status == testCase.endStatus)
            let attempts = try await store.attempts(messageID: id)
            let first = try #require(attempts.first)
            #expect(first.accountID == a.id)
            #expect(first.errorClass == testCase.errorClass.rawValue, "\(first.errorCode ?? "") \(first.errorMessage ?? "")")
            if testCase.failsOver {
                #expect(attempts.map(\.outcome) == [.failedOver, .success])
                #expect(attempts.last?.accountID == b.id)
                #expect(healthy.received.count == 1)
            } else {
                #expect(attempts.map(\.outcome) == [testCase.endStatus == .retrying ? .retry : .failed])
                #expect(healthy.received.isEmpty, "no failover for \(testCase.errorClass)")
            }
            let after = try #require(try await store.account(id: a.id))
            #expect(after.failureCount == (testCase.countsAgainstA ? 1 : 0))
            #expect((after.health == .open) == testCase.opensA)
            #expect((after.throttledUntil != nil) == testCase.throttlesA)
            if testCase.countsAgainstA { #expect(after.lastErrorCode == first.errorCode) }
        }
    }
}
