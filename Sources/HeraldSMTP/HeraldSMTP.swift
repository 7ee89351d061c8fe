// HeraldSMTP: Herald's SMTP client. A value-type protocol state machine (StateMachine/) driven by
// a NIO channel handler (Channel/), exposed through async `SMTPConnection` and
// `SMTPConnectionPool` (Connection/). It takes an envelope of plain address strings and the
// message bytes, and never imports HeraldMIME: the two meet in HeraldDelivery.
