import Foundation
import HeraldMIME
import HeraldStore
import NIOConcurrencyHelpers

/// What the router needs to know about a message.
public struct RoutingRequest: Sendable, Hashable {
    /// The account the client asked for by name, if any.
    public var fromAccount: String?
    /// The From address (without display name), lower-cased.
    public var fromAddress: String?
    public var tags: [String]

    public init(fromAccount: String? = nil, fromAddress: String? = nil, tags: [String] = []) {
        self.fromAccount = fromAccount
        self.fromAddress = fromAddress?.lowercased()
        self.tags = tags
    }

    /// The request for a stored message; the address comes from its From header.
    init(_ message: MessageRecord, senders: SenderAddresses) {
        self.init(fromAccount: message.fromAccount, fromAddress: senders.address(in: message.from), tags: message.tags)
    }

    var fromDomain: String? { fromAddress.flatMap { $0.split(separator: "@").last.map(String.init) } }
}

/// The address in each From header, parsed once: a worker's messages mostly share a few
/// senders, and parsing every message's header was 2% of a delivery's CPU.
final class SenderAddresses: Sendable {
    private let known = NIOLockedValueBox<[String: String?]>([:])
    /// Past this many distinct headers the memory starts over.
    private let limit: Int

    init(limit: Int = 1_024) {
        self.limit = limit
    }

    /// The address (not lower-cased), or nil when the header is not a mailbox.
    func address(in header: String) -> String? {
        if let known = known.withLockedValue({ $0[header] }) { return known }
        let address = Self.parse(header)
        known.withLockedValue { known in
            if known.count >= limit { known.removeAll(keepingCapacity: true) }
            known[header] = address
        }
        return address
    }

    static func parse(_ header: String) -> String? {
        (try? Mailbox(parsing: header)).map { "\($0.address)" }
    }

    /// How many headers are remembered.
    var count: Int { known.withLockedValue { $0.count } }
}

/// The accounts that may send a message, best first, and why the others may not.
public struct RoutingPlan: Sendable, Hashable {
    /// Usable now, in the order to try them (the first, then each failover).
    public var candidates: [AccountRecord]
    /// Able to send this message but not now: the earliest time one of them is usable again.
    public var nextAvailable: Date?
    /// Set when no account, as the accounts are set up, can send this message (not merely not
    /// now). A refusal of class `transient` depends on that set-up (an account disabled, removed
    /// or routed elsewhere), which an operator may change back: the message is retried with
    /// backoff, not failed at once.
    public var refusal: DeliveryError?
}

extension AccountRouting {
    /// What is wrong with the rules, by field (`from_domains[0]`, `tags[1]`): a sender domain is a
    /// host name such as example.com, and a tag is what a message may carry (1 to 64 characters
    /// on one line). A rule that can match nothing would otherwise be stored without a word.
    public var problems: [(field: String, reason: String)] {
        var problems: [(field: String, reason: String)] = []
        for (index, domain) in fromDomains.enumerated() {
            let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
            let valid =
                !domain.isEmpty && domain.count <= 253 && labels.count >= 2
                && labels.allSatisfy { label in
                    !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                        && label.allSatisfy { $0 == "-" || $0.isLetter || $0.isNumber }
                }
            if !valid { problems.append(("from_domains[\(index)]", "must be a domain such as example.com")) }
        }
        for (index, tag) in tags.enumerated() where tag.isEmpty || tag.count > 64 || tag.contains(where: \.isNewline) {
            problems.append(("tags[\(index)]", "must be 1 to 64 characters on one line"))
        }
        return problems
    }
}

/// Chooses accounts for a message (DESIGN.md section 5): an explicit `from_account`; else the
/// accounts whose routing rules match (sender domain, tags) before the general ones; then
/// priority tiers (lower first, like MX preference) and, within a tier, a weighted random order.
/// Accounts that are inactive, whose breaker is open, or that a provider throttled are skipped.
///
/// The sandbox (channel `sandbox`) is chosen automatically only while no other active account
/// exists, so that production mail is never silently captured; `from_account` may name it.
public struct AccountRouter: Sendable {
    public var breaker: CircuitBreaker

    public init(breaker: CircuitBreaker = CircuitBreaker()) {
        self.breaker = breaker
    }

