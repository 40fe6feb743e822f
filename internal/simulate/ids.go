package simulate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/callsnare/callsnare/internal/callflow"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// DefaultOptions are the options `callsnare simulate` starts from.
func DefaultOptions() Options {
	return Options{
		Rate: 200, Concurrency: 256, Seed: 1, Orgs: 4,
		AnswerRate: 0.4, Untextable: 0.05, ReplyRate: 0.3, StopRate: 0.3, RestartRate: 0.5,
		Rules: callflow.DefaultRules(), DrainTimeout: 30 * time.Second,
	}
}

// areaCodes are real US area codes; callers are 555-01xx numbers in them, the range kept
// for fiction, which libphonenumber still reads as valid mobile-or-fixed US numbers.
var areaCodes = []string{
	"512", "415", "212", "303", "617", "206", "312", "404", "713", "602",
	"214", "305", "503", "702", "801", "919", "615", "704", "314", "816",
}

// untextableCallers are caller IDs Twilio sends that no text can reach.
var untextableCallers = []string{"anonymous", "+266696687", "client:alice", "sip:bob@example.com"}

// callerNumber is the i-th caller of the pool.
func callerNumber(i int) string {
	return fmt.Sprintf("+1%s55501%02d", areaCodes[(i/100)%len(areaCodes)], i%100)
}

// ider derives the run's ids from its seed and run id, so that the same seed plays the
// same traffic and two runs on one database never share an id.
type ider struct {
	ns string
}

func (d ider) hex(n int, parts ...any) string {
	b := make([]byte, 0, 128)
	b = append(b, d.ns...)
	for _, p := range parts {
		b = append(b, 0)
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		default:
			b = fmt.Append(b, v)
		}
	}
	sum := sha256.Sum256(b)
	s := hex.EncodeToString(sum[:])
	for len(s) < n {
		s += s
	}
	return s[:n]
}

// sid is a Twilio SID: the prefix and 32 hex digits.
func (d ider) sid(prefix string, parts ...any) string { return prefix + d.hex(32, parts...) }

// rngFor is a generator of its own for one flow, so that a flow's choices do not depend on
// the order in which flows interleave.
func (d ider) rngFor(parts ...any) *rand.Rand {
	b, _ := hex.DecodeString(d.hex(32, parts...))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])))
}

// trackedNumber is the org's tracked number, different in every run.
func (d ider) trackedNumber(org, attempt int) string {
	b, _ := hex.DecodeString(d.hex(8, "tracked", org, attempt))
	n := binary.BigEndian.Uint32(b)
	return fmt.Sprintf("+1737%03d%04d", 200+n%800, (n/800)%10000)
}

// textable caches callflow.Textable over the caller pool: parsing a number is the dearest
// part of planning a call.
var textable sync.Map

func isTextable(number string) bool {
	if v, ok := textable.Load(number); ok {
		return v.(bool)
	}
	t := callflow.Textable(number)
	textable.Store(number, t)
	return t
}
