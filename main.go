// Command livy-token-audit audits the access tokens of EMR Serverless Spark
// Livy Gateways: it flags tokens that are expiring, expired, stale, unused or
// long-lived, writes a JSON snapshot and posts a summary to Slack.
//
// It runs as a Function Compute handler when FC_RUNTIME_API is set, and as a
// CLI otherwise; `-demo` audits an embedded emulator and needs no account.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultMemoryLimit is the soft memory limit of the Go runtime when
// GOMEMLIMIT does not set one: the garbage collector works harder as the
// heap nears it, so that a large fleet stays well inside the function's
// 256 MB (a heap that must grow past it still may: it is soft).
const defaultMemoryLimit = 96 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("FC_RUNTIME_API") != "" {
		serveFC(os.Getenv, os.Stderr) // never returns
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
