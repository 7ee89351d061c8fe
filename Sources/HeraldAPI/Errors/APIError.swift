import Foundation
import HTTPTypes
import HeraldStore
import Hummingbird
import NIOCore

/// An error as a client sees it: a stable numeric `code` with its HTTP status, a sentence, and
/// for validation errors each field and why. Unknown errors become a generic 500 whose detail
/// goes to the log only.
public struct APIError: Error, Sendable, Hashable {
    /// The stable error codes of the envelope's `code` (0 is success). Documented in the README.
    public enum Code: Int, Sendable, CaseIterable {
        case badRequest = 40000
        case validationFailed = 40001
        case unauthorized = 40100
        case forbidden = 40300
        case notFound = 40400
        case methodNotAllowed = 40500
        case conflict = 40900
        case idempotencyConflict = 40901
        case invalidState = 40902
        case payloadTooLarge = 41300
        case templateVariableMissing = 42201
        case templateInvalid = 42202
        case rateLimited = 42900
        case internalError = 50000
        case unavailable = 50300

        public var status: HTTPResponse.Status {
            switch self {
            case .badRequest: .badRequest
            case .validationFailed: .unprocessableContent
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .methodNotAllowed: .methodNotAllowed
            case .conflict, .idempotencyConflict, .invalidState: .conflict
            case .payloadTooLarge: .contentTooLarge
            case .templateVariableMissing, .templateInvalid: .unprocessableContent
            case .rateLimited: .tooManyRequests
            case .internalError: .internalServerError
            case .unavailable: .serviceUnavailable
            }
        }

        /// The code's name, also in `data.error`.
        public var name: String {
            switch self {
            case .badRequest: "bad_request"
            case .validationFailed: "validation_failed"
            case .unauthorized: "unauthorized"
            case .forbidden: "forbidden"
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .conflict: "conflict"
            case .idempotencyConflict: "idempotency_conflict"
            case .invalidState: "invalid_state"
            case .payloadTooLarge: "payload_too_large"
            case .templateVariableMissing: "template_variable_missing"
            case .templateInvalid: "template_invalid"
            case .rateLimited: "rate_limited"
            case .internalError: "internal_error"
            case .unavailable: "unavailable"
            }
        }
    }

    /// One invalid field: its JSON path and what is wrong, in words.
    public struct FieldError: Sendable, Hashable, Codable {
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    public var code: Code
    public var message: String
    public var fields: [FieldError]
    /// Seconds, for 429.
    public var retryAfter: Int?

    public init(_ code: Code, _ message: String, fields: [FieldError] = [], retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.fields = fields
        self.retryAfter = retryAfter
    }

    /// A validation failure listing every bad field.
    public static func validation(_ fields: [FieldError]) -> APIError {
        let summary = fields.prefix(3).map { "\($0.field) \($0.reason)" }.joined(separator: "; ")
        return APIError(.validationFailed, "the request is invalid: \(summary)\(fields.count > 3 ? "; ..." : "")", fields: fields)
    }

    public static func notFound(_ what: String) -> APIError { APIError(.notFound, "\(what) was not found") }

    /// The API's view of any error: ours as they are, the store's and the decoder's translated,
    /// anything else a generic 500 (logged by the caller, never shown).
    static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError:
            return error
        case let error as StoreError:
            switch error.code {
            case .notFound: return APIError(.notFound, error.message)
            case .alreadyExists: return APIError(.conflict, error.message)
            case .idempotencyConflict: return APIError(.idempotencyConflict, error.message)
            case .invalidState, .leaseLost: return APIError(.invalidState, error.message)
            case .invalidArgument: return APIError(.validationFailed, error.message)
            case .unavailable: return APIError(.unavailable, "the database is unavailable; try again")
            default: return nil
            }
        case let error as DecodingError:
            return decodingError(error)
        case is NIOTooManyBytesError:
            return tooLarge
        case let error as HTTPError:
            switch error.status {
            case .notFound: return APIError(.notFound, "no such endpoint")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "this endpoint does not take that method")
            case .contentTooLarge: return tooLarge
            case .badRequest: return APIError(.badRequest, error.body ?? "bad request")
            default: return error.status.code < 500 ? APIError(.badRequest, error.body ?? error.status.reasonPhrase) : nil
            }
        default:
            return nil
        }
    }

    static let tooLarge = APIError(
        .payloadTooLarge, "the request body is larger than \(HeraldRequestContext.maxBodyBytes / 1_048_576) MB, the most Herald takes")

    static func decodingError(_ error: DecodingError) -> APIError {
        func path(_ context: DecodingError.Context, _ extra: CodingKey? = nil) -> String {
            let keys = context.codingPath + (extra.map { [$0] } ?? [])
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "body" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return .validation([FieldError(field: path(context), reason: "must be \(typeName(type))")])
        case .valueNotFound(let type, let context):
            return .validation([FieldError(field: path(context), reason: "must be \(typeName(type)), not null")])
        case .keyNotFound(let key, let context):
            return .validation([FieldError(field: path(context, key), reason: "is required")])
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return APIError(.badRequest, "the body is not valid JSON") }
            return .validation([FieldError(field: path(context), reason: context.debugDescription)])
        @unknown default:
            return APIError(.badRequest, "the body could not be read")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [String].Type: "an array of strings"
        case is AddressList.Type: "an address or an array of addresses"
        default:
            "\(type)".hasPrefix("Array") ? "an array" : "\(type)".hasPrefix("Dictionary") ? "an object" : "of another type"
        }
    }
}
