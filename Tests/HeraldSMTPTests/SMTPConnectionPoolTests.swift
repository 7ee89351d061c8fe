import HeraldSMTP
import HeraldTestSupport
import Testing

@Suite struct SMTPConnectionPoolTests {
    typealias Fault = SMTPTestServer.Fault

    /// A pool on `server` over STARTTLS; `timeouts`, when given, for every step of its sessions
    /// (generous ones for a test that looks at the pool while the server holds a reply).
    static func pool(
        _ server: SMTPTestServer, timeouts: Duration? = nil, _ configure: (inout SMTPConnectionPool.Options) -> Void = { _ in }
    ) -> SMTPConnectionPool {
        var configuration = LiveTestServerTests.client(server, security: .startTLS)
        if let timeouts { configuration.timeouts = .uniform(timeouts) }
        var options = SMTPConnectionPool.Options()
        configure(&options)
        return SMTPConnectionPool(configuration: configuration, options: options)
    }

    static let envelope = LiveFaultTests.envelope
    static let message = LiveTestServerTests.message

    @Test func connectionsAreReusedAndRetiredAfterTheirMessageBudget() async throws {
        try await LiveFaultTests.withServer { server in
            let pool = Self.pool(server) { $0.maxMessagesPerConnection = 2 }
            for _ in 0..<5 { _ = try await pool.send(Self.envelope, message: Self.message) }
            await pool.shutdown()
            #expect(server.received.count == 5)
            #expect(server.connectionCount == 3)
        }
    }

