// Package faultsuite is the fault-injection suite: its tests run `callsnare serve` as a real
// process on SQLite and on PostgreSQL, drive it with signed Twilio callbacks the way Twilio
// retries them, break it (kill -9 at the failpoints of internal/failpoint and under load,
// SIGTERM, a private PostgreSQL cluster restarted and stopped, SQLite's write lock held by
// another connection, two replicas fed identical deliveries), and then check what the
// product promises: every 2xx has its evidence, one call per CallSid, exactly one text per
// missed call at the fake Twilio, the queue drained, every answer within the deadline.
//
// The package has no code of its own; `go test ./internal/faultsuite/` runs it.
package faultsuite
