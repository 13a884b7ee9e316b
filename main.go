// Command livy-token-audit audits the access tokens of EMR Serverless Spark
// Livy Gateways: it flags tokens that are expiring, expired, stale, unused or
// long-lived, writes a JSON snapshot and posts a summary to Slack.
//
// It runs as a Function Compute handler when FC_RUNTIME_API is set, and as a
// CLI otherwise; `-demo` audits an embedded emulator and needs no account.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
)

// defaultMemoryLimit is the soft memory limit of the Go runtime when
// GOMEMLIMIT does not set one: the garbage collector works harder as the
// heap nears it, so that a large fleet stays well inside the function's
// 256 MB (a heap that must grow past it still may: it is soft).
const defaultMemoryLimit = 96 << 20

func main() {
	if debugVar, ok := withoutSDKDebug(os.Getenv("DEBUG")); ok {
		quietSDKs(debugVar) // never returns
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("FC_RUNTIME_API") != "" {
		serveFC(os.Getenv, os.Stderr) // never returns
	}
	// The first SIGTERM or Ctrl-C interrupts the run (it writes what it
	// audited); a second one stops the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// sdkDebugFlags are the DEBUG words that make the Alibaba Cloud SDKs print
// every request, its signed headers (the STS token) included, to stdout.
var sdkDebugFlags = []string{"dara", "tea"}

// withoutSDKDebug returns the value of DEBUG without the SDKs' words, and
// whether it had any.
func withoutSDKDebug(v string) (string, bool) {
	var keep []string
	found := false
	for _, part := range strings.Split(v, ",") {
		if slices.Contains(sdkDebugFlags, strings.TrimSpace(part)) {
			found = true
			continue
		}
		if part != "" {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, ","), found
}

// quietSDKs runs the program again with the SDKs' debug words taken out of
// DEBUG: the SDKs read it once, when the program starts, so that is the only
// way to turn their printing off whatever DEBUG says (it would put the
// signed headers in the logs, and break -format json).
func quietSDKs(debugVar string) {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "DEBUG=") })
	if debugVar != "" {
		env = append(env, "DEBUG="+debugVar)
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env)
	}
	fmt.Fprintf(os.Stderr, "livy-token-audit: DEBUG asks the SDKs to print their requests, with credentials; cannot restart without it: %v\n", err)
	os.Exit(exitFailed)
}
