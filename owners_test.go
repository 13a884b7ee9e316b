package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/ims"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/audit/lookups"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/slack"
)

const lookupSecret = "xoxb-lookup-SECRET-token-9a"

// lookupSlack is slacktest's server with users.lookupByEmail: the demo's
// people by email, or the error it is told to answer; it records the
// emails it was asked.
type lookupSlack struct {
	mu   sync.Mutex
	fail string
	// limited answers that many lookups 429 with Retry-After: 1, as
	// Slack does past a Tier 3 method's rate.
	limited int
	asked   []string
	// onAsk, when set, runs as each lookup arrives (under mu).
	onAsk func()
}

func (l *lookupSlack) serve(t *testing.T, byEmail map[string]string) string {
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			l.mu.Lock()
			l.asked = append(l.asked, r.Form.Get("email"))
			fail := l.fail
			limited := l.limited > 0
			if limited {
				l.limited--
			}
			if l.onAsk != nil {
				l.onAsk()
			}
			l.mu.Unlock()
			id, ok := byEmail[r.Form.Get("email")]
			w.Header().Set("Content-Type", "application/json")
			switch {
			case limited:
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
			case r.Form.Get("token") != lookupSecret && r.Header.Get("Authorization") != "Bearer "+lookupSecret:
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
			case fail != "":
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": fail})
			case !ok:
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
			default:
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": id, "deleted": false}})
			}
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	return srv.GetAPIURL()
}

// ownerStage is a stage whose owners are resolved against an IMS stand-in
// (the demo's people) and a Slack stand-in for lookups by email.
func ownerStage(t *testing.T, apiExtra string) (*stage, *emulator.IMS, *lookupSlack) {
	t.Helper()
	var p people
	if err := json.Unmarshal(demoPeople, &p); err != nil {
		t.Fatal(err)
	}
	users, deleted := map[string]emulator.IMSUser{}, map[string]emulator.IMSUser{}
	for n, u := range p.Users {
		users[n+"@"+p.Domain] = u
	}
	for n, u := range p.Deleted {
		deleted[n+"@"+p.Domain] = u
	}
	ims := &emulator.IMS{Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Domain: p.Domain, Users: users, Deleted: deleted}
	imsSrv := httptest.NewServer(ims)
	t.Cleanup(imsSrv.Close)
	sl := &lookupSlack{}
	apiURL := sl.serve(t, p.Slack)
	st := newStage(t, apiExtra, "owners: {endpoint: \""+imsSrv.URL+"\"}\n")
	st.healthy()
	st.env = map[string]string{"SLACK_LOOKUP_TOKEN": lookupSecret, "SLACK_API_URL": apiURL}
	return st, ims, sl
}

// owner is the resolved owner of token id in s.
func ownerOf(s *audit.Snapshot, id string) (*audit.TokenReport, *audit.GatewayReport) {
	for i := range s.Gateways {
		for j := range s.Gateways[i].Tokens {
			if s.Gateways[i].Tokens[j].TokenID == id {
				return &s.Gateways[i].Tokens[j], &s.Gateways[i]
			}
		}
	}
	return nil, nil
}

