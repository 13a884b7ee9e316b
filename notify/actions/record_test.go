package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/audit/store"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/notify"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/slack"
)

func (b *bench) statePath(n int) string {
	return filepath.Join(b.dir, "actions", fmt.Sprintf("state.%d.json", n))
}

func (b *bench) actions() audit.Actions {
	b.t.Helper()
	acts, err := actions.Source{Store: b.store, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	return acts
}

// applied audits the bench's tokens with what the record says, as the
// next audit applies it.
func (b *bench) applied(acts audit.Actions) *audit.Snapshot {
	toks := []audit.Token{
		{ID: "tk-exp", Name: "nightly-etl", CreatedBy: "alice", CreateTime: now.Add(-200 * audit.Day), ExpireTime: now.Add(-3 * audit.Day), LastUsedTime: now.Add(-4 * audit.Day)},
		{ID: "tk-unused", Name: "ci-bot", CreatedBy: "bob", CreateTime: now.Add(-120 * audit.Day), ExpireTime: now.Add(200 * audit.Day)},
	}
	ref := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}
	return audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: ref, Tokens: toks}}},
		audit.Evaluation{Now: now.Add(audit.Day), Policy: audit.DefaultPolicy(), Suppressions: acts.Snoozes, Acks: acts.Acks, Actions: acts.Recent})
}

func snoozedAndAcked(s *audit.Snapshot) (snoozed, acked []string) {
	for _, g := range s.Gateways {
		for _, tk := range g.Tokens {
			for _, f := range tk.Suppressed {
				snoozed = append(snoozed, tk.TokenID+" "+string(f.Rule)+" by "+f.SnoozedBy)
			}
			if tk.Acknowledged != nil {
				acked = append(acked, tk.TokenID+" by "+tk.Acknowledged.By)
			}
		}
	}
	return snoozed, acked
}

