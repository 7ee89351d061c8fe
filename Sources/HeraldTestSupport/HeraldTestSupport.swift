// HeraldTestSupport (tests only): the in-process SMTP test server with fault injection, TLS test
// certificates made at run time, and store fixtures.
