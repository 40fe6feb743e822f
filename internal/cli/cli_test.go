package cli_test

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/callsnare/callsnare/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"callsnare": func() { os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the whole-CLI scenarios in testdata/script, each in a fresh directory
// with its own SQLite file.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Config must come from the script alone, never from the developer's shell.
			for _, k := range []string{"CALLSNARE_DB", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "STRIPE_WEBHOOK_SECRET"} {
				env.Setenv(k, "")
			}
			return nil
		},
	})
}