// A lifecycle rule that expired the first states (they are create-only and
// never rewritten) loses nothing: the head is found from the pointer, and
// every state holds the whole record. Clicks after the gap go on from the
// head; they never refill the gap.
func TestRecordSurvivesAGap(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	b.click(alice, "tk-exp", actionref.Snooze30d)
	b.click(bob, "tk-unused", actionref.Ack)
	b.click(admin, "tk-unused", actionref.Snooze7d)
	for n := 1; n <= 2; n++ {
		if err := os.Remove(b.statePath(n)); err != nil {
			t.Fatal(err)
		}
	}
	snoozed, acked := snoozedAndAcked(b.applied(b.actions()))
	if strings.Join(snoozed, "; ") != "tk-unused unused by "+admin+"; tk-exp expired by "+alice || strings.Join(acked, ";") != "tk-unused by "+bob {
		t.Fatalf("after states 1 and 2 went: snoozed %v, acknowledged %v; want both snoozes and the acknowledgement", snoozed, acked)
	}
	// Two clicks after the gap: both kept, after the head.
	b.click(alice, "tk-exp", actionref.Ack)
	b.click(admin, "tk-unused", actionref.Ack)
	if _, err := os.Stat(b.statePath(1)); !os.IsNotExist(err) {
		t.Errorf("a click after the gap created state.1 (%v): it must go on from the head", err)
	}
	h, err := actions.Read(context.Background(), b.store)
	if err != nil || h.N != 5 || len(h.Skipped) != 0 {
		t.Fatalf("head %+v, %v; want state 5, nothing skipped", h, err)
	}
	_, acked = snoozedAndAcked(b.applied(b.actions()))
	if strings.Join(acked, "; ") != "tk-unused by "+admin+"; tk-exp by "+alice {
		t.Errorf("acknowledged %v; want both acknowledgements made after the gap", acked)
	}

	// A record of an earlier release has no pointer: its head is found
	// even without its first state (a state at a power of two).
	if err := os.Remove(filepath.Join(b.dir, "actions", "head.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(b.statePath(3)); err != nil {
		t.Fatal(err)
	}
	if h, err := actions.Read(context.Background(), b.store); err != nil || h.N != 5 {
		t.Errorf("without a pointer or states 1–3: head %+v, %v; want state 5", h, err)
	}
	// A pointer left behind (a writer that stopped before moving it) is
	// caught up by probing forward.
	if err := os.WriteFile(filepath.Join(b.dir, "actions", "head.json"), []byte(`{"schemaVersion":1,"n":4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if h, _ := actions.Read(context.Background(), b.store); h.N != 5 {
		t.Errorf("with a pointer behind the head: head %d, want 5", h.N)
	}
}

// tooLargeStore answers "too large" for one key, as a store does for an
// object over its read limit.
type tooLargeStore struct {
	actions.Store
	key string
}

func (s tooLargeStore) Get(ctx context.Context, key string) ([]byte, error) {
	if key == s.key {
		return nil, fmt.Errorf("get %s: %w", key, store.ErrTooLarge)
	}
	return s.Store.Get(ctx, key)
}

// A head that cannot be used (corrupt, too large) never disables the
// clicks: it is skipped for the last usable state, the click goes on
// after it and says so in plain words, and the next audit applies the
// last usable state and reports what was skipped.
func TestUnusableHeadIsSkipped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		break_ func(b *bench)
	}{
		{"corrupt", func(b *bench) { _ = os.WriteFile(b.statePath(3), []byte(`{"schemaVersion":1,"snoozes":[{"r":`), 0o644) }},
		{"not a state", func(b *bench) { _ = os.WriteFile(b.statePath(3), []byte(`{"hello":"world"}`), 0o644) }},
		{"over the read limit", func(b *bench) {
			_ = os.WriteFile(b.statePath(3), []byte(`{}`), 0o644)
			b.h.Store = tooLargeStore{b.store, "actions/state.3.json"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, false)
			b.click(alice, "tk-exp", actionref.Snooze30d)
			b.click(bob, "tk-unused", actionref.Ack)
			tc.break_(b)
			st := b.h.Store
			_, p := b.click(admin, "tk-unused", actionref.Snooze7d)
			if !p.ReplaceOriginal || !strings.Contains(p.raw, "could not be read") || strings.Contains(p.raw, "json") || strings.Contains(p.raw, "larger than") {
				t.Errorf("the click after the %s head: told %s; want it done, saying in plain words that the newest state could not be read", tc.name, p.raw)
			}
			acts, err := actions.Source{Store: st, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			snoozed, acked := snoozedAndAcked(b.applied(acts))
			if strings.Join(snoozed, "; ") != "tk-unused unused by "+admin+"; tk-exp expired by "+alice || strings.Join(acked, ";") != "tk-unused by "+bob {
				t.Errorf("the next audit: snoozed %v, acknowledged %v; want the last good state's and the new click's", snoozed, acked)
			}
			if len(acts.Warnings) != 0 {
				t.Errorf("warnings %v; once a click went on from the last good state, the record is whole again", acts.Warnings)
			}
			// Broken again, with no click after it: the audit says so.
			_ = os.WriteFile(b.statePath(5), []byte("garbage"), 0o644)
			_ = os.WriteFile(b.statePath(6), []byte(`{}`), 0o644)
			acts, _ = actions.Source{Store: st, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
			if len(acts.Warnings) != 2 || !strings.Contains(acts.Warnings[0], "actions/state.6.json is not a state") ||
				!strings.Contains(acts.Warnings[1], "actions/state.5.json is not JSON") || len(acts.Snoozes) != 2 {
				t.Errorf("an audit after two unusable states: warnings %q, %d snoozes; want both named and state 4's snoozes", acts.Warnings, len(acts.Snoozes))
			}
		})
	}
}

// A state of a newer release is never written over: the click is refused,
// naming the version, and the audit does not apply it (and says why).
func TestNewerRecordIsNotWrittenOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, state, want string }{
		{"schema version 2", `{"schemaVersion":2,"snoozes":[],"acks":[],"recent":[],"retire":[]}`, "schemaVersion 2; this release writes 1"},
		{"fields this release does not know", `{"schemaVersion":1,"snoozes":[],"acks":[],"recent":[],"marks":[{"t":"tk-1"}]}`, "fields this release does not know"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, true)
			b.click(alice, "tk-exp", actionref.Snooze30d)
			if err := os.WriteFile(b.statePath(2), []byte(tc.state), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, verb := range []string{actionref.Ack, actionref.Delete} {
				user := bob
				if verb == actionref.Delete {
					user = admin
				}
				tok := map[string]string{actionref.Ack: "tk-unused", actionref.Delete: "tk-exp"}[verb]
				_, p := b.click(user, tok, verb)
				if !strings.Contains(p.Text, "newer release") || !strings.Contains(p.Text, tc.want) || !strings.Contains(p.Text, "upgrade") {
					t.Errorf("a %s on a newer record: told %s; want it refused, naming the version", verb, p.raw)
				}
			}
			if _, err := os.Stat(b.statePath(3)); !os.IsNotExist(err) || b.deletes() != 0 {
				t.Errorf("the record was written over (%v) or a token deleted (%d)", err, b.deletes())
			}
			if got, _ := os.ReadFile(b.statePath(2)); string(got) != tc.state {
				t.Errorf("the newer state changed: %s", got)
			}
			acts := b.actions()
			if len(acts.Snoozes) != 0 || len(acts.Warnings) != 1 || !strings.Contains(acts.Warnings[0], tc.want) {
				t.Errorf("the audit on a newer record: %d snoozes, warnings %q", len(acts.Snoozes), acts.Warnings)
			}
		})
	}
}

// What the record says is checked again when it is read: it is input (a
// forged head needs write access to the bucket, and the rules still
// apply).
func TestForgedRecordIsCheckedAgain(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	ref := func(tok, owner string, rule audit.Rule) map[string]any {
		return map[string]any{"r": "cn-hangzhou", "w": "w-1", "g": "lc-1", "t": tok, "o": owner, "f": rule, "u": "audit-x"}
	}
	snooze := func(r map[string]any, by string, at, until time.Time) map[string]any {
		r = maps(r)
		r["by"], r["at"], r["until"] = by, at, until
		return r
	}
	forever := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	state := map[string]any{"schemaVersion": 1, "recent": []any{},
		"snoozes": []any{
			snooze(ref("tk-unused", "bob", audit.RuleUnused), admin, now.Add(-audit.Day), forever),      // capped at 90 days
			snooze(ref("tk-exp", "alice", audit.RuleExpired), outside, now.Add(-audit.Day), forever),    // may not snooze
			snooze(ref("tk-exp", "", audit.RuleExpired), "", now.Add(-audit.Day), forever),              // no user
			snooze(ref("tk-exp", "alice", audit.RuleStale), alice, now.Add(48*time.Hour), forever),      // from the future
			snooze(ref("tk-exp", "mallory", audit.RuleExpired), alice, now.Add(-audit.Day), now.Add(9)), // alice is not mallory's owner
		},
		"acks": []any{
			func() map[string]any { r := ref("tk-exp", "alice", ""); r["by"], r["at"] = outside, now; return r }(),
		},
	}
	js, _ := json.Marshal(state)
	_ = os.MkdirAll(filepath.Join(b.dir, "actions"), 0o755)
	if err := os.WriteFile(b.statePath(1), js, 0o644); err != nil {
		t.Fatal(err)
	}
	acts := b.actions()
	if len(acts.Snoozes) != 1 || !acts.Snoozes[0].Until.Equal(now.Add(-audit.Day).Add(90*audit.Day).Truncate(audit.Day)) {
		t.Fatalf("snoozes applied %+v; want admin's alone, capped at 90 days after it was made", acts.Snoozes)
	}
	if len(acts.Acks) != 0 {
		t.Errorf("acknowledgements applied %+v; a stranger's is not", acts.Acks)
	}
	joined := strings.Join(acts.Warnings, "\n")
	for _, want := range []string{"capped at 2027-02-27", "by <@" + outside + "> was ignored: only the token's owner", `by "", which is not a Slack user ID`,
		"ahead of the clock", "by <@" + alice + "> was ignored: only the token's owner"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings do not say %q:\n%s", want, joined)
		}
	}
	// The next click's state drops what the rules refuse, and keeps the
	// cap.
	b.click(admin, "tk-unused", actionref.Ack)
	s := b.state()
	if len(s.Snoozes) != 1 || s.Snoozes[0].By != admin || s.Snoozes[0].Until.Year() != 2027 || len(s.Acks) != 1 || s.Acks[0].By != admin {
		t.Errorf("the next state: snoozes %+v, acks %+v", s.Snoozes, s.Acks)
	}
}

func maps(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// An owner's snooze or acknowledgement holds only while the token is still
// theirs; an empty Slack user is nobody, never the owner of a token
// slack.mentions does not map.
func TestEmptyUserIsNobody(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	b.h.Policy.Owners = map[string]string{} // nobody's token is mapped
	_, p := b.click("", "tk-exp", actionref.Snooze7d)
	if !strings.Contains(p.Text, "Not done") {
		t.Errorf("a click without a user: told %s; want it refused", p.raw)
	}
	if s := b.state(); len(s.Snoozes) != 0 {
		t.Errorf("snoozes %+v after a click without a user", s.Snoozes)
	}
	// alice's snooze of her token does not hold once it is someone else's.
	b.h.Policy.Owners = b.policy.Owners
	b.click(alice, "tk-exp", actionref.Snooze7d)
	acts := b.actions()
	toks := []audit.Token{{ID: "tk-exp", CreatedBy: "mallory", CreateTime: now.Add(-200 * audit.Day), ExpireTime: now.Add(-3 * audit.Day), LastUsedTime: now.Add(-4 * audit.Day)}}
	s := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, Tokens: toks}}},
		audit.Evaluation{Now: now, Policy: audit.DefaultPolicy(), Suppressions: acts.Snoozes})
	if n := len(s.Gateways[0].Tokens[0].Suppressed); n != 0 {
		t.Errorf("alice's snooze applied to a token mallory created: %d suppressed", n)
	}
}

// A snooze names one finding of one token exactly: not a token of the
// same ID in another region, workspace or account, nor on a gateway whose
// name is the snoozed gateway's ID.
func TestSnoozeNamesOneTokenExactly(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	b.click(alice, "tk-exp", actionref.Snooze7d)
	acts := b.actions()
	tok := []audit.Token{{ID: "tk-exp", CreatedBy: "alice", CreateTime: now.Add(-200 * audit.Day), ExpireTime: now.Add(-3 * audit.Day), LastUsedTime: now.Add(-4 * audit.Day)}}
	var col audittest.Collection
	for _, ref := range []audit.GatewayRef{
		{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, // the snoozed one
		{Region: "cn-shanghai", WorkspaceID: "w-1", GatewayID: "lc-1"},
		{Region: "cn-hangzhou", WorkspaceID: "w-2", GatewayID: "lc-1"},
		{AccountID: "1111111111111111", AccountName: "other", Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"},
		{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-9", GatewayName: "lc-1"},
	} {
		col.Gateways = append(col.Gateways, audit.GatewayResult{Ref: ref, Tokens: tok})
	}
	s := audittest.BuildSnapshot(col, audit.Evaluation{Now: now, Policy: audit.DefaultPolicy(), Suppressions: acts.Snoozes})
	var snoozed []string
	for _, g := range s.Gateways {
		if len(g.Tokens[0].Suppressed) > 0 {
			snoozed = append(snoozed, g.Ref().Key())
		}
	}
	if strings.Join(snoozed, " ") != "cn-hangzhou/w-1/lc-1" {
		t.Errorf("snoozed on %v; want only cn-hangzhou/w-1/lc-1", snoozed)
	}
}

// The record stays bounded however many clicks it took: one snooze per
// token and rule, one acknowledgement per token, the last 100 actions; at
// most 20,000 snoozes, the newest.
func TestRecordStaysBounded(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	big := actions.State{SchemaVersion: 1, Acks: []actions.Acknowledgement{}}
	for i := range 100000 {
		r := actionref.Ref{Region: "cn-hangzhou", Workspace: "w-1", Gateway: "lc-1", Token: fmt.Sprintf("tk-%d", i%3), Rule: audit.RuleStale, Run: "audit-x"}
		big.Snoozes = append(big.Snoozes, actions.Snooze{Ref: r, By: admin, At: now.Add(-time.Duration(100000-i) * time.Second), Until: now.Add(audit.Day)})
		big.Recent = append(big.Recent, actions.Record{At: now, By: admin, Verb: actionref.Snooze7d, Token: r.Key(), Outcome: "done"})
	}
	js, _ := json.Marshal(big)
	_ = os.MkdirAll(filepath.Join(b.dir, "actions"), 0o755)
	_ = os.WriteFile(b.statePath(1), js, 0o644)
	b.click(admin, "tk-unused", actionref.Ack)
	after, _ := os.ReadFile(b.statePath(2))
	s := b.state()
	if len(s.Snoozes) != 3 || len(s.Recent) != 100 || len(after) > 64<<10 {
		t.Errorf("after 100,000 clicks on 3 tokens: %d snoozes, %d actions, %d bytes; want 3, 100, a few KB", len(s.Snoozes), len(s.Recent), len(after))
	}
	// 100,000 distinct tokens: the newest 20,000 snoozes stay, within the
	// store's read limit.
	for i := range big.Snoozes {
		big.Snoozes[i].Token = fmt.Sprintf("tk-%06d", i)
	}
	js, _ = json.Marshal(big)
	_ = os.WriteFile(b.statePath(3), js, 0o644)
	b.click(admin, "tk-unused", actionref.Ack)
	after, _ = os.ReadFile(b.statePath(4))
	s = b.state()
	if len(s.Snoozes) != 20000 || s.Snoozes[0].Token != "tk-080000" || len(after) > 16<<20 {
		t.Errorf("after 100,000 snoozes of distinct tokens: %d kept from %s, %d bytes; want the newest 20,000 within 16 MiB", len(s.Snoozes), s.Snoozes[0].Token, len(after))
	}
}

// What a click logs never holds its response_url (anyone holding it may
// post into the channel for 30 minutes) nor a timestamp header of any
// length; a reason keeps no bidi or zero-width control and links nothing.
func TestNothingEchoed(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	var logs bytes.Buffer
	b.h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b.hookURL = "http://127.0.0.1:1/actions/T0001/999/SECRET-response-path"
	b.h.ResponseHosts = append(b.h.ResponseHosts, "127.0.0.1:1")
	b.click(alice, "tk-exp", actionref.Ack)
	value, block := b.button("tk-exp", actionref.Ack)
	req := signed(signingSecret, b.payload(alice, value, block), time.Now())
	req.Header.Set("X-Slack-Request-Timestamp", strings.Repeat("9", 10000))
	if status, _ := b.send(req); status != http.StatusUnauthorized {
		t.Errorf("a 10,000-digit timestamp: status %d, want 401", status)
	}
	if strings.Contains(logs.String(), "SECRET-response-path") || strings.Contains(logs.String(), "9999999999") {
		t.Errorf("the logs echo the response_url or the timestamp:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "response_url post failed") || !strings.Contains(logs.String(), "host=127.0.0.1:1") {
		t.Errorf("the failed response_url post is not logged by its host:\n%s", logs.String())
	}
	for _, tc := range []struct{ in, want string }{
		{"moving it \u202eevil\u202c next week", "moving it evil next week"},
		{"zero\u200bwidth\ufeff and \u2066isolate\u2069", "zerowidth and isolate"},
		{"see https://evil.example.com/x and www.evil.io", "see hxxps[:]//evil[.]example[.]com/x and www[.]evil[.]io"},
		{"ask <!channel> about v1.2 until March.", "ask !channel about v1.2 until March."},
	} {
		if got := actions.CleanReason(tc.in); got != tc.want {
			t.Errorf("CleanReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var _ actions.Store = (*localstore.Store)(nil)

// A snooze whose finding changed rule (an expiring token that expired) no
// longer holds, and the report says so — never a silent drop.
func TestSnoozeOfAChangedFindingIsReported(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	b.click(admin, "tk-unused", actionref.Snooze30d)
	acts := b.actions()
	// The next day the token has been used once and is stale instead.
	tok := audit.Token{ID: "tk-unused", Name: "ci-bot", CreatedBy: "bob", CreateTime: now.Add(-120 * audit.Day), ExpireTime: now.Add(200 * audit.Day),
		LastUsedTime: now.Add(-100 * audit.Day)}
	s := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, Tokens: []audit.Token{tok}}}},
		audit.Evaluation{Now: now.Add(audit.Day), Policy: audit.DefaultPolicy(), Suppressions: acts.Snoozes})
	if len(s.Suppressions) != 1 || s.Suppressions[0].Ended != "the token is now stale" || s.Summary.Suppressed != 0 {
		t.Fatalf("suppressions %+v; want the snooze reported as ended", s.Suppressions)
	}
	var text bytes.Buffer
	if err := notify.WriteText(&text, notify.NewDigest(s, delivery.Locations{}), "x.json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "the snooze on unused ended: the token is now stale; snooze that, or act on the token") {
		t.Errorf("the summary does not say the snooze ended:\n%s", text.String())
	}
	if msg := slack.Render(notify.NewDigest(s, delivery.Locations{}), slack.RenderOptions{MaxItems: 10}).PlainText(); !strings.Contains(msg, "the snooze on unused ended") {
		t.Errorf("the Slack report does not say the snooze ended:\n%s", msg)
	}
}