    @Test func concurrentSendsShareAtMostMaxConnections() async throws {
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.endOfData, .delay(.milliseconds(20)))] }) { server in
            let pool = Self.pool(server) { $0.maxConnections = 2 }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 { group.addTask { _ = try await pool.send(Self.envelope, message: Self.message) } }
                try await group.waitForAll()
            }
            await pool.shutdown()
            #expect(server.received.count == 12)
            #expect(server.connectionCount <= 2)
        }
    }

    /// With PIPELINING, busy connections take more messages at once (up to `sendsPerConnection`),
    /// each queued behind the previous one's content; without it, one message per connection.
    /// The server holds the first message's final reply until every send is in flight or waiting,
    /// so what the pool does is looked at in a state that lasts, however slow the machine.
    @Test(arguments: [true, false])
    func busyConnectionsTakeSeveralMessagesOnlyWithPipelining(pipelining: Bool) async throws {
        try await LiveFaultTests.withServer({
            $0.pipelining = pipelining
            $0.faults = [Fault(.endOfData, .hold, times: 1)]
        }) { server in
            let pool = Self.pool(server, timeouts: .seconds(300)) {
                $0.maxConnections = 1
                $0.sendsPerConnection = 4
                $0.acquireTimeout = .seconds(300)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { _ = try await pool.send(Self.envelope, message: Self.message) } }
                let settled = try await eventually(timeout: .seconds(60)) { () async -> (inFlight: Int, waiting: Int)? in
                    let (inFlight, waiting) = (await pool.sendsInFlight, await pool.sendsWaiting)
                    return server.heldReplyCount == 1 && inFlight + waiting == 8 ? (inFlight, waiting) : nil
                }
                #expect(settled.inFlight == (pipelining ? 4 : 1), "sends in flight on the one connection: \(settled)")
                if !pipelining {
                    #expect(server.commands.count { $0.hasPrefix("MAIL") } == 1, "\(server.commands)")
                }
                server.releaseHeldReplies()
                try await group.waitForAll()
            }
            await pool.shutdown()
            #expect(server.received.count == 8)
            #expect(server.connectionCount == 1)
        }
    }

    /// `abort()` ends a send waiting for its final reply at once, rather than after the reply's
    /// timeout (minutes); the server holds that reply for a minute here.
    @Test func abortEndsASendWaitingForItsReply() async throws {
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.endOfData, .delay(.seconds(60)))] }) { server in
            // Generous timeouts and wait: in one CI run of every suite at once, the server did not
            // have the message within 20 s, with the usual 10 s timeouts for the session.
            let pool = Self.pool(server, timeouts: .seconds(90))
            let send = Task { try await pool.send(Self.envelope, message: Self.message) }
            _ = try await eventually(timeout: .seconds(60)) { server.received.isEmpty ? nil : true }
            await pool.abort()
            let outcome = await send.result
            #expect(throws: SMTPError.self) { try outcome.get() }
            #expect(await pool.sendsInFlight == 0)
        }
    }

    /// `abort()` does not wait for a greeting that is slow to come: a stop would otherwise wait
    /// up to the greeting timeout (five minutes by default).
    @Test func abortEndsAConnectionWaitingForItsGreeting() async throws {
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.connect, .delay(.seconds(60)))] }) { server in
            var configuration = LiveTestServerTests.client(server, security: .startTLS)
            configuration.timeouts.greeting = .seconds(120)
            let pool = SMTPConnectionPool(configuration: configuration)
            let started = ContinuousClock.now
            let send = Task { try await pool.send(Self.envelope, message: Self.message) }
            _ = try await eventually { server.connectionCount >= 1 ? true : nil }
            await pool.abort()
            let outcome = await send.result
            let waited = ContinuousClock.now - started
            #expect(waited < .seconds(30), "the send ended \(waited) after it started, not at the abort")
            #expect {
                try outcome.get()
            } throws: { error in
                (error as? SMTPError)?.code == "smtp.pool_closed"
            }
            #expect(await pool.openConnections == 0)
            #expect(!server.commands.contains { $0.hasPrefix("MAIL") }, "\(server.commands)")
        }
    }

    /// A connection still opening when `abort()` comes is closed once open, and sends nothing.
    @Test func abortLeavesAConnectionStillOpeningUnused() async throws {
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.connect, .delay(.seconds(1)))] }) { server in
            let pool = Self.pool(server)
            let send = Task { try await pool.send(Self.envelope, message: Self.message) }
            // At least: after 500 ms without a greeting a probe opens a second connection.
            _ = try await eventually { server.connectionCount >= 1 ? true : nil }
            await pool.abort()
            let outcome = await send.result
            #expect(throws: SMTPError.self) { try outcome.get() }
            #expect(!server.commands.contains { $0.hasPrefix("MAIL") }, "\(server.commands)")
            #expect(server.received.isEmpty)
        }
    }

    @Test func waitingForAFreeConnectionIsBounded() async throws {
        // The first message's final reply is held until the second send has timed out.
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.endOfData, .hold)] }) { server in
            let pool = Self.pool(server, timeouts: .seconds(300)) {
                $0.maxConnections = 1
                $0.acquireTimeout = .milliseconds(200)
            }
            async let slow = pool.send(Self.envelope, message: Self.message)
            defer { server.releaseHeldReplies() }
            // Wait until the first send holds the only connection.
            _ = try await eventually(timeout: .seconds(60)) { server.heldReplyCount == 1 ? true : nil }
            do {
                _ = try await pool.send(Self.envelope, message: Self.message)
                Issue.record("the second send should have timed out")
            } catch let error as SMTPError {
                #expect(error.code == "smtp.pool_timeout")
                #expect(error.classification == .timeout)
            }
            server.releaseHeldReplies()
            _ = try await slow
            await pool.shutdown()
        }
    }

    @Test func connectionIsRetiredAfter421() async throws {
        try await LiveFaultTests.withServer({ $0.faults = [Fault(.command("MAIL"), .reply("421 4.4.2 closing"), times: 1)] }) { server in
            let pool = Self.pool(server)
            await #expect(throws: SMTPError.self) { _ = try await pool.send(Self.envelope, message: Self.message) }
            _ = try await pool.send(Self.envelope, message: Self.message)
            await pool.shutdown()
            #expect(server.connectionCount == 2)
            #expect(server.received.count == 1)
        }
    }

    @Test func idleConnectionIsCheckedWithNoopBeforeReuse() async throws {
        try await LiveFaultTests.withServer { server in
            let pool = Self.pool(server) { $0.healthCheckAfterIdle = .zero }
            _ = try await pool.send(Self.envelope, message: Self.message)
            _ = try await pool.send(Self.envelope, message: Self.message)
            await pool.shutdown()
            #expect(server.commands.filter { $0 == "NOOP" }.count == 1)
            #expect(server.connectionCount == 1)
        }
    }

    @Test func closedPoolRefusesSends() async throws {
        try await LiveFaultTests.withServer { server in
            let pool = Self.pool(server)
            await pool.shutdown()
            do {
                _ = try await pool.send(Self.envelope, message: Self.message)
                Issue.record("a closed pool sent a message")
            } catch let error as SMTPError {
                #expect(error.code == "smtp.pool_closed")
            }
        }
    }
}
