// Package cli is the callsnare command line: cobra commands, each a thin layer that reads
// its options from the one Config and calls the package that does the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = ""

// usageError marks bad flags, arguments or input: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(msg string) error { return &usageError{msg} }

// exitCode is the one table from errors to exit codes.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	case errors.Is(err, errFailed):
		return 1
	}
	return 1
}

// errFailed is returned by commands that already printed why they failed.
var errFailed = errors.New("failed")

// app is the state shared by the commands of one invocation.
type app struct {
	v          *viper.Viper
	cfg        Config
	log        *slog.Logger
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	configFile string
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{v: newViper(), stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errFailed) {
		fmt.Fprintln(stderr, "callsnare:", err)
	}
	return exitCode(err)
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "callsnare",
		Short: "Recover missed calls: Twilio and Stripe webhooks, text-backs, and the tools to run them",
		Long: `CallSnare forwards calls to a business's tracked Twilio numbers, texts back the callers
nobody answered, keeps every provider callback as evidence, and syncs billing from Stripe.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load(a.v, a.configFile)
			if err != nil {
				return err
			}
			a.cfg = cfg
			a.log, err = newLogger(a.stderr, cfg.LogLevel, cfg.LogFormat)
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (YAML, TOML or JSON)")
	pf.String("db", "callsnare.db", "database: a SQLite file path, sqlite:PATH, or postgres://...")
	pf.String("log-level", "info", "log level: debug, info, warn, error")
	pf.String("log-format", "text", "log format: text or json")
	bindFlags(a.v, pf, map[string]string{"db": "db", "log-level": "log_level", "log-format": "log_format"})
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr(fmt.Sprintf("%v\nRun '%s --help' for usage.", err, cmd.CommandPath()))
	})
	root.AddCommand(a.serveCmd(), a.migrateCmd(), a.orgCmd(), a.callsCmd(), a.leadsCmd(), a.logsCmd(),
		a.replayCmd(), a.simulateCmd())
	return root
}

// args wraps a cobra argument validator so that its failures exit 2.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return usageErr(err.Error())
		}
		return nil
	}
}
