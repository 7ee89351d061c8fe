import Foundation
import HeraldDelivery

/// The OpenAPI 3.1 document of the API, served at `/openapi.json`. Written by hand beside the
/// routes it describes; `scripts/test` runs schemathesis against a live server with it, so a
/// route and its description cannot drift apart unnoticed.
enum OpenAPIDocument {
    static let json: [UInt8] = {
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Array(data)
    }()

    // MARK: Building blocks

    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    private static func nullable(_ type: String, format: String? = nil) -> [String: Any] {
        var schema: [String: Any] = ["type": [type, "null"]]
        if let format { schema["format"] = format }
        return schema
    }
    private static var string: [String: Any] { ["type": "string"] }
    private static var integer: [String: Any] { ["type": "integer"] }
    private static var boolean: [String: Any] { ["type": "boolean"] }
    private static var time: [String: Any] { ["type": "string", "format": "date-time"] }
    private static var nullableTime: [String: Any] { nullable("string", format: "date-time") }
    private static func array(_ items: [String: Any]) -> [String: Any] { ["type": "array", "items": items] }
    private static func object(_ properties: [String: Any], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }
    /// One address or a list of them (a mailbox such as `Name <a@example.com>` is accepted too).
    private static func addressList(minItems: Int = 0) -> [String: Any] {
        let address: [String: Any] = ["type": "string", "format": "email"]
        return ["oneOf": [address, ["type": "array", "items": address, "minItems": minItems, "maxItems": 50]]]
    }
    /// Text that must stay on one line: no CR, LF or NUL.
    private static func oneLine(minLength: Int = 0, maxLength: Int? = nil) -> [String: Any] {
        var schema: [String: Any] = ["type": "string", "minLength": minLength, "pattern": "^[^\\r\\n\\u0000]*$"]
        if let maxLength { schema["maxLength"] = maxLength }
        return schema
    }
    private static func required(_ names: String...) -> [String: Any] { ["required": names] }

    /// The envelope with `data` of the given schema.
    private static func envelope(_ data: [String: Any]) -> [String: Any] {
        object(
            ["code": ["type": "integer", "const": 0], "message": string, "data": data, "request_id": string],
            required: ["code", "message", "data", "request_id"])
    }

    private static func response(_ description: String, _ data: [String: Any], links: [String: Any] = [:]) -> [String: Any] {
        var response: [String: Any] = ["description": description, "content": ["application/json": ["schema": envelope(data)]]]
        if !links.isEmpty { response["links"] = links }
        return response
    }

    /// Links from a response to the operations that take what it created (`$response.body#/data/...`
    /// as `parameter`): clients and tools such as schemathesis follow them to build on real items.
    private static func links(_ operationIDs: [String], parameter: String, from pointer: String) -> [String: Any] {
        Dictionary(
            uniqueKeysWithValues: operationIDs.map { id in
                (id, ["operationId": id, "parameters": [parameter: "$response.body#/data/\(pointer)"]] as [String: Any])
            })
    }

    private static var errorResponse: [String: Any] {
        [
            "description": "An error: the envelope with a non-zero code (see the README's table).",
            "content": ["application/json": ["schema": ref("Error")]],
        ]
    }

