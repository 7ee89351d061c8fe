// HeraldDelivery: workers, retry policy, error classification, account routing, circuit
// breakers, quotas and channels. Where HeraldMIME and HeraldSMTP meet, at "envelope + bytes".
