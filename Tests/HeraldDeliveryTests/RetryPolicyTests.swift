import HeraldDelivery
import Testing

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesFromTheBaseUpToTheCap() {
        let policy = RetryPolicy(base: .seconds(30), cap: .seconds(600), jitter: 0.2)
        let noJitter = { 0.0 }
        #expect(policy.delay(afterAttempt: 1, random: noJitter) == .seconds(30))
        #expect(policy.delay(afterAttempt: 2, random: noJitter) == .seconds(60))
        #expect(policy.delay(afterAttempt: 3, random: noJitter) == .seconds(120))
        #expect(policy.delay(afterAttempt: 5, random: noJitter) == .seconds(480))
        #expect(policy.delay(afterAttempt: 6, random: noJitter) == .seconds(600), "capped")
        #expect(policy.delay(afterAttempt: 500, random: noJitter) == .seconds(600), "no overflow however many attempts")
    }

    @Test func jitterTakesAtMostItsFractionOff() {
        let policy = RetryPolicy(base: .seconds(100), cap: .seconds(1000), jitter: 0.2)
        #expect(policy.delay(afterAttempt: 1, random: { 0.5 }) == .seconds(90))
        #expect(policy.delay(afterAttempt: 1, random: { 0.999_999 }) >= .seconds(80))
        #expect(policy.delay(afterAttempt: 1, random: { 0.0 }) == .seconds(100))
        #expect(RetryPolicy(base: .seconds(10), jitter: 0).delay(afterAttempt: 1, random: { 0.9 }) == .seconds(10))
        #expect(RetryPolicy(base: .seconds(10), jitter: 7).jitter == 1, "clamped")
    }
}
