// HeraldSMTP: Herald's SMTP client (reply decoder, commands, protocol state machine, channel
// handler, connection, pool, SMTPError, the diagnose probe). It takes an envelope of plain
// address strings and the message bytes, and never imports HeraldMIME. Built in the SMTP issue.
