// Package preflight checks, before the first audit, that the account, the
// store and the destinations do what the audit relies on: each check is
// one call (or a few) against the real thing, and its row says ok or what
// to do. The checks themselves are built from the config by the caller
// (the wiring knows the adapters); this package runs them within a bound,
// a rate and a per-check timeout, keeps every row whatever fails, and
// writes the rows as a table or as JSON.
package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/time/rate"
)

// Result is what a check found.
type Result string

// The results. Skipped ones are not failures: the feature is not
// configured, or the check needs a flag (a post) to run.
const (
	OK                Result = "ok"
	MissingPermission Result = "missing permission"
	Unreachable       Result = "unreachable"
	Refused           Result = "refused"
	NotConfigured     Result = "skipped: not configured"
	NeedsPost         Result = "skipped: needs -preflight-post"
	// NothingToCall: the call needs an object (a workspace, a gateway) and
	// there is none to call it on; the check above it says why.
	NothingToCall Result = "skipped: nothing to call it on"
)

// Failed reports whether r is a failure (anything but ok or skipped).
func (r Result) Failed() bool { return r != OK && !strings.HasPrefix(string(r), "skipped") }

// Row is one check's outcome: the check, where it ran (an account and
// region, a destination), the result, what to do about it, and the
// evidence (the service's own code and message, scrubbed; a request id).
type Row struct {
	Check  string `json:"check"`
	Scope  string `json:"scope"`
	Result Result `json:"result"`
	Do     string `json:"whatToDo"`
	Detail string `json:"detail,omitempty"`
	// Staged marks a failure the demo stages on purpose.
	Staged bool `json:"staged,omitempty"`
}

// Check is one check to run: it returns its rows (a check of a chain of
// calls — a listing, then the calls on what it listed — returns one row per
// call, every one of them even when the first fails).
type Check struct {
	Name, Scope string
	Run         func(ctx context.Context) []Row
}

// Options bound a run of checks.
type Options struct {
	// Concurrency is how many checks run at once (default 4).
	Concurrency int
	// RatePerSecond bounds how many checks start each second (0: no bound).
	RatePerSecond float64
	// Timeout bounds each check (default 30 s); the context bounds them all.
	Timeout time.Duration
}

// Run runs every check and returns their rows in the checks' order. A
// check that does not finish within its timeout (or the context's
// deadline) is a row of its own saying so: no check is ever left out.
func Run(ctx context.Context, checks []Check, o Options) []Row {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	var lim *rate.Limiter
	if o.RatePerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(o.RatePerSecond), 1)
	}
	out := make([][]Row, len(checks))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, c, sem, lim, o.Timeout)
		}()
	}
	wg.Wait()
	var rows []Row
	for _, rs := range out {
		rows = append(rows, rs...)
	}
	return rows
}

func runOne(ctx context.Context, c Check, sem chan struct{}, lim *rate.Limiter, timeout time.Duration) []Row {
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return []Row{timedOut(c, ctx.Err())}
	}
	if lim != nil {
		if err := lim.Wait(ctx); err != nil {
			return []Row{timedOut(c, err)}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan []Row, 1)
	go func() { done <- c.Run(cctx) }()
	select {
	case rows := <-done:
		if len(rows) == 0 { // a check gives up with nothing when its context ends
			if cctx.Err() != nil {
				return []Row{timedOut(c, cctx.Err())}
			}
			return []Row{{Check: c.Name, Scope: c.Scope, Result: Refused, Do: "report this: the check found nothing to say"}}
		}
		for i := range rows {
			if rows[i].Check == "" {
				rows[i].Check = c.Name
			}
			if rows[i].Scope == "" {
				rows[i].Scope = c.Scope
			}
		}
		return rows
	case <-cctx.Done():
		return []Row{timedOut(c, cctx.Err())}
	}
}

func timedOut(c Check, err error) Row {
	why := "the preflight's deadline came first"
	if errors.Is(err, context.DeadlineExceeded) {
		why = "no answer within the check's time"
	}
	return Row{Check: c.Name, Scope: c.Scope, Result: Unreachable, Do: "check the network path to the service (and api.timeout)", Detail: why}
}

// Failures counts the failed rows; staged ones are counted apart.
func Failures(rows []Row) (failed, staged int) {
	for _, r := range rows {
		switch {
		case r.Result.Failed() && r.Staged:
			staged++
		case r.Result.Failed():
			failed++
		}
	}
	return failed, staged
}

// Summary says how the rows add up: "14 checks: 12 ok, 1 failed, 1
// skipped".
func Summary(rows []Row) string {
	ok, skipped := 0, 0
	for _, r := range rows {
		switch {
		case r.Result == OK:
			ok++
		case !r.Result.Failed():
			skipped++
		}
	}
	failed, staged := Failures(rows)
	parts := []string{fmt.Sprintf("%d ok", ok)}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if staged > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (staged by the demo)", staged))
	}
	if skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", skipped))
	}
	return fmt.Sprintf("%d checks: %s", len(rows), strings.Join(parts, ", "))
}

// WriteTable writes the rows as a table — check, scope, result, what to
// do — with each failure's evidence on the line below it.
func WriteTable(w io.Writer, rows []Row) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSCOPE\tRESULT\tWHAT TO DO")
	for _, r := range rows {
		res := string(r.Result)
		if r.Staged {
			res += " (staged)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(r.Check), clean(r.Scope), res, clean(r.Do))
		if r.Detail != "" && r.Result != OK {
			fmt.Fprintf(tw, "\t\t\t  %s\n", clean(r.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the rows as one JSON document: {"summary", "ok",
// "rows"}.
func WriteJSON(w io.Writer, rows []Row) error {
	failed, _ := Failures(rows)
	if rows == nil {
		rows = []Row{}
	}
	b, err := json.MarshalIndent(struct {
		Summary string `json:"summary"`
		OK      bool   `json:"ok"`
		Rows    []Row  `json:"rows"`
	}{Summary(rows), failed == 0, rows}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// clean keeps a cell on one line and free of control characters.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}
