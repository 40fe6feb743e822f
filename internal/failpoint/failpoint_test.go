package failpoint

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, spec string
		want       map[string]int64 // point -> hit it fires at
		err        string
	}{
		{"kill at first hit", "store.before-commit=kill", map[string]int64{"store.before-commit": 1}, ""},
		{"kill at third hit", "a=kill@3", map[string]int64{"a": 3}, ""},
		{"several, spaces and a trailing separator", " a=kill ; b = kill@2 ;", map[string]int64{"a": 1, "b": 2}, ""},
		{"no action", "a", nil, "want name=action"},
		{"no name", "=kill", nil, "want name=action"},
		{"unknown action", "a=panic", nil, "unknown action"},
		{"zero count", "a=kill@0", nil, "not a positive integer"},
		{"bad count", "a=kill@x", nil, "not a positive integer"},
		{"twice", "a=kill;a=kill@2", nil, "set twice"},
		{"empty", ";", nil, "no failpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parse(%q) error %v, want one containing %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.spec, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parse(%q) = %d points, want %d", tt.spec, len(got), len(tt.want))
			}
			for name, at := range tt.want {
				if p := got[name]; p == nil || p.at != at {
					t.Errorf("point %s: %+v, want at %d", name, p, at)
				}
			}
		})
	}
}

// helperEnv makes the test binary, run again as a child, hit a point from TestHelperHits.
const helperEnv = "FAILPOINT_TEST_HELPER"

// TestHelperHits is the child of TestKill: it hits point "p" five times, saying so on
// stdout before each hit.
func TestHelperHits(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("run as a child of TestKill")
	}
	for i := 1; i <= 5; i++ {
		os.Stdout.WriteString("before " + string(rune('0'+i)) + "\n")
		Hit("p")
	}
	os.Stdout.WriteString("survived\n")
}

func TestKill(t *testing.T) {
	tests := []struct {
		spec, wantOut string
		killed        bool
	}{
		{"p=kill@3", "before 1\nbefore 2\nbefore 3\n", true},
		{"p=kill", "before 1\n", true},
		{"other=kill", "before 1\nbefore 2\nbefore 3\nbefore 4\nbefore 5\nsurvived\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHits$", "-test.v=false")
			cmd.Env = append(os.Environ(), helperEnv+"=1", EnvVar+"="+tt.spec)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if tt.killed {
				if !errors.As(err, &ee) {
					t.Fatalf("child not killed: %v\n%s", err, stdout.String())
				}
				ws, ok := ee.Sys().(syscall.WaitStatus)
				if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("child ended with %v, want SIGKILL", ee)
				}
				if !strings.Contains(stderr.String(), "failpoint p: kill at hit") {
					t.Errorf("stderr does not name the point: %q", stderr.String())
				}
			} else if err != nil {
				t.Fatalf("child: %v\n%s", err, stderr.String())
			}
			if got := strings.TrimSuffix(stdout.String(), "PASS\n"); got != tt.wantOut {
				t.Errorf("child printed %q, want %q", got, tt.wantOut)
			}
		})
	}
}

func TestBadSpecStopsAtStart(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvVar+"=p=explode")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("child with a bad spec: %v, want exit 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "unknown action") {
		t.Errorf("output does not say why: %q", out)
	}
}

// BenchmarkHitUnset is the cost of a hook in production, where no point is set.
func BenchmarkHitUnset(b *testing.B) {
	saved := points
	points = nil
	defer func() { points = saved }()
	for b.Loop() {
		Hit(StoreBeforeCommit)
	}
}
