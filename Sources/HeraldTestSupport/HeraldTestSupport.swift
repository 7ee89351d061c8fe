// HeraldTestSupport (tests only): the in-process SMTP test server with fault injection
// (`SMTPTestServer`) and TLS certificates made at run time (`TestCertificates`).
