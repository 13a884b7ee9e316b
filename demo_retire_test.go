package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"livy-token-audit/audit"
)

// Three demo days show a mark, its notice and the retirement of the
// unused tokens; a fourth tells the ticket receiver they resolved. Every
// post in the receiver's log verifies with the Standard Webhooks
// reference library, and each finding is opened before it is resolved.
func TestDemoRetiresAndTellsTickets(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var days []string
	for i := range 4 {
		var out, errb bytes.Buffer
		if code := run(t.Context(), []string{"-demo"}, noEnv, &out, &errb); code != exitOK {
			t.Fatalf("day %d: exit %d; stderr:\n%s", i+1, code, errb.String())
		}
		days = append(days, out.String())
		assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())
	}
	for i, want := range []string{
		"SCHEDULED FOR DELETION — 2 (actions.retire)\n  <!channel> dashboards <http://evil.example|click> (tk-010) · bi-gateway / data-platform · unused · will be deleted on 2026-11-29 unless someone snoozes it or says I own this",
		"SCHEDULED FOR DELETION — 2 (actions.retire)",
		"RETIRED — 2 tokens deleted on their date\n",
	} {
		if !strings.Contains(days[i], want) {
			t.Errorf("day %d does not say %q:\n%s", i+1, want, days[i])
		}
	}
	if !strings.Contains(days[0], "Demo: the ticket receiver (webhook tickets, mode: events) logs each post, its Standard Webhooks headers and whether they verified, in demo-out/tickets.log.") {
		t.Errorf("the demo does not say where the ticket receiver's log is:\n%s", days[0])
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "29", "20261129T090000Z.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.ReadSnapshot(b)
	if err != nil || s.Retire == nil || len(s.Retire.Retired) != 2 || !s.Retire.Acted {
		t.Fatalf("day 3's snapshot retire: %+v (%v), want 2 retired", s.Retire, err)
	}

	lib, err := standardwebhooks.NewWebhook(demoTicketsSecret)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "demo-out", demoTicketsLog))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opened := map[string]bool{}
	var resolved []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l demoTicketLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", l.ID)
		h.Set("webhook-timestamp", l.Timestamp)
		h.Set("webhook-signature", l.Signature)
		if err := lib.VerifyIgnoringTimestamp([]byte(l.Body), h); err != nil || !l.Verified {
			t.Errorf("post %s (%s) does not verify with the reference library: %v", l.ID, l.Type, err)
		}
		switch l.Type {
		case audit.EventOpened:
			opened[l.Fingerprint] = true
		case audit.EventResolved:
			if !opened[l.Fingerprint] {
				t.Errorf("%s resolved (%s) before it was opened", l.Token, l.How)
			}
			resolved = append(resolved, l.Token+" "+l.How)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tk-010 tokenDeleted", "tk-012 tokenDeleted", "tk-002 fixed"} {
		if !strings.Contains(strings.Join(resolved, ", "), want) {
			t.Errorf("the receiver was not told %q; resolved: %v", want, resolved)
		}
	}
}

// A notice of deletion that reached nobody is not a notice: with the demo
// posting to a Slack webhook that refuses its first two days' reports,
// each of those runs says so and takes the notices back; day 3's report,
// delivered, tells the 1-day notice again, and deletes nothing; day 4
// deletes (a day later than when every report gets through).
func TestDemoRetireWaitsForANoticeSomebodyGot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	hook := &hookReceiver{status: http.StatusNotFound, code: "no_service"}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	env := func(k string) string {
		if k == "SLACK_WEBHOOK_URL" {
			return srv.URL + testHookPath
		}
		return ""
	}
	const untold = "Retire: the notice of deletion of 2 tokens reached no destination (<!channel> dashboards <http://evil.example|click> (tk-010), analyst-laptop (tk-012)): the next run tells it again, and the deletion waits for it\n"
	for day := 1; day <= 4; day++ {
		if day == 3 {
			hook.mu.Lock()
			hook.status, hook.code = 0, ""
			hook.mu.Unlock()
		}
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"-demo"}, env, &out, &errb)
		assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())
		switch o := out.String(); day {
		case 1, 2:
			if code == exitOK || !strings.Contains(o, untold) || !strings.Contains(o, "SCHEDULED FOR DELETION — 2") {
				t.Fatalf("day %d: exit %d, want a failed Slack delivery that says the notices reached nobody:\n%s", day, code, o)
			}
		case 3:
			if code != exitOK || strings.Contains(o, "Retire:") || strings.Contains(o, "RETIRED") || !strings.Contains(o, "SCHEDULED FOR DELETION — 2") {
				t.Fatalf("day 3: exit %d, want the notices told again and nothing deleted:\n%s", code, o)
			}
		case 4:
			if code != exitOK || !strings.Contains(o, "RETIRED — 2 tokens deleted on their date\n") {
				t.Fatalf("day 4: exit %d, want the 2 tokens retired:\n%s", code, o)
			}
		}
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.bodies) < 2 || !bytes.Contains(hook.bodies[0], []byte("will be deleted on 2026-11-29 unless someone snoozes it")) {
		t.Errorf("Slack got %d reports; day 3's should carry the notice", len(hook.bodies))
	}
}
