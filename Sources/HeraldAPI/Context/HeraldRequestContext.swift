import HeraldStore
import Hummingbird
import Logging

/// What Herald knows about a request while it is handled: its id and the API key that made it.
public struct HeraldRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// `X-Request-Id` as given (when well-formed) or generated; in every response and log line.
    public var requestID: String
    /// The authenticated key, once `AuthMiddleware` has run.
    public var apiKey: APIKeyRecord?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = ""
    }

    /// Attachments are base64 inside JSON: room for the 20 MB of attachments a message may carry.
    public static let maxBodyBytes = 32 * 1024 * 1024
    public var maxUploadSize: Int { Self.maxBodyBytes }
}
