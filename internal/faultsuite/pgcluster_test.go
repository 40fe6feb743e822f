package faultsuite_test

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgCluster is a PostgreSQL of the test's own (initdb and pg_ctl into a temporary
// directory, on a free loopback port), so that a scenario can restart and stop it: the
// machine's own server is never touched.
type pgCluster struct {
	t     testing.TB
	bin   string // the directory of initdb, pg_ctl
	dir   string
	data  string
	port  int
	runAs []string // runuser -u postgres -- when running as root (initdb refuses root)
}

// startCluster creates and starts a cluster that is stopped and removed with the test. It
// skips the test, saying why, when PostgreSQL's server programs are not installed or (as
// root) there is no postgres user to run them as.
func startCluster(t testing.TB) *pgCluster {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		t.Skip("no /usr/lib/postgresql/*/bin/initdb: install PostgreSQL's server to run the private-cluster scenarios")
	}
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	c := &pgCluster{t: t, bin: filepath.Dir(found[len(found)-1])}
	var uid, gid int = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run initdb as (%v)", err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Skip("running as root and runuser is missing: initdb refuses to run as root")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.runAs = []string{runuser, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "callsnare-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		c.stopNow()
		os.RemoveAll(dir)
	})
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("chown %s: %v", dir, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.start()
	return c
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (c *pgCluster) run(prog string, args ...string) {
	c.t.Helper()
	argv := append(append([]string(nil), c.runAs...), append([]string{filepath.Join(c.bin, prog)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	// A file, not a pipe: the server pg_ctl starts inherits it and would keep a pipe open.
	out, err := os.CreateTemp("", "callsnare-pg-out-")
	if err != nil {
		c.t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		c.t.Fatalf("%s: %v\n%s", prog, err, b)
	}
}

func (c *pgCluster) pgCtl(action string, args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{action, "-D", c.data, "-w", "-t", "60"}, args...)...)
}

func (c *pgCluster) start() {
	c.t.Helper()
	c.pgCtl("start", "-l", filepath.Join(c.dir, "server.log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", c.port, c.dir))
}

// restart is `pg_ctl restart -m fast`: every connection is cut, then the server is back.
func (c *pgCluster) restart() {
	c.t.Helper()
	c.pgCtl("restart", "-m", "fast")
}

// stop is `pg_ctl stop -m fast`.
func (c *pgCluster) stop() {
	c.t.Helper()
	c.pgCtl("stop", "-m", "fast")
}

func (c *pgCluster) stopNow() {
	argv := append(append([]string(nil), c.runAs...), filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data, "-m", "immediate", "-w")
	_ = exec.Command(argv[0], argv[1:]...).Run()
}

// dsn is the URL of database name.
func (c *pgCluster) dsn(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// createDB makes a database for one scenario and returns its DSN.
func (c *pgCluster) createDB(name string) string {
	c.t.Helper()
	db, err := sql.Open("pgx", c.dsn("postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		c.t.Fatalf("create database %s: %v", name, err)
	}
	return c.dsn(name)
}
