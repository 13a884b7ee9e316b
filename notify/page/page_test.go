package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	goldenfile "livy-token-audit/internal/golden"
	"livy-token-audit/notify"
)

func demoSnapshot(t *testing.T, name string) *audit.Snapshot {
	t.Helper()
	return goldenfile.Snapshot(t, goldenfile.Path(t, name))
}

// render is the page of the demo's second day, with both days in the
// history (as the demo's second run writes it).
func render(t *testing.T) []byte {
	t.Helper()
	day1, day2 := demoSnapshot(t, "demo-snapshot.json"), demoSnapshot(t, "demo-snapshot-day2.json")
	h := (*audit.History)(nil).Next(day1).Next(day2)
	var buf bytes.Buffer
	if err := (Page{}).WritePage(&buf, notify.NewDigest(day2, delivery.Locations{Snapshot: "demo-out/2026/11/28/20261128T090000Z.json"}), h.Runs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDemoPageGolden(t *testing.T) {
	got := render(t)
	goldenfile.Check(t, goldenfile.Path(t, "demo-report-day2.html"), got)
	for _, want := range []string{
		"5/6 gateways (5 Livy, 1 Kyuubi) in 4 workspaces, 2 regions", // coverage, in Slack's words
		`<section class="alert failures" id="failures">`,             // failures are not missable
		`<section class="alert lapsed" id="lapsed">`,                 // nor lapsed suppressions
		"<polyline",        // the trend of two full audits
		"livy-token-audit", // the tool in the footer
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestPageIsSelfContained checks the page needs nothing from outside, and
// that its Content-Security-Policy lets in exactly its own style and
// script.
func TestPageIsSelfContained(t *testing.T) {
	page := string(render(t))
	for _, re := range []string{`(?i)\b(src|href)\s*=`, `(?i)url\(`, `(?i)@import`, `(?i)https?://(?:[^e]|e[^v])`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("the page refers to something outside it: %q", m)
		}
	}
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
	script := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(style) != 1 || len(script) != 1 {
		t.Fatalf("%d style and %d script elements, want one of each", len(style), len(script))
	}
	cspRe := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)">`)
	m := cspRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no Content-Security-Policy")
	}
	csp := html.UnescapeString(m[1]) // as the browser reads the attribute
	for _, want := range []string{"default-src 'none'", "style-src " + hash(style[0][1]), "script-src " + hash(script[0][1])} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
}

func TestPageEscapesEveryName(t *testing.T) {
	s := demoSnapshot(t, "demo-snapshot.json")
	const hostile = `<script>alert(1)</script>`
	s.Gateways[0].GatewayName = hostile
	s.Gateways[0].WorkspaceName = hostile
	s.Gateways[0].Tokens[0].Name = hostile
	s.Gateways[0].Tokens[0].CreatedBy = hostile
	s.Errors = append(s.Errors, audit.ScopeError{Region: "cn-hangzhou", Code: hostile, Message: hostile})
	s.Actions = []audit.ActionReport{{At: s.AuditedAt, By: "U0ALICE01", Verb: "delete", Token: "cn-hangzhou/w/g/tk-1", Name: hostile, Outcome: "refused", Detail: hostile}}
	var buf bytes.Buffer
	if err := (Page{}).WritePage(&buf, notify.NewDigest(s, delivery.Locations{Snapshot: hostile}), nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "<script"); n != 1 {
		t.Errorf("%d script elements, want the page's own alone", n)
	}
	if n := strings.Count(buf.String(), "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 8 {
		t.Errorf("the hostile name is shown escaped %d times, want at least 8", n)
	}
	if !strings.Contains(buf.String(), `<section id="slack-actions">`) || !strings.Contains(buf.String(), "@alice · delete") {
		t.Error("the page does not list the recent actions from Slack")
	}
}

// The page's hand-written time format is time.RFC3339Nano's, byte for byte.
func TestAppendRFC3339Nano(t *testing.T) {
	t.Parallel()
	for _, u := range []time.Time{
		time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.UnixMilli(1764234000123).UTC(),
	} {
		if got, want := string(appendRFC3339Nano(nil, u)), u.Format(time.RFC3339Nano); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// Rows rendered ahead, in whatever order the gateways were audited, make
// the same page, byte for byte, as rows rendered at the end; rows of
// another snapshot are not used.
func TestRowsRenderedAheadMakeTheSamePage(t *testing.T) {
	t.Parallel()
	day1, day2 := demoSnapshot(t, "demo-snapshot.json"), demoSnapshot(t, "demo-snapshot-day2.json")
	// Ties in expiry and name, to check the order on ties.
	i := slices.IndexFunc(day2.Gateways, func(g audit.GatewayReport) bool { return len(g.Tokens) > 0 })
	g := &day2.Gateways[i]
	dup := g.Tokens[0]
	dup.TokenID = dup.TokenID + "-b"
	g.Tokens = append(g.Tokens, dup, dup)
	h := (*audit.History)(nil).Next(day1).Next(day2)
	loc := delivery.Locations{Snapshot: "x.json"}
	var want bytes.Buffer
	if err := (Page{}).WritePage(&want, notify.NewDigest(day2, loc), h.Runs); err != nil {
		t.Fatal(err)
	}
	rows, err := NewRows(day2.AuditedAt)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for i := len(day2.Gateways) - 1; i >= 0; i-- { // the audit's order is any order
		rows.Add(day2.Gateways[i])
	}
	var got bytes.Buffer
	if err := (Page{Rows: rows}).WritePage(&got, notify.NewDigest(day2, loc), h.Runs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("the page from rows rendered ahead differs:\n%s", got.String())
	}
	if !rows.covers(day2) || rows.covers(day1) {
		t.Error("rows claim to be those of another snapshot")
	}
	var other, direct bytes.Buffer
	if err := (Page{Rows: rows}).WritePage(&other, notify.NewDigest(day1, loc), nil); err != nil {
		t.Fatal(err)
	}
	if err := (Page{}).WritePage(&direct, notify.NewDigest(day1, loc), nil); err != nil || !bytes.Equal(other.Bytes(), direct.Bytes()) {
		t.Errorf("another snapshot's page was drawn from these rows (%v)", err)
	}
}

// Slack users are shown by name where the snapshot knows it (as Slack sent
// it with the click), by ID where it does not: never as raw <@U…> markup.
func TestSlackUsersByName(t *testing.T) {
	s := demoSnapshot(t, "demo-snapshot-day2.json")
	var tk *audit.TokenReport
	for i := range s.Gateways {
		if len(s.Gateways[i].Tokens) > 0 {
			tk = &s.Gateways[i].Tokens[0]
			break
		}
	}
	tk.Suppressed = append(tk.Suppressed, audit.SuppressedFinding{Finding: audit.Finding{Rule: audit.RuleStale, Severity: audit.SeverityMedium, Message: "unused"},
		Reason: "snoozed by <@U0ALICE01> until 2026-12-27, moving to v2", SnoozedBy: "U0ALICE01", SnoozedByName: "alice.w"})
	s.Actions = []audit.ActionReport{{At: s.AuditedAt.Add(-time.Hour), By: "U0ALICE01", ByName: "alice.w", Verb: "snooze", Token: "x/tk", Outcome: "done"},
		{At: s.AuditedAt.Add(-time.Minute), By: "U0NONAME1", Verb: "ack", Token: "x/tk", Outcome: "refused", Detail: "<@U0NONAME1> may not"}}
	var buf bytes.Buffer
	if err := (Page{}).WritePage(&buf, notify.NewDigest(s, delivery.Locations{}), nil); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(buf.String())
	for _, want := range []string{"· @alice.w · snooze", "suppressed: snoozed by @alice.w until 2026-12-27", "· @U0NONAME1 · ack", "refused: @U0NONAME1 may not"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<@U") {
		t.Error("the page shows a Slack mention as markup (<@U…>)")
	}
}
