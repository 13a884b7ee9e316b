package actions_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/actions"
)

// retireBench retires the bench's unused token (tk-unused, bob's, never
// used) on a schedule of two days with one notice a day before, through
// the delete role against the EMR stand-in.
type retireBench struct {
	*bench
	api *emr.Client
	r   actions.Retirer
}

func newRetireBench(t *testing.T) *retireBench {
	t.Helper()
	b := newBench(t, true)
	api, err := emr.New(emr.Options{Endpoint: b.endpoint, Credential: audittest.Credential(t, readKey, readSecret), Timeout: 5 * time.Second, Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	return &retireBench{bench: b, api: api, r: actions.Retirer{Store: b.store, Policy: b.policy, Deleter: b.h.Deleter,
		Schedule: audit.RetirePolicy{Rules: []audit.Rule{audit.RuleUnused}, After: 2 * audit.Day, Notices: []time.Duration{audit.Day}, MaxPerRun: 10}}}
}

// audit lists the gateway as a run at at does.
func (rb *retireBench) audit(at time.Time) *audit.Snapshot {
	rb.t.Helper()
	toks, err := rb.api.ListTokens(context.Background(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil {
		rb.t.Fatal(err)
	}
	return audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{
		Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "analytics", GatewayID: "lc-1", GatewayName: "etl-gw"}, Tokens: toks,
	}}}, audit.Evaluation{Now: at, Policy: audit.DefaultPolicy()})
}

func (rb *retireBench) retire(at time.Time, act bool, hold string) *audit.RetireReport {
	rb.t.Helper()
	return rb.r.Retire(context.Background(), rb.audit(at), act, hold)
}

func ids(es []audit.RetireEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.TokenID+"@"+e.Stage)
	}
	return out
}

// Day 1 marks the unused token (told: "marked"), day 2 tells the last
// notice, day 3 deletes it after reading it again; the record keeps how
// the mark ended.
func TestRetireMarksNoticesAndDeletes(t *testing.T) {
	t.Parallel()
	rb := newRetireBench(t)
	d1 := rb.retire(now, true, "")
	if got := ids(d1.Noticed); !slices.Equal(got, []string{"tk-unused@marked"}) || len(d1.Scheduled) != 1 || !d1.Scheduled[0].DeleteOn.Equal(now.Add(2*audit.Day)) {
		t.Fatalf("day 1: noticed %v, scheduled %+v; want tk-unused marked for day 3", got, d1.Scheduled)
	}
	d2 := rb.retire(now.Add(audit.Day), true, "")
	if got := ids(d2.Noticed); !slices.Equal(got, []string{"tk-unused@1d"}) || len(d2.Due) != 0 {
		t.Fatalf("day 2: noticed %v due %v; want the 1d notice, nothing due", got, ids(d2.Due))
	}
	d3 := rb.retire(now.Add(2*audit.Day), true, "")
	if len(d3.Retired) != 1 || d3.Retired[0].TokenID != "tk-unused" || len(d3.Errors) != 0 || d3.Held != "" {
		t.Fatalf("day 3: retired %v, errors %v, held %q; want tk-unused retired", ids(d3.Retired), d3.Errors, d3.Held)
	}
	if slices.Contains(rb.tokens(), "tk-unused") || rb.deletes() != 1 {
		t.Errorf("the stand-in still has %v (%d deletes)", rb.tokens(), rb.deletes())
	}
	marks := rb.state().Marks
	if len(marks) != 1 || marks[0].Ended == nil || marks[0].Ended.How != audit.EndDeleted {
		t.Errorf("the record's marks: %+v, want one ended deleted", marks)
	}
	if d4 := rb.retire(now.Add(3*audit.Day), true, ""); len(d4.Retired)+len(d4.Noticed)+len(d4.Scheduled) != 0 {
		t.Errorf("day 4 did something again: %+v", d4)
	}
}

// A dry or narrowed run (act false), a partial one (hold), and one with
// more due tokens than maxPerRun delete nothing, and say why; the marks
// stand for the next full run.
func TestRetireNeverDeletesWhenItMayNot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		act  bool
		hold string
		max  int
		want string
	}{
		{"dry or narrowed run", false, "", 10, "only looks"},
		{"partial run", true, "the audit was partial (exit 3): no token is deleted", 10, "partial"},
		{"more due than maxPerRun", true, "", 1, "more than actions.retire.maxPerRun (1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := newRetireBench(t)
			rb.emu.Edit(func() {
				g := rb.emu.World.Regions["cn-hangzhou"].Workspaces[0].Gateways[0]
				g.Tokens = append(g.Tokens, &emulator.Token{TokenID: "tk-unused2", Name: "ci-bot-2", Token: "lvt-SECRET-unused2-0a0b0c", CreatedBy: "bob",
					CreateTime: emulator.At(now.Add(-90 * audit.Day)), ExpireTime: emulator.At(now.Add(200 * audit.Day))})
			})
			rb.r.Schedule.MaxPerRun = tc.max
			rb.retire(now, true, "")
			rb.retire(now.Add(audit.Day), true, "")
			r := rb.retire(now.Add(2*audit.Day), tc.act, tc.hold)
			if len(r.Due) != 2 || len(r.Retired) != 0 || !strings.Contains(r.Held, tc.want) {
				t.Errorf("due %v, retired %v, held %q; want 2 due, none retired, held saying %q", ids(r.Due), ids(r.Retired), r.Held, tc.want)
			}
			if rb.deletes() != 0 {
				t.Errorf("%d tokens deleted", rb.deletes())
			}
			for _, m := range rb.state().Marks {
				if m.Ended != nil {
					t.Errorf("mark of %s ended: %+v", m.TokenID, m.Ended)
				}
			}
		})
	}
}

