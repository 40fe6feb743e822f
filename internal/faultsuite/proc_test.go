package faultsuite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callsnare/callsnare/internal/failpoint"
	"github.com/callsnare/callsnare/internal/servicetest"
)

// serveConfig is what one `serve` process is started with.
type serveConfig struct {
	dsn        string
	fakeTwilio string // base URL of the fake Messages API
	failpoints string // CALLSNARE_FAILPOINTS, empty for none
	env        []string
}

// serveProc is one running `callsnare serve`.
type serveProc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port
	log  *procLog
	done chan struct{} // closed when the process has ended
	ws   syscall.WaitStatus
}

var procSeq struct {
	sync.Mutex
	n int
}

// startServe runs serve on a free loopback port and returns once it listens. Its log
// (JSON lines) goes to a file in the test's temporary directory, named in failures.
func startServe(t testing.TB, c serveConfig) *serveProc {
	t.Helper()
	procSeq.Lock()
	procSeq.n++
	name := fmt.Sprintf("serve-%d", procSeq.n)
	procSeq.Unlock()
	logPath := filepath.Join(t.TempDir(), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create %s: %v", logPath, err)
	}
	t.Cleanup(func() { lf.Close() })
	p := &serveProc{t: t, name: name, done: make(chan struct{}), log: newProcLog(lf, logPath)}
	p.cmd = exec.Command(os.Args[0], "serve", "--shutdown-timeout", "20s")
	p.cmd.Env = append(childEnviron(),
		childEnv+"=1",
		"CALLSNARE_DB="+c.dsn,
		"CALLSNARE_ADDR=127.0.0.1:0",
		"CALLSNARE_LOG_FORMAT=json",
		"CALLSNARE_TWILIO_ACCOUNT_SID="+servicetest.AccountSID,
		"CALLSNARE_TWILIO_AUTH_TOKEN="+servicetest.AuthToken,
		"CALLSNARE_TWILIO_API_BASE_URL="+c.fakeTwilio,
		"CALLSNARE_STRIPE_WEBHOOK_SECRET="+servicetest.StripeSecret,
	)
	if c.failpoints != "" {
		p.cmd.Env = append(p.cmd.Env, failpoint.EnvVar+"="+c.failpoints)
	}
	p.cmd.Env = append(p.cmd.Env, c.env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.ws, _ = p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case addr := <-p.log.addr:
		p.url = "http://" + addr
	case <-p.done:
		t.Fatalf("%s ended before it listened (%v); log %s:\n%s", name, p.ws, logPath, p.log.tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen within a minute; log %s:\n%s", name, logPath, p.log.tail())
	}
	return p
}

// childEnviron is this process's environment without any CallSnare, Twilio or Stripe
// setting, so that the machine's own configuration cannot leak into the process under test.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CALLSNARE_") || strings.HasPrefix(k, "TWILIO_") || strings.HasPrefix(k, "STRIPE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// kill is kill -9.
func (p *serveProc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *serveProc) terminate() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("%s did not stop within a minute of SIGTERM; log:\n%s", p.name, p.log.tail())
	}
	if !p.ws.Exited() || p.ws.ExitStatus() != 0 {
		p.t.Errorf("%s after SIGTERM: %v, want exit 0; log:\n%s", p.name, p.ws, p.log.tail())
	}
}

// waitDeath waits for the process to die by a failpoint and checks it was that one.
func (p *serveProc) waitDeath(point string, within time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("%s: failpoint %s did not fire within %s; log:\n%s", p.name, point, within, p.log.tail())
	}
	if !p.ws.Signaled() || p.ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s ended with %v, want SIGKILL from failpoint %s; log:\n%s", p.name, p.ws, point, p.log.tail())
	}
	if want := "failpoint " + point + ": kill"; !strings.Contains(p.log.text(), want) {
		p.t.Fatalf("%s was killed but its log does not say %q:\n%s", p.name, want, p.log.tail())
	}
}

// metric reads one unlabelled series from /metrics.
func (p *serveProc) metric(name string) (float64, error) {
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("%s not in /metrics", name)
}

// procLog keeps a process's output in a file and in memory, and finds the address it
// listens on in its "serving" line.
type procLog struct {
	mu   sync.Mutex
	f    *os.File
	path string
	buf  bytes.Buffer
	part []byte
	addr chan string
}

func newProcLog(f *os.File, path string) *procLog {
	return &procLog{f: f, path: path, addr: make(chan string, 1)}
}

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(b)
	l.buf.Write(b)
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(l.part[:i], &rec) == nil && rec.Msg == "serving" && rec.Addr != "" {
			select {
			case l.addr <- rec.Addr:
			default:
			}
		}
		l.part = l.part[i+1:]
	}
	return len(b), nil
}

func (l *procLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail is the end of the log, for failure messages.
func (l *procLog) tail() string {
	s := l.text()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// get is the status of GET path, 0 when there is no answer.
func (p *serveProc) get(path string) int {
	resp, err := http.Get(p.url + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
