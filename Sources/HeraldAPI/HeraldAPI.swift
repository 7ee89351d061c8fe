// HeraldAPI: the HTTP API (DESIGN.md section 8), built on Hummingbird 2.
//
// `buildApplication` makes the whole application for `herald serve` and for the tests alike.
// Every response is the envelope `{"code", "message", "data", "request_id"}`: `code` 0 on
// success, otherwise one of `APIError.Code`'s stable values with the matching HTTP status.

/// The structured-logging metadata keys of this module, in one place.
enum LogKey {
    static let requestID = "request.id"
    static let apiKey = "api_key.prefix"
    static let messageID = "message.id"
}