    private static func errors(_ statuses: [Int]) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: statuses.map { (String($0), errorResponse as Any) })
    }

    private static func operation(
        _ summary: String, scope: String?, body: [String: Any]? = nil, parameters: [[String: Any]] = [],
        responses: [String: Any], errorStatuses: [Int] = [400, 422]
    ) -> [String: Any] {
        var operation: [String: Any] = ["summary": summary, "operationId": summary.replacingOccurrences(of: " ", with: "_")]
        var allErrors = errorStatuses
        if let scope {
            operation["security"] = [["bearer": []]]
            operation["description"] = "Needs an API key with the \(scope) scope (or admin)."
            allErrors += [401, 403, 429]
        }
        if body != nil { allErrors += [400, 413, 422] }
        allErrors += [500, 503]
        operation["responses"] = responses.merging(errors(Array(Set(allErrors)).sorted())) { first, _ in first }
        if let body {
            operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]]
        }
        if !parameters.isEmpty { operation["parameters"] = parameters }
        return operation
    }

    /// The `Idempotency-Key` header of the sends (a batch's message i is remembered under `K/i`).
    private static var idempotencyKey: [String: Any] {
        ["name": "Idempotency-Key", "in": "header", "required": false, "schema": ["type": "string", "minLength": 1, "maxLength": 255]]
    }

    private static func pathParameter(_ name: String, _ schema: [String: Any]) -> [String: Any] {
        ["name": name, "in": "path", "required": true, "schema": schema]
    }

    private static func query(_ name: String, _ schema: [String: Any]) -> [String: Any] {
        ["name": name, "in": "query", "required": false, "schema": schema]
    }

    private static var idParameter: [String: Any] { pathParameter("id", ["type": "integer", "minimum": 1]) }
    /// A template's code as the API takes it: 1 to 128 characters, no white space or `/`.
    private static var codeParameter: [String: Any] {
        pathParameter("code", ["type": "string", "minLength": 1, "maxLength": 128, "pattern": #"^[^\s/]+$"#])
    }

    /// An address in a path: `local@domain`, no `/`.
    private static var addressParameter: [String: Any] {
        pathParameter(
            "address", ["type": "string", "format": "email", "minLength": 3, "maxLength": 254, "pattern": #"^[^\s/@]+@[^\s/@]+$"#])
    }

    // MARK: The document

    static var document: [String: Any] {
        [
            "openapi": "3.1.0",
            "info": [
                "title": "Herald", "version": "1",
                "description": "A self-hosted message delivery service. Every response is the envelope {code, message, data, request_id}.",
            ],
            "components": ["securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]], "schemas": schemas],
            "paths": paths,
        ]
    }

    private static var schemas: [String: Any] {
        let field = object(["field": string, "reason": string], required: ["field", "reason"])
        return [
            "Error": object(
                [
                    "code": ["type": "integer", "minimum": 40000], "message": string, "request_id": string,
                    "data": object(["error": string, "fields": array(field)], required: ["error"]),
                ], required: ["code", "message", "data", "request_id"]),
            "SendRequest": object(
                [
                    "to": addressList(minItems: 1), "cc": addressList(), "bcc": addressList(), "reply_to": addressList(),
                    "template_code": string, "template_variables": ["type": "object"], "locale": string,
                    "subject": oneLine(minLength: 1), "text": string, "html": string, "from": string, "from_account": string,
                    "headers": [
                        "type": "object", "additionalProperties": oneLine(),
                        "propertyNames": ["pattern": "^[!-9;-~]{1,76}$"],
                    ],
                    "attachments": array(
                        object(
                            [
                                "filename": oneLine(minLength: 1),
                                "content": ["type": "string", "contentEncoding": "base64", "pattern": "^[A-Za-z0-9+/\\s]*={0,2}\\s*$"],
                                "content_type": string, "content_id": string,
                            ],
                            required: ["filename", "content"])),
                    "priority": ["type": "integer", "minimum": 0, "maximum": 9], "send_at": time, "expires_at": time,
                    "max_attempts": ["type": "integer", "minimum": 1, "maximum": 50],
                    "tags": ["type": "array", "items": oneLine(minLength: 1, maxLength: 64), "maxItems": 20],
                    "metadata": [
                        "type": "object", "additionalProperties": ["type": "string", "maxLength": 1024],
                        "propertyNames": ["minLength": 1, "maxLength": 64], "maxProperties": 50,
                    ],
                ], required: ["to"]
            )
            // A template, or inline content: never both.
            .merging([
                "oneOf": [
                    ["required": ["template_code"], "not": ["anyOf": [required("subject"), required("text"), required("html")]]],
                    ["required": ["subject"], "anyOf": [required("text"), required("html")], "not": required("template_code")],
                ]
            ]) { $1 },
            "BatchResults": object(
                [
                    "results": array(
                        object(
                            [
                                "index": integer, "code": integer, "message": string, "message_id": integer, "status": ref("Status"),
                                "duplicate": boolean, "error": string, "fields": array(field),
                            ], required: ["index", "code", "message"]))
                ], required: ["results"]),
            "SendResult": object(
                ["message_id": integer, "status": ref("Status"), "request_id": string, "duplicate": boolean],
                required: ["message_id", "status", "request_id"]),
            "Status": ["type": "string", "enum": ["pending", "scheduled", "sending", "retrying", "success", "failed", "cancelled"]],
            "Message": object(
                [
                    "id": integer, "status": ref("Status"), "from": string, "to": array(string), "cc": array(string), "bcc_count": integer,
                    "subject": nullable("string"), "template_code": nullable("string"), "from_account": nullable("string"),
                    "account_id": nullable("integer"), "account_name": nullable("string"), "priority": integer, "retry_count": integer,
                    "max_attempts": integer,
                    "error_code": nullable("string"), "error_message": nullable("string"), "smtp_reply": nullable("string"),
                    "message_id_header": nullable("string"), "tags": array(string),
                    "metadata": ["type": "object", "additionalProperties": string],
                    "request_id": nullable("string"), "send_at": nullableTime, "expires_at": nullableTime, "next_attempt_at": nullableTime,
                    "created_at": time, "updated_at": time, "sent_at": nullableTime,
                    "recipients": array(
                        object(
                            [
                                "address": string, "kind": ["enum": ["to", "cc", "bcc"]],
                                "outcome": ["enum": ["pending", "accepted", "refused"]],
                                "smtp_code": nullable("integer"), "reply": nullable("string"),
                            ], required: ["address", "kind", "outcome"])),
                    "attempts": array(
                        object(
                            [
                                "number": integer, "outcome": string, "account_id": nullable("integer"),
                                "account_name": nullable("string"), "error_class": nullable("string"),
                                "error_code": nullable("string"), "error_message": nullable("string"), "smtp_code": nullable("integer"),
                                "enhanced_code": nullable("string"), "reply": nullable("string"), "started_at": time, "finished_at": time,
                            ], required: ["number", "outcome", "started_at", "finished_at"])),
                ], required: ["id", "status", "from", "to", "created_at", "updated_at"]),
            "MessagePage": object(["messages": array(ref("Message")), "next_cursor": nullable("string")], required: ["messages"]),
            "TemplateInput": object(
                [
                    "code": ["type": "string", "pattern": "^[^\\s/]{1,128}$"],
                    "locale": ["type": "string", "pattern": "^([A-Za-z0-9][A-Za-z0-9_-]{0,34})?$"],
                    "subject": ["type": "string", "minLength": 1],
                    "text": string, "html": string,
                ], required: ["subject"]
            ).merging(["anyOf": [required("text"), required("html")]]) { $1 },
            "Template": object(
                [
                    "code": string, "locale": string, "subject": string, "text": nullable("string"), "html": nullable("string"),
                    "version": integer,
                    "created_at": time, "updated_at": time,
                ], required: ["code", "locale", "subject", "version"]),
            "Preview": object(["subject": string, "text": nullable("string"), "html": nullable("string"), "locale": string]),
            "Routing": object(["from_domains": array(string), "tags": array(string)]),
            "AccountInput": object(
                [
                    "name": ["type": "string", "minLength": 1, "maxLength": 64], "email": ["type": "string", "format": "email"],
                    "display_name": oneLine(), "provider": ["type": "string", "enum": (ProviderPreset.all.keys + ["ses"]).sorted()],
                    "region": string, "smtp_host": ["type": "string", "pattern": "^[^\\s/]*$"],
                    "smtp_port": ["type": "integer", "minimum": 1, "maximum": 65535],
                    "security": ["enum": ["tls", "starttls", "none"]], "use_tls": boolean, "username": string,
                    "password": oneLine(minLength: 1).merging(["type": ["string", "null"], "writeOnly": true]) { $1 },
                    "tls_verify": boolean,
                    "tls_ca_pem": [
                        "type": "string",
                        "description": "PEM certificates (-----BEGIN CERTIFICATE-----) trusted beside the system's roots; empty for none",
                    ],
                    "is_active": boolean, "priority": integer, "weight": ["type": "integer", "minimum": 1],
                    "per_minute_limit": ["type": "integer", "minimum": 1], "per_day_limit": ["type": "integer", "minimum": 1],
                    "routing": ref("Routing"),
                ], required: ["name", "email"]
            ).merging(["anyOf": [required("smtp_host"), required("provider")]]) { $1 },
            "CheckReport": object(
                [
                    "host": string, "port": integer, "security": ["enum": ["tls", "starttls", "none"]],
                    "steps": array(
                        object(
                            ["name": string, "ok": boolean, "milliseconds": ["type": "number"], "detail": string],
                            required: ["name", "ok", "detail"])),
                    "auth_mechanisms": array(string),
                    "error": object(
                        [
                            "code": string, "classification": string, "phase": string, "message": string,
                            "diagnosis": nullable("string"),
                        ], required: ["code", "classification", "phase", "message"]),
                    "working_security": ["enum": ["tls", "starttls", "none"]], "ok": boolean, "verdict": string,
                    "recommendation": string,
                ], required: ["host", "port", "security", "steps", "auth_mechanisms", "ok", "verdict"]),
            "Account": object(
                [
                    "id": integer, "name": string, "email": string, "display_name": nullable("string"), "smtp_host": string,
                    "smtp_port": integer,
                    "security": ["enum": ["tls", "starttls", "none"]], "username": string, "has_password": boolean, "tls_verify": boolean,
                    "tls_ca_pem": nullable("string"), "channel": string, "provider": nullable("string"), "is_active": boolean,
                    "health": ["enum": ["closed", "open", "half_open"]],
                    "failure_count": integer, "last_error_code": nullable("string"), "last_error": nullable("string"),
                    "last_success_at": nullableTime, "opened_until": nullableTime, "throttled_until": nullableTime, "priority": integer,
                    "weight": integer, "per_minute_limit": nullable("integer"), "per_day_limit": nullable("integer"),
                    "routing": ref("Routing"),
                    "quota": object(["minute": integer, "day": integer]), "created_at": time, "updated_at": time,
                ], required: ["id", "name", "email", "security", "is_active", "health", "failure_count", "has_password"]),
            "Suppression": object(
                ["address": ["type": "string", "format": "email"], "reason": string, "source": nullable("string"), "created_at": time],
                required: ["address", "reason", "created_at"]),
            "Key": object(
                [
                    "id": integer, "name": string, "prefix": string, "scopes": array(["enum": ["send", "read", "admin"]]),
                    "created_at": time,
                    "last_used_at": nullableTime, "revoked_at": nullableTime, "key": string,
                ], required: ["id", "name", "prefix", "scopes"]),
        ]
    }

    private static var paths: [String: Any] {
        let send = ref("SendRequest")
        let message = ref("Message")
        return [
            "/healthz": [
                "get": operation(
                    "Liveness", scope: nil, responses: ["200": response("Alive.", object(["status": string]))], errorStatuses: [])
            ],
            "/readyz": [
                "get": operation(
                    "Readiness", scope: nil, responses: ["200": response("Ready.", object(["status": string, "schema_version": string]))],
                    errorStatuses: [])
            ],
            "/": [
                "get": operation(
                    "Dashboard", scope: nil,
                    responses: [
                        "200": [
                            "description": "The dashboard: one HTML page that reads the API with a key given in the browser.",
                            "content": ["text/html": ["schema": string]],
                        ]
                    ], errorStatuses: [])
            ],
            "/metrics": [
                "get": operation(
                    "Metrics", scope: nil,
                    responses: ["200": ["description": "Prometheus text format.", "content": ["text/plain": ["schema": string]]]],
                    errorStatuses: [404])
            ],
            "/openapi.json": [
                "get": operation(
                    "OpenAPI document", scope: nil,
                    responses: ["200": ["description": "This document.", "content": ["application/json": ["schema": ["type": "object"]]]]],
                    errorStatuses: [])
            ],
            "/api/v1/messages/email/send": [
                "post": operation(
                    "Send an email", scope: "send", body: send,
                    parameters: [idempotencyKey],
                    responses: [
                        "202": response(
                            "Queued.", ref("SendResult"),
                            links: links(
                                ["Show_a_message", "Raw_message", "Cancel_a_message", "Retry_a_message"], parameter: "id",
                                from: "message_id"))
                    ], errorStatuses: [404, 409])
            ],
            "/api/v1/messages/email/batch": [
                "post": operation(
                    "Send a batch", scope: "send",
                    body: object(["messages": ["type": "array", "items": send, "minItems": 1, "maxItems": 500]], required: ["messages"]),
                    parameters: [idempotencyKey],
                    responses: [
                        "202": response("At least one queued; each message's result.", ref("BatchResults")),
                        "200": response("None queued; each message's result says why.", ref("BatchResults")),
                    ])
            ],
            "/api/v1/messages": [
                "get": operation(
                    "List messages", scope: "read",
                    parameters: [
                        query("status", string), query("recipient", string), query("template_code", string), query("account_id", integer),
                        query("tag", string), query("created_from", time), query("created_before", time),
                        query("limit", ["type": "integer", "minimum": 1, "maximum": 200]), query("cursor", string),
                    ], responses: ["200": response("A page, newest first.", ref("MessagePage"))])
            ],
            "/api/v1/messages/{id}": [
                "get": operation(
                    "Show a message", scope: "read", parameters: [idParameter],
                    responses: ["200": response("The message with its attempts.", message)], errorStatuses: [404])
            ],
            "/api/v1/messages/{id}/raw": [
                "get": operation(
                    "Raw message", scope: "read", parameters: [idParameter],
                    responses: ["200": ["description": "The exact bytes.", "content": ["message/rfc822": ["schema": string]]]],
                    errorStatuses: [404])
            ],
            "/api/v1/messages/{id}/cancel": [
                "post": operation(
                    "Cancel a message", scope: "send", parameters: [idParameter], responses: ["200": response("Cancelled.", message)],
                    errorStatuses: [404, 409])
            ],
            "/api/v1/messages/{id}/retry": [
                "post": operation(
                    "Retry a message", scope: "send", parameters: [idParameter], responses: ["202": response("Queued again.", message)],
                    errorStatuses: [404, 409])
            ],
            "/api/v1/templates": [
                "get": operation(
                    "List templates", scope: "read",
                    responses: ["200": response("Every template.", object(["templates": array(ref("Template"))]))], errorStatuses: []),
                "post": operation(
                    "Create a template", scope: "admin", body: ref("TemplateInput"),
                    responses: [
                        "201": response(
                            "Created.", ref("Template"),
                            links: links(
                                ["Show_a_template", "Replace_a_template", "Delete_a_template", "Preview_a_template"], parameter: "code",
                                from: "code"))
                    ], errorStatuses: [409]),
            ],
            "/api/v1/templates/{code}": [
                "get": operation(
                    "Show a template", scope: "read", parameters: [codeParameter, query("locale", string)],
                    responses: ["200": response("The template.", ref("Template"))], errorStatuses: [404]),
                "put": operation(
                    "Replace a template", scope: "admin", body: ref("TemplateInput"), parameters: [codeParameter],
                    responses: [
                        "200": response("Saved over the template of this code and locale.", ref("Template")),
                        "201": response("Created: there was none of this code and locale.", ref("Template")),
                    ]),
                "delete": operation(
                    "Delete a template", scope: "admin", parameters: [codeParameter, query("locale", string)],
                    responses: ["200": response("Deleted.", object(["deleted": integer]))], errorStatuses: [404]),
            ],
            "/api/v1/templates/{code}/preview": [
                "post": operation(
                    "Preview a template", scope: "read", body: object(["template_variables": ["type": "object"], "locale": string]),
                    parameters: [codeParameter], responses: ["200": response("Rendered.", ref("Preview"))], errorStatuses: [404])
            ],
            "/api/v1/accounts": [
                "get": operation(
                    "List accounts", scope: "admin",
                    responses: ["200": response("Every account.", object(["accounts": array(ref("Account"))]))], errorStatuses: []),
                "post": operation(
                    "Create an account", scope: "admin", body: ref("AccountInput"),
                    responses: [
                        "201": response(
                            "Created.", ref("Account"),
                            links: links(
                                ["Show_an_account", "Replace_an_account", "Delete_an_account", "Enable_an_account", "Test_an_account"],
                                parameter: "id", from: "id"))
                    ], errorStatuses: [409]),
            ],
            "/api/v1/accounts/{id}": [
                "get": operation(
                    "Show an account", scope: "admin", parameters: [idParameter],
                    responses: ["200": response("The account.", ref("Account"))], errorStatuses: [404]),
                "put": operation(
                    "Replace an account", scope: "admin", body: ref("AccountInput"), parameters: [idParameter],
                    responses: ["200": response("Saved.", ref("Account"))], errorStatuses: [404, 409]),
                "delete": operation(
                    "Delete an account", scope: "admin", parameters: [idParameter],
                    responses: ["200": response("Deleted.", ["type": "null"])], errorStatuses: [404]),
            ],
            "/api/v1/accounts/{id}/enable": [
                "post": operation(
                    "Enable an account", scope: "admin", parameters: [idParameter],
                    responses: ["200": response("Enabled.", ref("Account"))], errorStatuses: [404])
            ],
            "/api/v1/accounts/{id}/test": [
                "post": operation(
                    "Test an account", scope: "admin", parameters: [idParameter],
                    responses: ["200": response("The diagnosis.", ref("CheckReport"))], errorStatuses: [400, 404, 422])
            ],
            "/api/v1/stats": [
                "get": operation(
                    "Statistics", scope: "read",
                    responses: [
                        "200": response(
                            "Counts, rates, health.",
                            object(["windows": ["type": "object"], "queue_depth": integer, "accounts": array(["type": "object"])]))
                    ], errorStatuses: [])
            ],
            "/api/v1/keys": [
                "get": operation(
                    "List keys", scope: "admin", responses: ["200": response("Every key, by prefix.", object(["keys": array(ref("Key"))]))],
                    errorStatuses: []),
                "post": operation(
                    "Create a key", scope: "admin",
                    body: object(
                        [
                            "name": ["type": "string", "minLength": 1, "maxLength": 64],
                            "scopes": ["type": "array", "items": ["enum": ["send", "read", "admin"]], "minItems": 1],
                        ], required: ["name", "scopes"]),
                    responses: ["201": response("Created; the key is shown only here.", ref("Key"))]),
            ],
            "/api/v1/keys/{id}": [
                "delete": operation(
                    "Revoke a key", scope: "admin", parameters: [idParameter], responses: ["200": response("Revoked.", ["type": "null"])],
                    errorStatuses: [404])
            ],
            "/api/v1/suppressions": [
                "get": operation(
                    "List suppressions", scope: "read",
                    parameters: [query("limit", ["type": "integer", "minimum": 1, "maximum": 500]), query("cursor", string)],
                    responses: [
                        "200": response(
                            "A page, in address order; next_cursor is the cursor of the next page.",
                            object(
                                ["suppressions": array(ref("Suppression")), "next_cursor": nullable("string")], required: ["suppressions"]))
                    ])
            ],
            "/api/v1/suppressions/{address}": [
                "get": operation(
                    "Show a suppression", scope: "read", parameters: [addressParameter],
                    responses: ["200": response("The address is suppressed.", ref("Suppression"))], errorStatuses: [404, 422]),
                "put": operation(
                    "Suppress an address", scope: "admin",
                    body: object(
                        ["reason": oneLine(minLength: 1, maxLength: 200), "source": oneLine(maxLength: 200)], required: ["reason"]),
                    parameters: [addressParameter],
                    responses: [
                        "200": response("The reason was replaced.", ref("Suppression")),
                        "201": response("The address is now suppressed.", ref("Suppression")),
                    ]),
                "delete": operation(
                    "Remove a suppression", scope: "admin", parameters: [addressParameter],
                    responses: ["200": response("Removed.", ["type": "null"])], errorStatuses: [404, 422]),
            ],
        ]
    }
}