// Owners resolved end to end through the CLI: a creator who left is
// orphaned and goes to the gateway's creator; one found by email gets her
// Slack ID; lookups are made once per name, never carry a token value or a
// key, and a lookup that fails — denied, throttled, slow, endless — leaves
// owners unknown and never fails the audit.
func TestOwnerResolution(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		apiExtra string
		stage    func(ims *emulator.IMS, sl *lookupSlack)
		check    func(t *testing.T, s *audit.Snapshot, ims *emulator.IMS, sl *lookupSlack)
	}{
		{name: "resolved", check: func(t *testing.T, s *audit.Snapshot, ims *emulator.IMS, sl *lookupSlack) {
			bob, g := ownerOf(s, "tk-002")
			if bob.Owner == nil || bob.Owner.Status != audit.OwnerLeft || !slicesHasRule(bob, audit.RuleOrphaned) ||
				bob.Assignee == nil || bob.Assignee.As != audit.StepGatewayCreator || bob.Assignee.To[0].SlackID != "U0DAVE001" || g.Creator == nil {
				t.Errorf("bob's token: owner %+v, assignee %+v, findings %+v", bob.Owner, bob.Assignee, bob.Findings)
			}
			erin, _ := ownerOf(s, "tk-011")
			if erin.Owner == nil || erin.Owner.SlackID != "U0ERIN001" || erin.Owner.Via != audit.ViaEmail {
				t.Errorf("erin: %+v", erin.Owner)
			}
			alice, _ := ownerOf(s, "tk-001")
			if alice.Owner == nil || alice.Owner.Status != audit.OwnerActive || alice.Owner.SlackID != "" || alice.Owner.NoSlack != "no Slack user has their email" {
				t.Errorf("alice (no mention here, no Slack user by her email): %+v", alice.Owner)
			}
			seen := map[string]int{}
			for _, c := range ims.Calls() {
				if c.Action == "GetUser" {
					seen[c.Param]++
				}
			}
			for name, n := range seen {
				if n != 1 {
					t.Errorf("GetUser %s asked %d times, want once", name, n)
				}
			}
		}},
		{name: "IMS denied", stage: func(ims *emulator.IMS, _ *lookupSlack) {
			ims.Keys[cliAK] = emulator.Key{Secret: cliSecret, Actions: []string{}}
		}, check: func(t *testing.T, s *audit.Snapshot, ims *emulator.IMS, _ *lookupSlack) {
			tk, _ := ownerOf(s, "tk-002")
			if tk.Owner.Status != audit.OwnerUnknown || !strings.Contains(tk.OwnerError, "NoPermission") || s.Summary.OwnersUnknown == 0 || slicesHasRule(tk, audit.RuleOrphaned) {
				t.Errorf("denied: %+v %q (unknown %d)", tk.Owner, tk.OwnerError, s.Summary.OwnersUnknown)
			}
			if n := len(ims.Calls()); n > 2 {
				t.Errorf("%d IMS calls after a denial, want it asked once and then said", n)
			}
		}},
		{name: "IMS throttled", stage: func(ims *emulator.IMS, _ *lookupSlack) { ims.Fail = http.StatusServiceUnavailable },
			check: func(t *testing.T, s *audit.Snapshot, _ *emulator.IMS, _ *lookupSlack) {
				if tk, _ := ownerOf(s, "tk-001"); tk.Owner.Status != audit.OwnerUnknown || tk.OwnerError == "" {
					t.Errorf("throttled: %+v %q", tk.Owner, tk.OwnerError)
				}
			}},
		{name: "IMS slow", apiExtra: ", timeout: 300ms", stage: func(ims *emulator.IMS, _ *lookupSlack) { ims.Delay = 5 * time.Second },
			check: func(t *testing.T, s *audit.Snapshot, _ *emulator.IMS, _ *lookupSlack) {
				if tk, _ := ownerOf(s, "tk-001"); tk.Owner.Status != audit.OwnerUnknown {
					t.Errorf("slow: %+v", tk.Owner)
				}
			}},
		{name: "a recycle bin that never ends", stage: func(ims *emulator.IMS, _ *lookupSlack) { ims.EndlessRecycleBin = true },
			check: func(t *testing.T, s *audit.Snapshot, _ *emulator.IMS, _ *lookupSlack) {
				if tk, _ := ownerOf(s, "tk-002"); tk.Owner.Status != audit.OwnerUnknown || !strings.Contains(tk.OwnerError, "does not end") {
					t.Errorf("endless: %+v %q", tk.Owner, tk.OwnerError)
				}
			}},
		{name: "Slack lookup denied", stage: func(_ *emulator.IMS, sl *lookupSlack) { sl.fail = "missing_scope" },
			check: func(t *testing.T, s *audit.Snapshot, _ *emulator.IMS, sl *lookupSlack) {
				erin, _ := ownerOf(s, "tk-011")
				if erin.Owner.Status != audit.OwnerActive || erin.Owner.SlackID != "" || !strings.Contains(erin.Owner.NoSlack, "missing_scope") {
					t.Errorf("lookup denied: %+v", erin.Owner)
				}
				if len(sl.asked) != 1 {
					t.Errorf("asked Slack %d times after a denial, want once", len(sl.asked))
				}
			}},
		{name: "Slack lookups rate-limited", stage: func(_ *emulator.IMS, sl *lookupSlack) { sl.limited = 2 },
			check: func(t *testing.T, s *audit.Snapshot, _ *emulator.IMS, sl *lookupSlack) {
				// The lookups wait out each Retry-After: every owner is
				// still found by email.
				if erin, _ := ownerOf(s, "tk-011"); erin.Owner.SlackID != "U0ERIN001" || erin.Owner.Via != audit.ViaEmail {
					t.Errorf("erin after two 429s: %+v", erin.Owner)
				}
				if alice, _ := ownerOf(s, "tk-001"); alice.Owner.NoSlack != "no Slack user has their email" {
					t.Errorf("alice after two 429s: %+v", alice.Owner)
				}
				sl.mu.Lock()
				defer sl.mu.Unlock()
				if sl.limited != 0 {
					t.Errorf("%d 429s left unasked", sl.limited)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, ims, sl := ownerStage(t, tc.apiExtra)
			if tc.stage != nil {
				tc.stage(ims, sl)
			}
			code, out, errb := st.run(t, day1)
			if code != exitOK {
				t.Fatalf("exit %d, want 0: a lookup never fails the audit\n%s%s", code, out, errb)
			}
			s := st.snapshot(t, day1Key)
			if s == nil {
				t.Fatal("no snapshot")
			}
			tc.check(t, s, ims, sl)
			for _, c := range ims.Calls() {
				if strings.Contains(c.Param, "SECRET") || strings.Contains(c.Param, cliSecret) {
					t.Errorf("an IMS request carried a secret: %+v", c)
				}
			}
			for _, e := range sl.asked {
				if !strings.HasSuffix(e, "@acme.example") {
					t.Errorf("Slack was asked %q", e)
				}
			}
			st.leaks(t, out, errb)
			if strings.Contains(out+errb, lookupSecret) {
				t.Error("the lookup token left the process")
			}
		})
	}
}

