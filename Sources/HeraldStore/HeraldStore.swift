// HeraldStore: Herald's durable records and the queue the delivery workers claim from.
//
// One `Store` protocol, one implementation of its logic (`SQLStore`) and two backends:
// `SQLiteStore` (embedded, the default) and `PostgresStore` (many processes on many machines).
// Both run the same SQL where the dialects agree, so the one behavioural test suite proves both.
//
// Times are stored as integer microseconds since 1970 and every lease and schedule comparison
// uses the database's clock (`statement_timestamp()` on PostgreSQL, SQLite's `now` on the one
// machine SQLite runs on): workers whose own clocks are skewed neither send early nor steal a
// live lease.
