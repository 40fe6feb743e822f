// Command callsnare is the CallSnare webhook server and its tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/callsnare/callsnare/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