func slicesHasRule(t *audit.TokenReport, r audit.Rule) bool {
	for _, f := range t.Findings {
		if f.Rule == r {
			return true
		}
	}
	return false
}

// countingGate is a fleet.Gate that counts its entries and the slots held.
type countingGate struct{ entered, held atomic.Int32 }

func (g *countingGate) Enter(context.Context) (func(), error) {
	g.entered.Add(1)
	g.held.Add(1)
	return func() { g.held.Add(-1) }, nil
}

// The resolver's RAM calls go through the run's gate, and its Slack
// lookups, rate-limited or not, hold no slot of it: a lookup waiting out a
// 429 never stalls the gateways' listings.
func TestSlackLookupsHoldNoSlot(t *testing.T) {
	t.Parallel()
	const ak, secret = "LTAIowners0000001", "owners-SECRET-never-print-3k"
	imsSrv := httptest.NewServer(&emulator.IMS{Keys: map[string]emulator.Key{ak: {Secret: secret}}, Domain: "acme.onaliyun.com",
		Users: map[string]emulator.IMSUser{"erin@acme.onaliyun.com": {UserID: "200000000000005", Email: "erin@acme.example", LastLoginDate: "2026-11-24T08:00:00Z"}}})
	t.Cleanup(imsSrv.Close)
	c, err := ims.New(ims.Options{Endpoint: imsSrv.URL, Credential: audittest.Credential(t, ak, secret), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g := &countingGate{}
	var heldAtLookup []int32
	sl := &lookupSlack{limited: 1}
	sl.onAsk = func() { heldAtLookup = append(heldAtLookup, g.held.Load()) }
	bot, err := slack.NewBot(lookupSecret, sl.serve(t, map[string]string{"erin@acme.example": "U0ERIN001"}), slack.NewHTTPClient(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := &ownerResolver{ims: c, slack: bot}
	if _, ok := any(r).(fleet.GatedAPI); !ok {
		t.Fatal("the resolver is not a fleet.GatedAPI: the fleet would gate its whole call, Slack's waits included")
	}
	o, err := r.Owner(fleet.WithGate(t.Context(), g), "erin")
	if err != nil || o.SlackID != "U0ERIN001" || o.Via != audit.ViaEmail {
		t.Fatalf("erin: %+v, %v", o, err)
	}
	if n := g.entered.Load(); n != 2 {
		t.Errorf("the gate was entered %d times, want 2 (GetDefaultDomain, GetUser)", n)
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if !slices.Equal(heldAtLookup, []int32{0, 0}) {
		t.Errorf("slots held at each Slack lookup (a 429, then the retry): %v, want none", heldAtLookup)
	}
}

// A second run finds each owner's Slack user as the first one did without
// asking Slack again: the first run keeps its lookups beside the
// snapshots, under the emails' hashes, never the emails; a dry run keeps
// nothing.
func TestSlackLookupsAreKept(t *testing.T) {
	t.Parallel()
	st, _, sl := ownerStage(t, "")
	if code, out, errb := st.run(t, day1, "-dry-run"); code != exitOK {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errb)
	}
	if _, ok := st.oss.Objects()["livy/"+lookups.Key]; ok {
		t.Fatal("a dry run kept its lookups")
	}
	if code, out, errb := st.run(t, day1); code != exitOK {
		t.Fatalf("day 1: exit %d\n%s%s", code, out, errb)
	}
	sl.mu.Lock()
	first := len(sl.asked)
	sl.mu.Unlock()
	kept, ok := st.oss.Objects()["livy/"+lookups.Key]
	if !ok || first == 0 || strings.Contains(string(kept.Data), "acme.example") {
		t.Fatalf("day 1 asked Slack %d times and kept %q", first, kept.Data)
	}
	if code, out, errb := st.run(t, "2026-11-28T09:00:00Z"); code != exitOK {
		t.Fatalf("day 2: exit %d\n%s%s", code, out, errb)
	}
	sl.mu.Lock()
	again := len(sl.asked) - first
	sl.mu.Unlock()
	s := st.snapshot(t, "2026/11/28/20261128T090000Z.json")
	erin, _ := ownerOf(s, "tk-011")
	alice, _ := ownerOf(s, "tk-001")
	if again != 0 || erin.Owner.SlackID != "U0ERIN001" || erin.Owner.Via != audit.ViaEmail || alice.Owner.NoSlack != "no Slack user has their email" {
		t.Errorf("day 2 asked Slack %d times; erin %+v, alice %+v", again, erin.Owner, alice.Owner)
	}
}

// A direct message that failed makes the run forget the Slack user it
// went to (they may have been deactivated since the lookup was kept): the
// next run asks Slack about them again; a delivered one keeps them.
func TestFailedDirectMessageForgetsTheLookup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := &localstore.Store{Dir: t.TempDir()}
	seen := &lookups.Cache{Store: st}
	seen.Put(ctx, "erin@acme.example", "U0ERIN001", "")
	seen.Put(ctx, "frank@acme.example", "U0FRANK01", "")
	k := keptLookups{seen}
	res := &auditrun.Result{Deliveries: []delivery.Result{
		{Destination: "slack", Status: delivery.StatusFailed},
		{Destination: ownerDestination + "U0ERIN001", Status: delivery.StatusFailed},
		{Destination: ownerDestination + "U0FRANK01", Status: delivery.StatusDelivered},
	}}
	if err := k.Keep(ctx, res); err != nil {
		t.Fatal(err)
	}
	next := &lookups.Cache{Store: st}
	_, erin := next.Get(ctx, "erin@acme.example")
	_, frank := next.Get(ctx, "frank@acme.example")
	if erin || !frank {
		t.Errorf("kept erin %v, frank %v; want frank only", erin, frank)
	}
}
