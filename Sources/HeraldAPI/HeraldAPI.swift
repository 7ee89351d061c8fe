// HeraldAPI: the Hummingbird application (routes, auth, envelope responses, OpenAPI document,
// dashboard), built by one function that the executable and the tests share.
