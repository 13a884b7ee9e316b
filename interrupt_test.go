package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/standin/emulator"
)

// SIGTERM stops the real binary as its deadline would: it lists no more
// (a gateway whose listing hangs is "Interrupted"), writes what it audited
// as a partial run, posts it, and exits 3 long before the hang or the
// -timeout would end it; with nothing audited, it exits 1. (How long it
// takes is measured in BENCHMARKS.md; the bound here only proves that the
// signal, not the hang, ended the run.)
func TestSIGTERMWritesWhatItHas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	for _, tc := range []struct {
		name    string
		hanging []string
		exit    int
		verdict audit.Verdict
	}{
		{"one gateway hangs", []string{"lc-hz-etl"}, exitPartial, audit.VerdictPartial},
		{"every gateway hangs", []string{"lc-hz-etl", "lc-hz-bi", "lc-hz-ml", "lc-hz-ml2", "lc-sh-risk", "kb-hz-sql"}, exitFailed, audit.VerdictFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := buildStage(t, "", "")
			st.healthy()
			st.emu.Edit(func() {
				for _, id := range tc.hanging {
					st.gateway(id).Fail = &emulator.Failure{Delay: emulator.Duration(10 * time.Minute)}
				}
			})
			st.worldNow.Store(demoStart.UnixMilli())
			cmd := exec.Command(bin, "-config", st.cfgPath, "-now", day1, "-timeout", "10m", "-log-level", "debug")
			cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret, "SLACK_WEBHOOK_URL=" + st.hookURL,
				"HOME=" + t.TempDir(), "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"}
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Signalled once every gateway that answers is audited (the
			// binary says so at debug level once the result is the run's)
			// and every hanging one is in flight.
			listed := func() int { return strings.Count(out.String(), `msg="gateway listed"`) }
			hanging := func() int {
				n := 0
				for _, id := range tc.hanging {
					if st.emu.Arrived(st.gateway(id).Fail) > 0 {
						n++
					}
				}
				return n
			}
			for deadline := time.Now().Add(30 * time.Second); listed() < 6-len(tc.hanging) || hanging() < len(tc.hanging); {
				if time.Now().After(deadline) {
					t.Fatalf("the run never listed the gateways (%d audited, %d hanging):\n%s", listed(), hanging(), out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			signalled := time.Now()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 60 s after SIGTERM:\n%s", out.String())
			}
			t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
			var ee *exec.ExitError
			if code := 0; !errors.As(err, &ee) || ee.ExitCode() != tc.exit {
				if ee != nil {
					code = ee.ExitCode()
				}
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.exit, out.String())
			}
			s := st.snapshot(t, day1Key)
			if s == nil || s.Verdict != tc.verdict {
				t.Fatalf("snapshot %v, want one written, %s\n%s", s, tc.verdict, out.String())
			}
			interrupted := 0
			for _, g := range s.Gateways {
				if g.Error != nil && g.Error.Code == audit.CodeInterrupted {
					interrupted++
				}
			}
			if interrupted != len(tc.hanging) || !strings.Contains(out.String(), "interrupted") {
				t.Errorf("%d gateways Interrupted, want %d; the log says:\n%s", interrupted, len(tc.hanging), out.String())
			}
			if len(st.slack.posts()) != 1 {
				t.Errorf("%d posts; an interrupted run reports what it audited", len(st.slack.posts()))
			}
			st.leaks(t, out.String())
		})
	}
}
