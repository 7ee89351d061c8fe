import Foundation
import HeraldStore
import Testing

@testable import HeraldDelivery

@Suite struct AccountRouterTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    let router = AccountRouter()

    static func account(
        _ id: Int64, _ name: String, priority: Int = 10, weight: Int = 1, channel: String = "smtp", email: String? = nil,
        routing: AccountRouting = AccountRouting(), provider: String? = nil
    ) -> AccountRecord {
        AccountRecord(
            id: id,
            settings: AccountSettings(
                name: name, email: email ?? "\(name)@example.com", smtpHost: "smtp.example.com", smtpPort: 465, security: .tls,
                channel: channel, priority: priority, weight: weight, routing: routing, provider: provider))
    }

    static let sandbox = account(1, "sandbox", priority: 1000, channel: "sandbox")

    func names(_ plan: RoutingPlan) -> [String] { plan.candidates.map(\.name) }

    @Test func theSandboxIsChosenOnlyWhileNoOtherActiveAccountExists() {
        let request = RoutingRequest(fromAddress: "app@example.com")
        #expect(names(router.plan(request, accounts: [Self.sandbox], now: Self.now, random: { 0.5 })) == ["sandbox"])
        var real = Self.account(2, "real")
        #expect(names(router.plan(request, accounts: [Self.sandbox, real], now: Self.now, random: { 0.5 })) == ["real"])
        // An open breaker does not bring the sandbox back: production mail is never silently captured.
        real.health = .open
        real.openedUntil = Self.now.addingTimeInterval(60)
        let plan = router.plan(request, accounts: [Self.sandbox, real], now: Self.now, random: { 0.5 })
        #expect(plan.candidates.isEmpty && plan.nextAvailable == Self.now.addingTimeInterval(60) && plan.refusal == nil)
        real.isActive = false
        #expect(names(router.plan(request, accounts: [Self.sandbox, real], now: Self.now, random: { 0.5 })) == ["sandbox"])
        let named = RoutingRequest(fromAccount: "sandbox")
        #expect(
            names(router.plan(named, accounts: [Self.sandbox, Self.account(2, "real")], now: Self.now, random: { 0.5 })) == ["sandbox"])
    }

    @Test func anExplicitAccountIsTheOnlyCandidate() {
        let accounts = [Self.account(2, "a", priority: 1), Self.account(3, "b", priority: 2)]
        #expect(names(router.plan(RoutingRequest(fromAccount: "b"), accounts: accounts, now: Self.now, random: { 0.5 })) == ["b"])
        let unknown = router.plan(RoutingRequest(fromAccount: "zzz"), accounts: accounts, now: Self.now, random: { 0.5 })
        #expect(unknown.refusal?.code == "delivery.unknown_account")
        var disabled = accounts
        disabled[1].isActive = false
        let refused = router.plan(RoutingRequest(fromAccount: "b"), accounts: disabled, now: Self.now, random: { 0.5 })
        #expect(refused.refusal?.code == "delivery.account_disabled")
    }

    @Test func priorityTiersComeFirstThenRoutingRulesBeforeGeneralAccounts() {
        let accounts = [
            Self.account(2, "backup", priority: 20),
            Self.account(3, "main", priority: 10),
            Self.account(4, "cn", priority: 30, routing: AccountRouting(fromDomains: ["qq.com"])),
            Self.account(5, "marketing", priority: 1, routing: AccountRouting(tags: ["marketing"])),
        ]
        let plain = RoutingRequest(fromAddress: "app@example.com")
        #expect(names(router.plan(plain, accounts: accounts, now: Self.now, random: { 0.5 })) == ["main", "backup"])
        let chinese = RoutingRequest(fromAddress: "Notice@QQ.com")
        #expect(names(router.plan(chinese, accounts: accounts, now: Self.now, random: { 0.5 })) == ["cn", "main", "backup"])
        let tagged = RoutingRequest(fromAddress: "app@example.com", tags: ["marketing"])
        #expect(names(router.plan(tagged, accounts: accounts, now: Self.now, random: { 0.5 })) == ["marketing", "main", "backup"])
    }

    @Test func weightsSetTheChanceOfGoingFirstWithinATier() {
        let accounts = [Self.account(2, "heavy", weight: 3), Self.account(3, "light", weight: 1)]
        var generator = SplitMix(seed: 7)
        var firsts: [String: Int] = [:]
        for _ in 0..<4000 {
            let plan = router.plan(RoutingRequest(), accounts: accounts, now: Self.now, random: { generator.nextDouble() })
            firsts[plan.candidates[0].name, default: 0] += 1
            #expect(plan.candidates.count == 2)
        }
        let share = Double(firsts["heavy"] ?? 0) / 4000
        #expect(abs(share - 0.75) < 0.04, "heavy goes first about 3 times in 4, got \(share)")
    }

    @Test func openThrottledAndInactiveAccountsAreSkipped() {
        var open = Self.account(2, "open", priority: 1)
        open.health = .open
        open.openedUntil = Self.now.addingTimeInterval(100)
        var throttled = Self.account(3, "throttled", priority: 2)
        throttled.throttledUntil = Self.now.addingTimeInterval(40)
        var cooled = Self.account(4, "cooled", priority: 3)
        cooled.health = .open
        cooled.openedUntil = Self.now.addingTimeInterval(-1)
        var inactive = Self.account(5, "inactive", priority: 0)
        inactive.isActive = false
        let healthy = Self.account(6, "healthy", priority: 9)
        let plan = router.plan(RoutingRequest(), accounts: [open, throttled, cooled, inactive, healthy], now: Self.now, random: { 0.5 })
        #expect(names(plan) == ["cooled", "healthy"], "a cooled-down breaker is a candidate for its probe")
        #expect(plan.nextAvailable == Self.now.addingTimeInterval(40))
    }

    @Test func providersThatRequireTheLoginAsSenderRefuseAMismatchBeforeSending() {
        let qq = Self.account(2, "qq", email: "1905985427@qq.com", provider: "qq")
        let ok = router.plan(RoutingRequest(fromAddress: "1905985427@qq.com"), accounts: [qq], now: Self.now, random: { 0.5 })
        #expect(names(ok) == ["qq"])
        let mismatch = router.plan(RoutingRequest(fromAddress: "noreply@example.com"), accounts: [qq], now: Self.now, random: { 0.5 })
        #expect(mismatch.candidates.isEmpty)
        #expect(mismatch.refusal?.code == "delivery.sender_mismatch" && mismatch.refusal?.errorClass == .senderRejected)
        #expect(mismatch.refusal?.diagnosis?.contains("1905985427@qq.com") == true)
        let relay = Self.account(3, "relay", priority: 50)
        let failover = router.plan(
            RoutingRequest(fromAddress: "noreply@example.com"), accounts: [qq, relay], now: Self.now, random: { 0.5 })
        #expect(names(failover) == ["relay"], "an account that may send it is used instead")
    }
}

/// A seeded generator, so that the weighted test is the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextDouble() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}

@Suite struct SenderAddressesTests {
    @Test func eachHeaderIsReadOnceAndAnswersAsAParseWould() {
        let senders = SenderAddresses(limit: 3)
        let headers = ["Herald <noreply@example.com>", "=?UTF-8?B?57O757uf?= <Notice@QQ.com>", "plain@example.com", "not a mailbox"]
        for _ in 0..<2 {
            for header in headers { #expect(senders.address(in: header) == SenderAddresses.parse(header)) }
        }
        #expect(senders.address(in: "Herald <noreply@example.com>") == "noreply@example.com")
        #expect(senders.address(in: "not a mailbox") == nil)
        #expect(senders.count <= 3, "past its limit the memory starts over")
    }
}
