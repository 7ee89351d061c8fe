// HeraldMIME turns "from, to, subject, text, html, attachments" into the exact bytes that go on
// the wire (RFC 5322, MIME, RFC 2047/2231, DKIM). It knows nothing of SMTP or networking; the
// delivery layer hands its `ComposedMessage` (envelope + bytes) to the SMTP client.
