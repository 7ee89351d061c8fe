// HeraldStore: records, the Store protocol, migrations, SQLiteStore and PostgresStore: the
// durable queue the workers claim from. Built in the store issue.
