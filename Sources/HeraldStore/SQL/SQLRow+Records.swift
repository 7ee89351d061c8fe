import Foundation

extension SQLRow {
    func messageRecord() throws -> MessageRecord {
        guard let status = MessageStatus(rawValue: try text("status")) else {
            throw StoreError(.database, "a message has an unknown status")
        }
        return MessageRecord(
            id: try int("id"),
            requestID: optionalText("request_id"),
            apiKeyID: optionalInt("api_key_id"),
            idempotencyKey: optionalText("idempotency_key"),
            channel: try text("channel"),
            from: try text("from_address"),
            to: JSONText.strings(optionalText("to_addresses")),
            cc: JSONText.strings(optionalText("cc_addresses")),
            bcc: JSONText.strings(optionalText("bcc_addresses")),
            subject: optionalText("subject"),
            templateCode: optionalText("template_code"),
            templateVariables: optionalText("template_variables"),
            messageIDHeader: optionalText("message_id_header"),
            fromAccount: optionalText("from_account"),
            status: status,
            priority: Int(try int("priority")),
            sendAt: optionalDate("send_at"),
            expiresAt: optionalDate("expires_at"),
            attempts: Int(try int("attempts")),
            maxAttempts: Int(try int("max_attempts")),
            nextAttemptAt: try date("next_attempt_at"),
            leaseOwner: optionalText("lease_owner"),
            leaseUntil: optionalDate("lease_until"),
            accountID: optionalInt("account_id"),
            errorCode: optionalText("error_code"),
            errorMessage: optionalText("error_message"),
            smtpReply: optionalText("smtp_reply"),
            tags: JSONText.strings(optionalText("tags")),
            metadata: JSONText.map(optionalText("metadata")),
            createdAt: try date("created_at"),
            updatedAt: try date("updated_at"),
            sentAt: optionalDate("sent_at")
        )
    }

    func attemptRecord() throws -> AttemptRecord {
        guard let outcome = AttemptOutcome(rawValue: try text("outcome")) else {
            throw StoreError(.database, "an attempt has an unknown outcome")
        }
        let recipients = optionalText("recipients").flatMap { try? JSONDecoder().decode([RecipientOutcome].self, from: Data($0.utf8)) }
        return AttemptRecord(
            messageID: try int("message_id"),
            number: Int(try int("number")),
            outcome: outcome,
            accountID: optionalInt("account_id"),
            startedAt: try date("started_at"),
            finishedAt: try date("finished_at"),
            errorClass: optionalText("error_class"),
            errorCode: optionalText("error_code"),
            errorMessage: optionalText("error_message"),
            smtpCode: optionalInt("smtp_code").map(Int.init),
            enhancedCode: optionalText("enhanced_code"),
            reply: optionalText("reply"),
            recipients: recipients ?? []
        )
    }

    func accountRecord() throws -> AccountRecord {
        let routing = optionalText("routing").flatMap { try? JSONDecoder().decode(AccountRouting.self, from: Data($0.utf8)) }
        let settings = AccountSettings(
            name: try text("name"), email: try text("email"), displayName: optionalText("display_name"),
            smtpHost: try text("smtp_host"), smtpPort: Int(try int("smtp_port")),
            security: AccountSecurity(rawValue: try text("security")) ?? .starttls, username: optionalText("username"),
            tlsVerify: try bool("tls_verify"), tlsCAPEM: optionalText("tls_ca_pem"), channel: try text("channel"),
            isActive: try bool("is_active"), priority: Int(try int("priority")), weight: Int(try int("weight")),
            perMinuteLimit: optionalInt("per_minute_limit").map(Int.init), perDayLimit: optionalInt("per_day_limit").map(Int.init),
            routing: routing ?? AccountRouting(), provider: optionalText("provider"))
        let secret = bytes("secret")
        var record = AccountRecord(id: try int("id"), settings: settings, hasPassword: secret != nil, createdAt: try date("created_at"))
        record.passwordVersion = secret.map { $0.hashValue }
        record.health = AccountHealth(rawValue: try text("health")) ?? .closed
        record.failureCount = Int(try int("failure_count"))
        record.openedUntil = optionalDate("opened_until")
        record.breakerTrips = Int(optionalInt("breaker_trips") ?? 0)
        record.lastErrorCode = optionalText("last_error_code")
        record.lastError = optionalText("last_error")
        record.lastSuccessAt = optionalDate("last_success_at")
        record.throttledUntil = optionalDate("throttled_until")
        record.updatedAt = try date("updated_at")
        return record
    }

    func templateRecord() throws -> TemplateRecord {
        TemplateRecord(
            code: try text("code"),
            channel: try text("channel"),
            locale: try text("locale"),
            subject: try text("subject"),
            text: optionalText("text_body"),
            html: optionalText("html_body"),
            version: Int(try int("version")),
            createdAt: try date("created_at"),
            updatedAt: try date("updated_at")
        )
    }

    func apiKeyRecord() throws -> APIKeyRecord {
        let scopes = try text("scopes").split(separator: ",").compactMap { APIKeyScope(rawValue: String($0)) }
        return APIKeyRecord(
            id: try int("id"),
            name: try text("name"),
            prefix: try text("prefix"),
            scopes: Set(scopes),
            createdAt: try date("created_at"),
            lastUsedAt: optionalDate("last_used_at"),
            revokedAt: optionalDate("revoked_at")
        )
    }

    func eventRecord() throws -> EventRecord {
        EventRecord(
            id: try int("id"),
            kind: try text("kind"),
            messageID: optionalInt("message_id"),
            accountID: optionalInt("account_id"),
            data: JSONText.map(optionalText("data")),
            createdAt: try date("created_at")
        )
    }

    func suppressionRecord() throws -> SuppressionRecord {
        SuppressionRecord(
            address: try text("address"),
            reason: try text("reason"),
            source: optionalText("source"),
            createdAt: try date("created_at")
        )
    }
}
