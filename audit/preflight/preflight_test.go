package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every check's rows come back in the checks' order, whatever fails or
// hangs: a check that outlives its timeout is a row of its own, and the
// bound on checks at once holds.
func TestRunKeepsEveryRow(t *testing.T) {
	t.Parallel()
	var running, most atomic.Int32
	busy := func(res Result) func(context.Context) []Row {
		return func(ctx context.Context) []Row {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(10 * time.Millisecond)
			return []Row{{Result: res}}
		}
	}
	checks := []Check{
		{Name: "a", Scope: "s", Run: busy(OK)},
		{Name: "b", Scope: "s", Run: busy(MissingPermission)},
		{Name: "hangs", Scope: "s", Run: func(ctx context.Context) []Row { <-ctx.Done(); return nil }},
		{Name: "chain", Scope: "s", Run: func(context.Context) []Row {
			return []Row{{Check: "chain one", Result: Refused}, {Check: "chain two", Scope: "other", Result: NothingToCall}}
		}},
		{Name: "c", Scope: "s", Run: busy(NotConfigured)},
		{Name: "d", Scope: "s", Run: busy(OK)},
	}
	rows := Run(context.Background(), checks, Options{Concurrency: 2, Timeout: 50 * time.Millisecond})
	var got []string
	for _, r := range rows {
		got = append(got, r.Check+"/"+r.Scope+"="+string(r.Result))
	}
	want := "a/s=ok b/s=missing permission hangs/s=unreachable chain one/s=refused chain two/other=skipped: nothing to call it on c/s=skipped: not configured d/s=ok"
	if strings.Join(got, " ") != want {
		t.Errorf("rows:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if most.Load() > 2 {
		t.Errorf("%d checks ran at once, want at most 2", most.Load())
	}
	if failed, staged := Failures(rows); failed != 3 || staged != 0 {
		t.Errorf("failures %d (staged %d), want 3", failed, staged)
	}
	if s := Summary(rows); s != "7 checks: 2 ok, 3 failed, 2 skipped" {
		t.Errorf("summary %q", s)
	}
}

// A preflight whose deadline has passed still lists every check.
func TestRunPastItsDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rows := Run(ctx, []Check{{Name: "a", Run: func(ctx context.Context) []Row { <-ctx.Done(); return nil }}, {Name: "b", Run: func(ctx context.Context) []Row { <-ctx.Done(); return nil }}}, Options{Concurrency: 1})
	if len(rows) != 2 || rows[0].Result != Unreachable || rows[1].Result != Unreachable {
		t.Errorf("rows %+v, want both, unreachable", rows)
	}
}

// The table keeps a row on one line, its evidence below it; the JSON has
// the same rows.
func TestWriteTableAndJSON(t *testing.T) {
	t.Parallel()
	rows := []Row{{Check: "store create", Scope: "oss://b/p/", Result: OK, Detail: "fine"},
		{Check: "slack channel", Scope: "#audit", Result: MissingPermission, Do: "add groups:history\n(now)", Detail: "granted: chat:write", Staged: true}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := "CHECK          SCOPE       RESULT                       WHAT TO DO\n" +
		"store create   oss://b/p/  ok\n" +
		"slack channel  #audit      missing permission (staged)  add groups:history (now)\n" +
		"                                                          granted: chat:write\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := WriteJSON(&buf, rows); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary string
		OK      bool
		Rows    []Row
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || !doc.OK || len(doc.Rows) != 2 || doc.Rows[1].Do != "add groups:history\n(now)" || !doc.Rows[1].Staged {
		t.Errorf("json %s (%v)", buf.String(), err)
	}
}