    public func plan(_ request: RoutingRequest, accounts: [AccountRecord], now: Date, random: () -> Double) -> RoutingPlan {
        var eligible: [AccountRecord]
        if let name = request.fromAccount {
            guard let account = accounts.first(where: { $0.name == name }) else {
                return refusal("delivery.unknown_account", "there is no account named \(name)")
            }
            guard account.isActive else {
                return refusal("delivery.account_disabled", "the account \(name) is disabled; enable it or choose another")
            }
            eligible = [account]
        } else {
            let active = accounts.filter(\.isActive)
            let real = active.filter { $0.channel != "sandbox" }
            eligible = real.isEmpty ? active : real
            let matching = eligible.filter { routingMatch($0.routing, request) == true }
            let general = eligible.filter { routingMatch($0.routing, request) == nil }
            eligible = matching + general
            guard !eligible.isEmpty else {
                return RoutingPlan(
                    candidates: [], nextAvailable: nil,
                    refusal: accounts.contains(where: \.isActive)
                        ? DeliveryError(
                            code: "delivery.no_matching_account", errorClass: .transient,
                            message: "no active account's routing rules accept this sender domain and these tags")
                        : DeliveryError(code: "delivery.no_active_account", errorClass: .transient, message: "there is no active account"))
            }
        }

        let senderMismatches = eligible.filter { !acceptsSender($0, request) }
        eligible.removeAll { !acceptsSender($0, request) }
        if eligible.isEmpty, let account = senderMismatches.first {
            return RoutingPlan(candidates: [], nextAvailable: nil, refusal: senderMismatch(account, request))
        }

        var usable: [AccountRecord] = []
        var nextAvailable: Date?
        for account in eligible {
            var until: Date?
            if case .skip(let open) = breaker.admission(account, now: now) { until = open }
            if let throttled = account.throttledUntil, throttled > now { until = max(until ?? throttled, throttled) }
            if let until {
                nextAvailable = min(nextAvailable ?? until, until)
            } else {
                usable.append(account)
            }
        }
        return RoutingPlan(candidates: ordered(usable, request, random: random), nextAvailable: nextAvailable, refusal: nil)
    }

    /// `true` when the account's rules name this message's domain or one of its tags, `nil` when
    /// it has no rules (it takes anything), `false` when its rules do not match.
    func routingMatch(_ routing: AccountRouting, _ request: RoutingRequest) -> Bool? {
        if routing.fromDomains.isEmpty && routing.tags.isEmpty { return nil }
        let domainMatches = request.fromDomain.map { domain in routing.fromDomains.contains { $0.lowercased() == domain } } ?? false
        let tagMatches = !Set(routing.tags).isDisjoint(with: request.tags)
        return domainMatches || tagMatches
    }

    /// Rule-matching accounts first, then by priority; within the same rank, each account's
    /// chance of going first is proportional to its weight (Efraimidis and Spirakis, 2006).
    func ordered(_ accounts: [AccountRecord], _ request: RoutingRequest, random: () -> Double) -> [AccountRecord] {
        struct Keyed {
            let account: AccountRecord
            let rank: Int
            let key: Double
        }
        let keyed = accounts.map { account in
            let u = min(max(random(), 1e-12), 1)
            return Keyed(
                account: account, rank: routingMatch(account.routing, request) == true ? 0 : 1,
                key: pow(u, 1 / Double(max(account.weight, 1))))
        }
        return keyed.sorted { (a: Keyed, b: Keyed) in
            (a.rank, a.account.priority, -a.key) < (b.rank, b.account.priority, -b.key)
        }.map(\.account)
    }

    func acceptsSender(_ account: AccountRecord, _ request: RoutingRequest) -> Bool {
        guard account.channel != "sandbox", let provider = account.provider,
            ProviderPreset.all[provider]?.senderRule == .mustBeLogin, let from = request.fromAddress
        else { return true }
        return from == account.email.lowercased() || from == account.login.lowercased()
    }

    private func senderMismatch(_ account: AccountRecord, _ request: RoutingRequest) -> DeliveryError {
        DeliveryError(
            code: "delivery.sender_mismatch", errorClass: .senderRejected,
            message:
                "the message is from \(request.fromAddress ?? "an unknown address") but account \(account.name) logs in as \(account.login)",
            diagnosis: "\(account.provider ?? "This provider") requires the From address and the envelope sender to be the login "
                + "account; send from \(account.email) or through an account that logs in as the From address.")
    }

    /// A refusal that depends on the accounts' set-up, retried with backoff (see `RoutingPlan.refusal`).
    private func refusal(_ code: String, _ message: String) -> RoutingPlan {
        RoutingPlan(candidates: [], nextAvailable: nil, refusal: DeliveryError(code: code, errorClass: .transient, message: message))
    }
}
