package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"regexp"
	"strings"
	"testing"

	"livy-token-audit/audit"
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
	if err := (Page{}).WritePage(&buf, day2, h.Runs, notify.Locations{Snapshot: "demo-out/2026/11/28/20261128T090000Z.json"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDemoPageGolden(t *testing.T) {
	got := render(t)
	goldenfile.Check(t, goldenfile.Path(t, "demo-report-day2.html"), got)
	for _, want := range []string{
		"4/5 gateways in 4 workspaces, 2 regions",        // coverage, in Slack's words
		`<section class="alert failures" id="failures">`, // failures are not missable
		`<section class="alert lapsed" id="lapsed">`,     // nor lapsed suppressions
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
	var buf bytes.Buffer
	if err := (Page{}).WritePage(&buf, s, nil, notify.Locations{Snapshot: hostile}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "<script"); n != 1 {
		t.Errorf("%d script elements, want the page's own alone", n)
	}
	if n := strings.Count(buf.String(), "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 6 {
		t.Errorf("the hostile name is shown escaped %d times, want at least 6", n)
	}
}
