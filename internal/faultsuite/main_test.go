package faultsuite_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/callsnare/callsnare/internal/cli"
)

// childEnv makes the test binary run as `callsnare` instead of running tests: the suite
// starts `serve` by executing itself, as testscript does, so the process under test is the
// real command (same code as cmd/callsnare) without a separate build.
const childEnv = "CALLSNARE_FAULTSUITE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// What cmd/callsnare's main does.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
