import HeraldDelivery
import HeraldStore
import Testing

/// DESIGN.md section 5's table, row by row.
@Suite struct ErrorPolicyTests {
    struct Row: Sendable, CustomStringConvertible {
        var errorClass: ErrorClass
        var smtpCode: Int?
        var retry: ErrorPolicy.Retry
        var countsAgainstAccount: Bool
        var opensAtOnce: Bool
        var failsOver: Bool
        var throttles: Bool = false
        var description: String { "\(errorClass.rawValue)\(smtpCode.map { " \($0)" } ?? "")" }
    }

    static let table: [Row] = [
        Row(errorClass: .network, retry: .backoff, countsAgainstAccount: true, opensAtOnce: false, failsOver: true),
        Row(errorClass: .timeout, retry: .backoff, countsAgainstAccount: true, opensAtOnce: false, failsOver: true),
        Row(errorClass: .tls, retry: .never, countsAgainstAccount: true, opensAtOnce: true, failsOver: true),
        Row(errorClass: .auth, smtpCode: 535, retry: .never, countsAgainstAccount: true, opensAtOnce: true, failsOver: true),
        Row(errorClass: .auth, smtpCode: 530, retry: .never, countsAgainstAccount: true, opensAtOnce: true, failsOver: true),
        Row(errorClass: .auth, smtpCode: 454, retry: .backoff, countsAgainstAccount: true, opensAtOnce: false, failsOver: true),
        Row(
            errorClass: .rateLimited, retry: .afterRateLimitWindow, countsAgainstAccount: false, opensAtOnce: false, failsOver: true,
            throttles: true),
        Row(errorClass: .senderRejected, retry: .never, countsAgainstAccount: true, opensAtOnce: true, failsOver: true),
        Row(errorClass: .recipientRejected, retry: .never, countsAgainstAccount: false, opensAtOnce: false, failsOver: false),
        Row(errorClass: .contentRejected, retry: .never, countsAgainstAccount: false, opensAtOnce: false, failsOver: false),
        Row(errorClass: .tooLarge, retry: .never, countsAgainstAccount: false, opensAtOnce: false, failsOver: false),
        Row(errorClass: .transient, retry: .backoff, countsAgainstAccount: false, opensAtOnce: false, failsOver: false),
        Row(errorClass: .permanent, retry: .never, countsAgainstAccount: false, opensAtOnce: false, failsOver: false),
        Row(errorClass: .protocol, retry: .once, countsAgainstAccount: true, opensAtOnce: false, failsOver: true),
    ]

    @Test(arguments: table)
    func eachClassFollowsTheTable(row: Row) {
        let rule = ErrorPolicy().rule(for: row.errorClass, smtpCode: row.smtpCode)
        #expect(rule.retry == row.retry)
        #expect(rule.countsAgainstAccount == row.countsAgainstAccount)
        #expect(rule.opensBreakerAtOnce == row.opensAtOnce)
        #expect(rule.failsOver == row.failsOver)
        #expect(rule.throttlesAccount == row.throttles)
    }

    @Test func onlyARefusalThatSaysTheAddressDoesNotExistIsAHardBounce() {
        func bounce(_ accepted: Bool, _ code: Int?, _ enhanced: String?) -> Bool {
            ErrorPolicy.isHardBounce(RecipientOutcome(address: "a@example.com", accepted: accepted, code: code, enhancedCode: enhanced))
        }
        #expect(bounce(false, 550, "5.1.1") && bounce(false, 553, "5.1.3") && bounce(false, 550, "5.1.10"))
        #expect(!bounce(false, 550, nil), "a bare 550 may be policy or spam")
        #expect(!bounce(false, 550, "5.7.1"), "a policy refusal")
        #expect(!bounce(false, 450, "4.1.1"), "temporary")
        #expect(!bounce(true, 250, "2.1.5"))
        #expect(!bounce(false, nil, nil), "Herald's own refusal (already suppressed)")
    }

    @Test func everyClassHasARow() {
        #expect(Set(Self.table.map(\.errorClass)) == Set(ErrorClass.allCases))
    }

    @Test func contentRejectionsFailOverOnlyWhenConfigured() {
        #expect(ErrorPolicy(failOverContentRejections: true).rule(for: .contentRejected).failsOver)
        #expect(!ErrorPolicy(failOverContentRejections: true).rule(for: .contentRejected).countsAgainstAccount)
    }
}
