//go:build race

package simulate

// raceDetector: the race detector slows every goroutine several times over, so the
// embedded runs play fewer calls at a lower rate, keeping the server within its delivery
// deadline (past it the answer is a 503, which the verdict counts as an error).
const raceDetector = true
