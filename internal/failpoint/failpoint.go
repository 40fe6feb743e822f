// Package failpoint makes the process die at a named point in its code, when and only when
// a test asks for it, so that the fault-injection suite can prove what survives a crash at
// that exact moment (before a commit, after a commit but before the answer, after Twilio
// accepted a text but before it was recorded).
//
// The points are read once, at start, from CALLSNARE_FAILPOINTS:
//
//	CALLSNARE_FAILPOINTS='store.before-commit=kill@3;textback.after-send=kill'
//
// Each entry is name=action; the one action is kill (die at the first hit) or kill@N (die
// at the Nth hit). Dying is what `kill -9` does: SIGKILL to the process itself, so no
// deferred function, buffered log or graceful shutdown runs. Before dying the process writes
// one line to stderr, "failpoint NAME: kill at hit N", so a test knows which point fired.
//
// With the variable unset, Hit is a check of a nil map: the hooks cost nothing in
// production. An unparsable value stops the process at start with exit code 2.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// EnvVar names the environment variable the points are read from.
const EnvVar = "CALLSNARE_FAILPOINTS"

// The points the code defines, for the tests that set them.
const (
	// StoreBeforeCommit is in the store's writer, after every unit of a transaction ran
	// and before its commit.
	StoreBeforeCommit = "store.before-commit"
	// StoreMidBatch is in the store's writer before each unit of a batch of several, so
	// kill@2 dies with the first unit of a batch applied and the rest not.
	StoreMidBatch = "store.mid-batch"
	// ServerBeforeAnswer is in the webhook routes after the delivery committed and before
	// the answer is written.
	ServerBeforeAnswer = "server.before-answer"
	// TextbackBeforeSend is in the text-back worker after the send was claimed (recorded
	// as sending) and before Twilio is called.
	TextbackBeforeSend = "textback.before-send"
	// TextbackAfterSend is in the text-back worker after Twilio accepted the message and
	// before that is recorded.
	TextbackAfterSend = "textback.after-send"
)

type point struct {
	at   int64 // die at this hit
	hits atomic.Int64
}

// points is nil unless EnvVar was set: Hit's fast path.
var points map[string]*point

func init() {
	v := os.Getenv(EnvVar)
	if v == "" {
		return
	}
	p, err := parse(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", EnvVar, err)
		os.Exit(2)
	}
	points = p
}

// parse reads a failpoint specification (see the package doc).
func parse(spec string) (map[string]*point, error) {
	out := map[string]*point{}
	for _, entry := range strings.Split(spec, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, action, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want name=action", entry)
		}
		at := int64(1)
		verb, count, hasCount := strings.Cut(strings.TrimSpace(action), "@")
		if verb != "kill" {
			return nil, fmt.Errorf("%q: unknown action %q (want kill or kill@N)", entry, verb)
		}
		if hasCount {
			n, err := strconv.ParseInt(count, 10, 64)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: hit count %q is not a positive integer", entry, count)
			}
			at = n
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%q: point %s set twice", entry, name)
		}
		out[name] = &point{at: at}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no failpoint in %q", spec)
	}
	return out, nil
}

// Hit marks that the code passed the named point; if a test set the point to fire at this
// hit, the process dies here as if killed with SIGKILL.
func Hit(name string) {
	if points == nil {
		return
	}
	if p := points[name]; p != nil {
		if n := p.hits.Add(1); n == p.at {
			die(name, n)
		}
	}
}

func die(name string, n int64) {
	fmt.Fprintf(os.Stderr, "failpoint %s: kill at hit %d\n", name, n)
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Kill() // SIGKILL: nothing after this line runs
	}
	os.Exit(137) // not reached where SIGKILL exists
}