// The careful re-read: a token used after the run listed it, or whose
// expiry changed, is kept and its mark ends saying why.
func TestRetireKeepsATokenUsedSinceItWasMarked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(tk *emulator.Token)
		want string
	}{
		{"used", func(tk *emulator.Token) { tk.LastUsedTime = emulator.At(now.Add(2*audit.Day - time.Minute)) }, "used since it was marked"},
		{"refreshed", func(tk *emulator.Token) { tk.ExpireTime = emulator.At(now.Add(400 * audit.Day)) }, "refreshed since it was marked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := newRetireBench(t)
			rb.retire(now, true, "")
			rb.retire(now.Add(audit.Day), true, "")
			s := rb.audit(now.Add(2 * audit.Day)) // listed while still unused …
			rb.emu.Edit(func() {
				for _, tk := range rb.emu.World.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Tokens {
					if tk.TokenID == "tk-unused" {
						tc.edit(tk) // … then used or refreshed before the delete
					}
				}
			})
			r := rb.r.Retire(context.Background(), s, true, "")
			if len(r.Retired) != 0 || len(r.Ended) != 1 || r.Ended[0].Ended.How != audit.EndKept || !strings.Contains(r.Ended[0].Ended.Detail, tc.want) {
				t.Fatalf("retired %v, ended %+v; want it kept: %s", ids(r.Retired), r.Ended, tc.want)
			}
			if rb.deletes() != 0 || !slices.Contains(rb.tokens(), "tk-unused") {
				t.Errorf("the token was deleted")
			}
		})
	}
}

// No delete role, or one the policy denies: nothing is deleted, the mark
// stands, and the report names the permission.
func TestRetireWithoutADeleteRole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		deleter func(rb *retireBench) actions.Deleter
		want    string
	}{
		{"missing", func(*retireBench) actions.Deleter { return nil }, "no delete role"},
		{"denied", func(rb *retireBench) actions.Deleter {
			// The reader's key: it may list, not delete.
			return actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{"": {audit.KindLivy: rb.api}}}
		}, "emr-serverless-spark:DeleteLivyComputeToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := newRetireBench(t)
			rb.r.Deleter = tc.deleter(rb)
			rb.retire(now, true, "")
			rb.retire(now.Add(audit.Day), true, "")
			r := rb.retire(now.Add(2*audit.Day), true, "")
			if len(r.Retired) != 0 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tc.want) || len(r.Due) != 1 || r.Due[0].Error == "" {
				t.Fatalf("retired %v, errors %v, due %+v; want none retired and the error naming %q", ids(r.Retired), r.Errors, r.Due, tc.want)
			}
			marks := rb.state().Marks
			if len(marks) != 1 || marks[0].Ended != nil {
				t.Errorf("the mark: %+v, want it standing", marks)
			}
			if !slices.Contains(rb.tokens(), "tk-unused") {
				t.Error("the token was deleted")
			}
		})
	}
}

// A clock that jumps past the date tells every notice first and deletes
// only in a later full run; a run dated before the record's latest mark
// only looks.
func TestRetireAcrossAClockJump(t *testing.T) {
	t.Parallel()
	rb := newRetireBench(t)
	rb.retire(now, true, "")
	jump := now.Add(30 * audit.Day)
	r := rb.retire(jump, true, "")
	if got := ids(r.Noticed); !slices.Equal(got, []string{"tk-unused@1d"}) || len(r.Retired) != 0 || len(r.Due) != 0 {
		t.Fatalf("after the jump: noticed %v, retired %v, due %v; want the notice told, nothing deleted", got, ids(r.Retired), ids(r.Due))
	}
	back := rb.retire(now.Add(-audit.Day), true, "")
	if back.Acted || !strings.Contains(back.Held, "before the record's latest mark") || len(back.Retired) != 0 {
		t.Fatalf("a run dated in the past: acted %v, held %q", back.Acted, back.Held)
	}
	if r := rb.retire(jump.Add(time.Hour), true, ""); len(r.Retired) != 1 {
		t.Fatalf("the next full run: retired %v, errors %v, held %q; want tk-unused", ids(r.Retired), r.Errors, r.Held)
	}
	if rb.deletes() != 1 {
		t.Errorf("%d deletes, want 1", rb.deletes())
	}
}

