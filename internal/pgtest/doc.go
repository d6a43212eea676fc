// Package pgtest gives each test a real PostgreSQL database of its own.
//
// URL returns a connection URL to a fresh, empty database created for the
// calling test and dropped when it ends; Store opens and migrates one. The
// databases are created next to DATABASE_URL when it is set (named
// tl_test_<random>). Otherwise pgtest starts a throwaway cluster once per test
// process with scripts/localpg.sh in a temporary directory, listening only on
// a unix socket, and removes it when the process ends: a package that uses
// pgtest must call Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// NewCluster starts a cluster of a test's own, which the test may stop and
// start again (to test behaviour during a database outage).
//
// Every cluster pgtest starts is also watched by a small shell process that
// stops and removes it if the test process dies without cleaning up (a
// panic, a -timeout, a kill).
package pgtest
