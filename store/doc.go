// Package store is Teamline's PostgreSQL database: the connection pool, the
// schema and its migrations, and the queries of the packages that keep
// durable state there.
//
// # Connecting and migrating
//
// Open connects with pgx (pgxpool) and checks the server answers; Migrate
// applies the SQL files embedded from migrations/ (named NNNN_name.sql) that
// the database has not seen yet, each in its own transaction, and records
// them in teamline_schema_migrations. Migrate takes a transaction-scoped
// advisory lock, so several Teamline processes sharing one database can
// start at the same time.
//
// # Call records
//
// Every inbound call gets one row in calls: InsertCall when it arrives,
// MarkAnswered when an agent answers, MarkEnded when it ends. Empty strings
// are stored as NULL in the nullable text columns and read back as empty
// strings. Call, CallsBySIPCallID and RecentCalls read them back.
//
// Routing must not wait for the database, nor fail when it is down, so the
// call path does not call those methods directly: it hands events to a
// CallLog, which queues them in memory and writes them in order from one
// worker, retrying while the database is unreachable.
//
// # Transfers and notes
//
// An agent handing a call on adds a row to call_transfers under the call's
// one record (RecordTransfer, or Transferred through the CallLog; Transfers
// reads them back), so the record links every agent who talked to the
// customer. Agents' notes — the wrap-up note after a call, the note for the
// colleague a call is transferred to — are rows of call_notes (AddNote),
// keyed by the call and the customer (or the caller's number when there is no
// customer record); Contacts returns a customer's last calls with their notes,
// CallNotes the notes of given calls.
//
// # Tests
//
// The tests need a real PostgreSQL: see package internal/pgtest, which uses
// DATABASE_URL when set and otherwise starts a throwaway cluster with
// scripts/localpg.sh.
package store