// A notice no destination took is taken back: day 1's "marked" and day
// 2's "1d" reach nobody, so day 3 tells the 1-day notice again and deletes
// nothing, and day 4 deletes. A retry of a run whose first attempt
// reached nobody, and whose own report gets through, gives the notice
// back; a told notice writes nothing; a mark ended since is left alone.
func TestRetireWaitsForANoticeSomebodyGot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rb := newRetireBench(t)
	key := "cn-hangzhou/w-1/lc-1/tk-unused"
	day := func(d int, told bool) *audit.RetireReport {
		t.Helper()
		s := rb.audit(now.Add(time.Duration(d-1) * audit.Day))
		s.Retire = rb.r.Retire(ctx, s, true, "")
		var keys []string
		if told {
			for _, e := range s.Retire.Noticed {
				keys = append(keys, e.Key())
			}
		}
		untold, err := rb.r.Told(ctx, s, keys)
		if err != nil || told != (len(untold) == 0) {
			t.Fatalf("day %d: Told(%v): %v untold, %v", d, keys, ids(untold), err)
		}
		return s.Retire
	}
	notices := func() []string {
		marks := rb.state().Marks
		if len(marks) != 1 {
			t.Fatalf("marks %+v, want one", marks)
		}
		return marks[0].Notices
	}
	if d1 := day(1, false); len(d1.Noticed) != 1 || d1.Noticed[0].Key() != key || len(notices()) != 0 {
		t.Fatalf("day 1: noticed %v, the record tells %v; want tk-unused marked, and nothing told", ids(d1.Noticed), notices())
	}
	if d2 := day(2, false); !slices.Equal(ids(d2.Noticed), []string{"tk-unused@1d"}) || !slices.Equal(notices(), []string{audit.StageMarked}) {
		t.Fatalf("day 2: noticed %v, the record tells %v; want the 1d notice taken back", ids(d2.Noticed), notices())
	}
	if d3 := day(3, true); len(d3.Retired) != 0 || len(d3.Due) != 0 || !slices.Equal(ids(d3.Noticed), []string{"tk-unused@1d"}) {
		t.Fatalf("day 3: retired %v, due %v, noticed %v; want the 1d notice told again and nothing deleted", ids(d3.Retired), ids(d3.Due), ids(d3.Noticed))
	}
	if rb.deletes() != 0 {
		t.Fatalf("deleted on day 3 after a notice nobody got")
	}
	if d4 := day(4, true); len(d4.Retired) != 1 || rb.deletes() != 1 {
		t.Fatalf("day 4: retired %v (%d deletes), want tk-unused", ids(d4.Retired), rb.deletes())
	}

	t.Run("a retry that gets through gives the notice back", func(t *testing.T) {
		rb := newRetireBench(t)
		s := rb.audit(now)
		s.Retire = rb.r.Retire(ctx, s, true, "")
		if _, err := rb.r.Told(ctx, s, nil); err != nil || len(rb.state().Marks[0].Notices) != 0 {
			t.Fatalf("first attempt: %v, notices %v", err, rb.state().Marks[0].Notices)
		}
		if _, err := rb.r.Told(ctx, s, []string{key}); err != nil || !slices.Equal(rb.state().Marks[0].Notices, []string{audit.StageMarked}) {
			t.Fatalf("the retry: %v, notices %v; want marked given back", err, rb.state().Marks[0].Notices)
		}
		before := head(t, rb)
		if _, err := rb.r.Told(ctx, s, []string{key}); err != nil || head(t, rb) != before {
			t.Errorf("told again: %v, the record moved from state %d to %d; want nothing written", err, before, head(t, rb))
		}
	})
	t.Run("a mark ended since is left alone", func(t *testing.T) {
		rb := newRetireBench(t)
		s := rb.audit(now)
		s.Retire = rb.r.Retire(ctx, s, true, "")
		if _, err := actions.Update(ctx, rb.store, rb.policy, now, nil, func(st *actions.State) {
			st.Marks[0].End(now, audit.EndAcknowledged, "U0ALICE01", "")
		}); err != nil {
			t.Fatal(err)
		}
		before := head(t, rb)
		if _, err := rb.r.Told(ctx, s, nil); err != nil || head(t, rb) != before || rb.state().Marks[0].Ended == nil {
			t.Errorf("Told on an ended mark: %v, state %d → %d, mark %+v", err, before, head(t, rb), rb.state().Marks[0])
		}
	})
}

// head is the record's newest state.
func head(t *testing.T, rb *retireBench) int {
	t.Helper()
	h, err := actions.Read(context.Background(), rb.store)
	if err != nil {
		t.Fatal(err)
	}
	return h.N
}
