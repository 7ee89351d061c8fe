import Foundation
import HTTPTypes
import HeraldAPI
import HeraldDelivery
import HeraldStore
import HeraldTestSupport
import Testing

/// `/api/v1/messages`: the original request, validation, idempotency, status, listing, cancel and retry.
@Suite struct MessageRouteTests {
    @Test(arguments: StoreBackendKind.allCases)
    func theOriginalRequestIsQueuedWithTheOriginalEnvelope(kind: StoreBackendKind) async throws {
        try await APIHarness.withAPI(kind) { api, store in
            #expect(try await api.call(.post, "/api/v1/templates", body: APIHarness.template).status == .created)
            let answer = try await api.call(
                .post, "/api/v1/messages/email/send", body: APIHarness.seed, headers: [.init("X-Request-Id")!: "23e10cbd-trace"])
            #expect(answer.status == .accepted)
            #expect(answer.code == 0 && answer.json["message"] as? String == "Message queued for sending")
            #expect(answer.json["request_id"] as? String == "23e10cbd-trace" && answer.headers[.init("X-Request-Id")!] == "23e10cbd-trace")
            #expect(answer.data["status"] as? String == "pending" && answer.data["request_id"] as? String == "23e10cbd-trace")
            let id = try #require(answer.data["message_id"] as? Int)
            let stored = try #require(try await store.message(id: Int64(id)))
            #expect(stored.subject == "【测试】系统通知 - 2025-10-25 17:05:00")
            #expect(stored.to == ["205672513@qq.com"] && stored.templateCode == "test_email" && stored.requestID == "23e10cbd-trace")
            let bytes = String(decoding: try #require(try await store.messageBytes(id: Int64(id))), as: UTF8.self)
            #expect(bytes.contains("Message-ID: <\(stored.messageIDHeader ?? "?")>"))
        }
    }

    /// Sends tell the delivery worker of the same process that the API is busy; reads (a
    /// dashboard polling) do not.
    @Test func sendsAndNotReadsMarkTheAPIBusyForDelivery() async throws {
        let pressure = RequestPressure(window: .seconds(3_600))
        try await APIHarness.withAPI(requestPressure: pressure) { (api: APIClient, _: any Store) async throws in
            #expect(try await api.call(.post, "/api/v1/templates", body: APIHarness.template).status == .created)
            #expect(try await api.call(.get, "/api/v1/messages").status == .ok)
            #expect(try await api.call(.get, "/api/v1/stats").status == .ok)
            #expect(!pressure.isBusy)
            #expect(try await api.call(.post, "/api/v1/messages/email/send", body: APIHarness.seed).status == .accepted)
            #expect(pressure.isBusy)
        }
    }

    @Test func theFromHeaderFollowsTheAccountsAsTheyChange() async throws {
        try await APIHarness.withAPI { api, store in
            #expect(try await api.call(.post, "/api/v1/templates", body: APIHarness.template).status == .created)
            let tagged = APIHarness.seed.replacingOccurrences(of: #""to":"#, with: #""tags": ["vip"], "to":"#)
            func from(_ body: String) async throws -> String {
                let answer = try await api.call(.post, "/api/v1/messages/email/send", body: body)
                let id = try #require(answer.data["message_id"] as? Int, "\(answer.text)")
                return try #require(try await store.message(id: Int64(id))).from
            }
            func account(_ name: String, _ extra: String = "") -> String {
                #"{"name": "\#(name)", "email": "\#(name)@example.com", "smtp_host": "smtp.example.com", "smtp_port": 587\#(extra)}"#
            }
            #expect(try await from(APIHarness.seed) == "Herald sandbox <sandbox@herald.localhost>")

            let main = try await api.call(.post, "/api/v1/accounts", body: account("main"))
            let mainID = try #require(main.data["id"] as? Int, "\(main.text)")
            #expect(try await from(APIHarness.seed) == "main@example.com")
            #expect(try await from(tagged) == "main@example.com")

            let vip = try await api.call(
                .post, "/api/v1/accounts", body: account("vip", #", "routing": {"tags": ["vip"], "from_domains": []}"#))
            #expect(vip.status == .created, "\(vip.text)")
            #expect(try await from(tagged) == "vip@example.com", "an account whose rules match comes first")
            #expect(try await from(APIHarness.seed) == "main@example.com", "a message without the tag is routed apart")

            let moved = try await api.call(
                .put, "/api/v1/accounts/\(mainID)",
                body: #"{"name": "main", "email": "moved@example.com", "smtp_host": "smtp.example.com"}"#)
            #expect(moved.status == .ok, "\(moved.text)")
            #expect(try await from(APIHarness.seed) == "moved@example.com", "a change through the API is seen at once")
        }
    }

    @Test func badInputIsAClear4xxAndChangesNothing() async throws {
        try await APIHarness.withAPI { api, store in
            _ = try await api.call(.post, "/api/v1/templates", body: APIHarness.template)
            let send = "/api/v1/messages/email/send"
            let cases: [(body: String, status: HTTPResponse.Status, code: Int, field: String?)] = [
                ("{\"to\": [", .badRequest, 40000, nil),
                ("[1, 2]", .unprocessableContent, 40001, nil),
                (#"{"to": 5, "template_code": "test_email"}"#, .unprocessableContent, 40001, "to"),
                (#"{"to": ["a@example.com"], "template_code": 7}"#, .unprocessableContent, 40001, "template_code"),
                (#"{"template_code": "test_email"}"#, .unprocessableContent, 40001, "to"),
                (#"{"to": ["a@example.com"], "template_code": "nope"}"#, .unprocessableContent, 40001, "template_code"),
                (#"{"to": ["not-an-address"], "subject": "s", "text": "t"}"#, .unprocessableContent, 40001, "to[0]"),
                (
                    #"{"to": [\#((0..<51).map { "\"u\($0)@example.com\"" }.joined(separator: ","))], "subject": "s", "text": "t"}"#,
                    .unprocessableContent, 40001, "to"
                ),
                (
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "headers": {"X-Tag": "a\r\nBcc: evil@example.com"}}"#,
                    .unprocessableContent, 40001, "headers.X-Tag"
                ),
                (
                    #"{"to": ["a@example.com"], "subject": "line\r\nBcc: evil@example.com", "text": "t"}"#, .unprocessableContent, 40001,
                    "subject"
                ),
                (
                    #"{"to": ["a@example.com"], "template_code": "test_email", "template_variables": {"timestamp": "1\nBcc: e@example.com"}}"#,
                    .unprocessableContent, 40001, "template_variables"
                ),
                (#"{"to": null, "subject": "s", "text": "t"}"#, .unprocessableContent, 40001, "to"),
                (
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "from_account": "ghost"}"#, .unprocessableContent, 40001,
                    "from_account"
                ),
                (#"{"to": ["a@example.com"], "subject": "s", "text": "t", "priority": 12}"#, .unprocessableContent, 40001, "priority"),
                // Valid JSON with a number an integer field cannot take: the field, not "not valid JSON".
                (#"{"to": ["a@example.com"], "subject": "s", "text": "t", "priority": 1.5}"#, .unprocessableContent, 40001, "priority"),
                (
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "max_attempts": 99999999999999999999}"#, .unprocessableContent,
                    40001, "max_attempts"
                ),
                (
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "send_at": "tomorrow"}"#, .unprocessableContent, 40001,
                    "send_at"
                ),
                (
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "attachments": [{"filename": "a.bin", "content": "%%%"}]}"#,
                    .unprocessableContent, 40001, "attachments[0].content"
                ),
                (
                    #"{"to": ["a@example.com"], "template_code": "test_email"}"#, .unprocessableContent, 42201,
                    "template_variables.timestamp"
                ),
                (
                    #"{"to": ["a@example.com"], "template_code": "test_email", "subject": "also inline"}"#, .unprocessableContent, 40001,
                    "template_code"
                ),
            ]
            let gzipped = try await api.call(
                .post, send, body: #"{"to": ["a@example.com"], "subject": "s", "text": "t"}"#,
                headers: [.contentEncoding: "gzip"])
            #expect(gzipped.status == .badRequest && gzipped.text.contains("Content-Encoding gzip is not supported"), "\(gzipped.text)")
            for item in cases {
                let answer = try await api.call(.post, send, body: item.body)
                #expect(answer.status == item.status, "\(item.body): \(answer.text)")
                #expect(answer.code == item.code, "\(item.body): \(answer.text)")
                #expect(answer.json["request_id"] as? String != nil, "every error is an envelope")
                if let field = item.field { #expect(answer.fields.contains(field), "\(item.body): \(answer.text)") }
            }
            // A reason reads after its field: the rule that failed, said once.
            let reasons = try await api.call(.post, send, body: #"{"to": ["bad"], "subject": "s"}"#).text
            #expect(reasons.contains("to[0] is not a valid email address: it has no @;"), "\(reasons)")
            #expect(reasons.contains("text is required (or html) without template_code"), "\(reasons)")
            // Every reason is a predicate of its field, limits included.
            let many = (0...50).map { #""r\#($0)@example.com""# }.joined(separator: ",")
            let limits = try await api.call(
                .post, send,
                body: #"""
                    {"to": [\#(many)], "template_code": "t", "subject": "s", "metadata": {"": "v"}}
                    """#
            ).text
            for reason in [
                "to must hold at most 50 recipients, counting to, cc and bcc together",
                "template_code cannot be given with subject, text or html: give one or the other",
                "metadata. must have a key of 1 to 64 characters and a value of at most 1024",
            ] {
                #expect(limits.contains(reason), "\(reason): \(limits)")
            }
            let status = try await api.call(.get, "/api/v1/messages?status=sent").text
            #expect(status.contains("status has sent, which is not one of pending"), "\(status)")
            let composition = try await api.call(
                .post, send,
                body: #"""
                    {"to": ["a@example.com"], "from": "App <app@example>>", "subject": "s", "text": "t",
                     "headers": {"X-Tag": "a\r\nBcc: evil@example.com"}, "attachments": [{"filename": "a\nb.txt", "content": "QQ=="}]}
                    """#
            ).text
            #expect(!composition.contains("mime."), "a reason is a sentence, not an error code: \(composition)")
            #expect(
                composition.contains(
                    "headers.X-Tag cannot be sent: the value of header 'X-Tag' contains CR, LF or NUL, which are not allowed in a header"),
                "\(composition)")
            #expect(
                composition.contains("attachments[0] cannot be attached: an attachment's file name contains CR, LF or NUL"),
                "\(composition)")
            let from = try await api.call(
                .post, send, body: #"{"to": ["a@example.com"], "from": "App <app>", "subject": "s", "text": "t"}"#)
            #expect(from.text.contains("from is not a valid mailbox: it has no @"), "\(from.text)")
            let account = try await api.call(
                .post, send, body: #"{"to": ["a@example.com"], "from_account": "ghost", "subject": "s", "text": "t"}"#)
            #expect(account.text.contains("from_account is not a known account: ghost"), "\(account.text)")
            let big = Data(repeating: 0x41, count: 2048).base64EncodedString()
            let oversize = try await api.call(
                .post, send,
                body:
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "attachments": [{"filename": "a.bin", "content": "\#(big)"}]}"#
            )
            #expect(oversize.status == .accepted, "10 MB is the default limit; 2 KB passes")
            #expect(try await APIHarness.messageCount(store) == 1, "only the one valid request stored a message")
        }
    }

    @Test func attachmentsOverTheLimitAreRefused() async throws {
        var configuration = APIConfiguration()
        configuration.limits.maxAttachmentBytes = 1024
        try await APIHarness.withAPI(configuration: configuration) { api, store in
            let big = Data(repeating: 0x41, count: 2048).base64EncodedString()
            let answer = try await api.call(
                .post, "/api/v1/messages/email/send",
                body:
                    #"{"to": ["a@example.com"], "subject": "s", "text": "t", "attachments": [{"filename": "a.bin", "content": "\#(big)"}]}"#
            )
            #expect(answer.status == .unprocessableContent && answer.fields == ["attachments[0]"])
            #expect(try await APIHarness.messageCount(store) == 0)
        }
    }

    @Test func anIdempotencyKeyReturnsTheOriginalOrAConflict() async throws {
        try await APIHarness.withAPI { api, _ in
            let body = #"{"to": ["a@example.com"], "subject": "hello", "text": "once"}"#
            let key: HTTPFields = [.init("Idempotency-Key")!: "order-42"]
            let first = try await api.call(.post, "/api/v1/messages/email/send", body: body, headers: key)
            let again = try await api.call(.post, "/api/v1/messages/email/send", body: body, headers: key)
            #expect(first.status == .accepted && again.status == .accepted)
            #expect(first.data["message_id"] as? Int == again.data["message_id"] as? Int && again.data["duplicate"] as? Bool == true)
            // The same request serialised otherwise (keys in another order, other spacing, an
            // escaped character) is the same request: a client's retry may encode it anew.
            let reencoded = try await api.call(
                .post, "/api/v1/messages/email/send", body: #"{"text":"once","subject":"hell\u006f","to":["a@example.com"]}"#, headers: key)
            #expect(
                reencoded.status == .accepted && reencoded.data["message_id"] as? Int == first.data["message_id"] as? Int,
                "\(reencoded.text)")
            let other = try await api.call(
                .post, "/api/v1/messages/email/send", body: body.replacingOccurrences(of: "once", with: "twice"), headers: key)
            #expect(other.status == .conflict && other.code == 40901)
        }
    }

    @Test func statusListRawCancelAndRetry() async throws {
        try await APIHarness.withAPI { api, store in
            var ids: [Int] = []
            for index in 0..<3 {
                let answer = try await api.call(
                    .post, "/api/v1/messages/email/send",
                    body:
                        #"{"to": ["r\#(index)@example.com"], "cc": "cc@example.com", "subject": "n\#(index)", "text": "t", "tags": ["t\#(index % 2)"], "metadata": {"order": "\#(index)"}, "send_at": "2099-01-01T00:00:00Z"}"#
                )
                ids.append(try #require(answer.data["message_id"] as? Int))
            }
            let shown = try await api.call(.get, "/api/v1/messages/\(ids[0])")
            #expect(shown.status == .ok && shown.data["status"] as? String == "scheduled")
            #expect((shown.data["recipients"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["pending", "pending"])
            #expect(shown.data["metadata"] as? [String: String] == ["order": "0"])
            #expect(try await api.call(.get, "/api/v1/messages/999999").status == .notFound)
            #expect(try await api.call(.get, "/api/v1/messages/abc").status == .notFound)

            let page1 = try await api.call(.get, "/api/v1/messages?limit=2")
            let first = page1.data["messages"] as? [[String: Any]] ?? []
            let cursor = try #require(page1.data["next_cursor"] as? String)
            let page2 = try await api.call(.get, "/api/v1/messages?limit=2&cursor=\(cursor)")
            let second = page2.data["messages"] as? [[String: Any]] ?? []
            #expect(Set((first + second).compactMap { $0["id"] as? Int }) == Set(ids) && first.count == 2 && second.count == 1)
            let tagged = try await api.call(.get, "/api/v1/messages?tag=t1")
            #expect((tagged.data["messages"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [ids[1]])
            #expect(try await api.call(.get, "/api/v1/messages?status=lost").fields == ["status"])
            #expect(try await api.call(.get, "/api/v1/messages?cursor=garbage").status == .unprocessableContent)
            // A misspelt filter is refused rather than ignored: ignored, it would list every message as a match.
            let misspelt = try await api.call(.get, "/api/v1/messages?tags=t1&since=2025-01-01&since=2025-01-02&limit=2")
            #expect(misspelt.status == .unprocessableContent && misspelt.fields == ["tags", "since"], "\(misspelt.text)")
            #expect(misspelt.text.contains("is not a filter; use status, recipient"))

            let raw = try await api.call(.get, "/api/v1/messages/\(ids[0])/raw")
            #expect(raw.status == .ok && raw.headers[.contentType] == "message/rfc822" && raw.text.contains("Subject: n0\r\n"))

            let cancelled = try await api.call(.post, "/api/v1/messages/\(ids[0])/cancel")
            #expect(cancelled.status == .ok && cancelled.data["status"] as? String == "cancelled")
            let twice = try await api.call(.post, "/api/v1/messages/\(ids[0])/cancel")
            #expect(twice.status == .conflict && twice.code == 40902)
            let retried = try await api.call(.post, "/api/v1/messages/\(ids[0])/retry")
            #expect(retried.status == .accepted && retried.data["status"] as? String == "pending")
            #expect(try await store.message(id: Int64(ids[0]))?.sendAt == nil, "a retry is due now")

            // Sent, the message names its account, as do its attempts and its line in a list.
            let sandbox = try #require(try await store.account(named: "sandbox"))
            let claimed = try #require(try await store.claim(limit: 1, owner: "test", lease: .seconds(60)).first)
            #expect(claimed.message.id == Int64(ids[0]))
            _ = try await store.settle(
                Settlement(lease: claimed.lease, kind: .delivered, report: AttemptReport(accountID: sandbox.id, reply: "250 captured")))
            let sent = try await api.call(.get, "/api/v1/messages/\(ids[0])")
            #expect(sent.data["account_id"] as? Int == Int(sandbox.id) && sent.data["account_name"] as? String == "sandbox", "\(sent.text)")
            #expect((sent.data["attempts"] as? [[String: Any]])?.map { $0["account_name"] as? String } == ["sandbox"], "\(sent.text)")
            let listed = try await api.call(.get, "/api/v1/messages?status=success")
            #expect((listed.data["messages"] as? [[String: Any]])?.map { $0["account_name"] as? String } == ["sandbox"], "\(listed.text)")
        }
    }

    @Test func aBatchQueuesEachMessageWithItsOwnResult() async throws {
        try await APIHarness.withAPI { api, store in
            let body =
                #"{"messages": [{"to": ["a@example.com"], "subject": "s", "text": "t"}, {"to": ["bad"], "subject": "s", "text": "t"}]}"#
            let answer = try await api.call(.post, "/api/v1/messages/email/batch", body: body)
            #expect(answer.status == .accepted)
            let results = answer.data["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["code"] as? Int } == [0, 40001])
            #expect(results[0]["message_id"] as? Int != nil && results[1]["error"] as? String == "validation_failed")
            #expect(try await APIHarness.messageCount(store) == 1)
            let empty = try await api.call(.post, "/api/v1/messages/email/batch", body: #"{"messages": []}"#)
            #expect(empty.status == .unprocessableContent)
            // A number that fits no integer field is named where it is, template variables aside.
            let fraction = try await api.call(
                .post, "/api/v1/messages/email/batch",
                body: #"{"messages": [{"to": ["a@example.com"], "subject": "s", "text": "t", "priority": 2.5, "#
                    + #""template_variables": {"x": 0.5}}]}"#)
            #expect(fraction.status == .unprocessableContent && fraction.fields == ["messages[0].priority"], "\(fraction.text)")
            let none = try await api.call(.post, "/api/v1/messages/email/batch", body: #"{"messages": [{"to": ["bad"]}]}"#)
            #expect(none.status == .ok && none.code == 0 && (none.data["results"] as? [[String: Any]])?.first?["code"] as? Int == 40001)
        }
    }

    /// A batch retried under its Idempotency-Key queues nothing twice: each message is remembered
    /// under the key and its place, a changed one is a conflict of its own, an added one is queued.
    @Test func aBatchRetriedUnderItsIdempotencyKeyQueuesNothingTwice() async throws {
        try await APIHarness.withAPI { api, store in
            let key: HTTPFields = [.init("Idempotency-Key")!: "orders-7"]
            let first = #"{"to": ["a@example.com"], "subject": "one", "text": "t"}"#
            let second = #"{"to": ["b@example.com"], "subject": "two", "text": "t"}"#
            func batch(_ messages: String...) async throws -> [[String: Any]] {
                let answer = try await api.call(
                    .post, "/api/v1/messages/email/batch", body: #"{"messages": ["# + messages.joined(separator: ", ") + "]}", headers: key)
                return answer.data["results"] as? [[String: Any]] ?? []
            }
            let sent = try await batch(first, second)
            #expect(sent.map { $0["code"] as? Int } == [0, 0] && sent.allSatisfy { $0["duplicate"] == nil }, "\(sent)")
            let again = try await batch(first, second)
            #expect(again.map { $0["message_id"] as? Int } == sent.map { $0["message_id"] as? Int }, "\(again)")
            #expect(again.map { $0["duplicate"] as? Bool } == [true, true], "\(again)")
            let changed = try await batch(first, second.replacingOccurrences(of: "two", with: "zwei"))
            #expect(changed.map { $0["code"] as? Int } == [0, 40901], "\(changed)")
            let longer = try await batch(first, second, #"{"to": ["c@example.com"], "subject": "three", "text": "t"}"#)
            #expect(longer.map { $0["duplicate"] as? Bool } == [true, true, nil] && longer[2]["code"] as? Int == 0, "\(longer)")
            #expect(try await APIHarness.messageCount(store) == 3)
        }
    }
}
