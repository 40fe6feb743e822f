// Command skipsummary reads `go test -json` events on stdin and prints one line per
// package that skipped tests: how many, and why (each distinct skip message once), so
// that `make test` shows what it did not run without -v.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// module is trimmed from package paths, as go test and gotestsum print them.
const module = "github.com/callsnare/callsnare/"

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	type key struct{ pkg, test string }
	output := map[key][]string{}
	skipped := map[string][]string{} // package -> tests
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			output[k] = append(output[k], e.Output)
		case "skip":
			skipped[e.Package] = append(skipped[e.Package], e.Test)
		}
	}
	pkgs := make([]string, 0, len(skipped))
	for p := range skipped {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, p := range pkgs {
		var reasons []string
		for _, t := range skipped[p] {
			if r := reason(output[key{p, t}]); r != "" && !slices.Contains(reasons, r) {
				reasons = append(reasons, r)
			}
		}
		fmt.Printf("SKIP  %s: %d skipped: %s\n", strings.TrimPrefix(p, module), len(skipped[p]), strings.Join(reasons, "; "))
	}
}

// reason is a skipped test's message: its output less the "=== RUN" and "--- SKIP" lines
// and the file:line prefix.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		if i := strings.Index(l, ".go:"); i >= 0 {
			if j := strings.Index(l[i:], ": "); j >= 0 {
				l = l[i+j+2:]
			}
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, " ")
}
