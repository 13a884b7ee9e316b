package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/internal/audittest"
	goldenfile "livy-token-audit/internal/golden"
	"livy-token-audit/notify"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, goldenfile.Path(t, name), got)
}

func demoSnapshot(t *testing.T, name string) *audit.Snapshot {
	t.Helper()
	return goldenfile.Snapshot(t, goldenfile.Path(t, name))
}

var demoOpts = RenderOptions{MaxItems: 10, Mentions: map[string]string{"alice": "U0ALICE01", "heidi": "U0HEIDI01"}}

// demoLocations are where the demo's snapshot is, as its golden messages
// link it.
var demoLocations = delivery.Locations{Snapshot: "https://oss.console.aliyun.com/bucket/oss-cn-hangzhou/audit/object?path=livy%2F2026%2F11%2F27%2F20261127T090000Z.json"}

func TestRenderDemoGolden(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"demo-snapshot.json", "demo-slack.json"},
		{"demo-snapshot-day2.json", "demo-slack-day2.json"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			msg := Render(notify.NewDigest(demoSnapshot(t, tc.in), demoLocations), demoOpts)
			b, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.out, append(b, '\n'))
			checkLimits(t, msg)
		})
	}
}

// checkLimits asserts Slack's limits on a rendered message.
func checkLimits(t *testing.T, m Message) {
	t.Helper()
	if len(m.Blocks) > maxBlocks {
		t.Errorf("got %d blocks, want at most %d", len(m.Blocks), maxBlocks)
	}
	total := 0
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slackgo.HeaderBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > maxHeaderChars {
				t.Errorf("header has %d chars, want at most %d", n, maxHeaderChars)
			}
		case *slackgo.SectionBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > maxSectionChars {
				t.Errorf("section has %d chars, want at most %d", n, maxSectionChars)
			}
		}
	}
	for _, txt := range blockTexts(m.Blocks) {
		total += utf8.RuneCountInString(txt)
	}
	if total > maxTotalChars {
		t.Errorf("blocks hold %d chars, want at most %d", total, maxTotalChars)
	}
	if m.Text == "" {
		t.Error("no fallback text")
	}
}

func TestRenderEscapesHostileNames(t *testing.T) {
	t.Parallel()
	hostile := []string{"<!channel>", "<!here>", "<http://evil|x>", "&amp;", "<@U0BOSS>"}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var toks []audit.Token
	for i, h := range hostile {
		toks = append(toks, audit.Token{ID: fmt.Sprintf("tk-%d", i), Name: h + " 🚀 数据平台", CreatedBy: h, CreateTime: now.AddDate(0, -2, 0)})
	}
	col := audittest.Collection{
		Gateways: []audit.GatewayResult{
			{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", WorkspaceName: "<!everyone>", GatewayID: "g", GatewayName: "<https://phish|gw>"}, Tokens: toks},
			{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "g2"}, Err: &audit.APIError{Code: "<!channel>", Message: "<http://evil|retry here>"}},
		},
	}
	s := audittest.BuildSnapshot(col, audit.Evaluation{Now: now, Policy: audit.DefaultPolicy()})
	msg := Render(notify.NewDigest(s, delivery.Locations{}), RenderOptions{MaxItems: 10})
	all := strings.Join(blockTexts(msg.Blocks), "\n") + msg.Text
	for _, h := range []string{"<!channel>", "<!here>", "<http://evil|x>", "<@U0BOSS>", "<!everyone>", "<https://phish|gw>", "<http://evil|retry here>"} {
		if strings.Contains(all, h) {
			t.Errorf("%q reached the message unescaped", h)
		}
	}
	for _, want := range []string{"&lt;!channel&gt; 🚀 数据平台", "&amp;amp;", "&lt;http://evil|x&gt;", "&lt;!everyone&gt;", "`&lt;!channel&gt;`"} {
		if !strings.Contains(all, want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

// fleetOf builds a snapshot with n expiring tokens and f failed gateways.
func fleetOf(n, f int) *audit.Snapshot {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var toks []audit.Token
	for i := range n {
		toks = append(toks, audit.Token{ID: fmt.Sprintf("tk-%05d", i), Name: fmt.Sprintf("pipeline-token-with-a-long-name-%05d", i),
			CreatedBy: "someone@example.com", CreateTime: now.AddDate(0, -1, 0), ExpireTime: now.Add(time.Duration(i+1) * time.Minute), LastUsedTime: now})
	}
	col := audittest.Collection{Gateways: []audit.GatewayResult{{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "g", GatewayName: "gw"}, Tokens: toks}}}
	for i := range f {
		col.Gateways = append(col.Gateways, audit.GatewayResult{
			Ref: audit.GatewayRef{Region: "cn-shanghai", WorkspaceID: "w", GatewayID: fmt.Sprintf("lc-%04d", i)},
			Err: &audit.APIError{Code: "ServiceUnavailable", Message: "The request has failed due to a temporary failure of the server."}})
	}
	return audittest.BuildSnapshot(col, audit.Evaluation{Now: now, Policy: audit.DefaultPolicy()})
}

func TestRenderLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		findings, bad int
		wantCut       int
		wantIn        []string
	}{
		{"no findings", 0, 0, 0, []string{"Livy token audit · all clear", "1/1 gateways"}},
		{"one finding", 1, 0, 0, []string{"1 expiring", "pipeline-token-with-a-long-name-00000"}},
		{"10,000 findings", 10000, 0, 9990, []string{"10000 expiring", "+9990 more", "full lists in the snapshot"}},
		{"500 failed gateways", 3, 500, 490, []string{"Not audited* — 500", "1/501 gateways", "+490 more"}},
		{"10,000 findings and 500 failures", 10000, 500, -1, []string{"10000 expiring", "Not audited* — 500", "500 not audited"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := Render(notify.NewDigest(fleetOf(tc.findings, tc.bad), delivery.Locations{}), RenderOptions{MaxItems: 10})
			checkLimits(t, msg)
			all := strings.Join(blockTexts(msg.Blocks), "\n") + "\n" + msg.Text
			for _, w := range tc.wantIn {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks %q:\n%s", w, all)
				}
			}
			if tc.wantCut >= 0 && msg.Cut != tc.wantCut {
				t.Errorf("cut %d lines, want %d", msg.Cut, tc.wantCut)
			}
		})
	}
}

func TestRenderThreadCarriesEveryLine(t *testing.T) {
	t.Parallel()
	s := fleetOf(300, 20)
	msgs := RenderThread(notify.NewDigest(s, delivery.Locations{}), RenderOptions{MaxItems: 10})
	if len(msgs) < 2 {
		t.Fatalf("got %d replies, want the lists split over several", len(msgs))
	}
	all := ""
	for _, m := range msgs {
		checkLimits(t, m)
		all += strings.Join(blockTexts(m.Blocks), "\n")
	}
	for _, w := range []string{"tk-00000", "tk-00299", "lc-0019"} {
		if !strings.Contains(all, w) {
			t.Errorf("the thread lacks %s", w)
		}
	}
	if n := len(RenderThread(notify.NewDigest(fleetOf(10000, 0), delivery.Locations{}), RenderOptions{MaxItems: 10})); n != maxThreadReplies {
		t.Errorf("10,000 findings: got %d replies, want the cap %d", n, maxThreadReplies)
	}
}

func TestRenderOverdueAndPartial(t *testing.T) {
	t.Parallel()
	s := fleetOf(2, 1)
	now := s.AuditedAt
	s.Scope.Partial = true
	s.Changes = &audit.Changes{Previous: &audit.PreviousRef{Key: "k", AuditedAt: now.Add(-72 * time.Hour)},
		Overdue: &audit.Overdue{Message: "previous audit 3d ago — expected every 24h"}}
	all := strings.Join(blockTexts(Render(notify.NewDigest(s, delivery.Locations{}), RenderOptions{MaxItems: 10}).Blocks), "\n")
	for _, w := range []string{":warning: *previous audit 3d ago — expected every 24h*", "ad-hoc audit of part of the scope", "1/2 gateways"} {
		if !strings.Contains(all, w) {
			t.Errorf("message lacks %q:\n%s", w, all)
		}
	}
}

// A rule this version does not know is titled as itself, never blank.
func TestRenderUnknownRule(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	s := &audit.Snapshot{RunID: "audit-x", AuditedAt: at, Summary: audit.Summary{Gateways: 1, Tokens: 1},
		Gateways: []audit.GatewayReport{{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "g", Tokens: []audit.TokenReport{
			{TokenID: "tk-1", Name: "shared", Findings: []audit.Finding{{Rule: "leaked", Severity: audit.SeverityHigh, Message: "shares its secret"}}}}}}}
	text := Render(notify.NewDigest(s, delivery.Locations{}), RenderOptions{MaxItems: 10}).PlainText()
	if !strings.Contains(text, "*:grey_question: leaked* (high) — 1") || !strings.Contains(text, "shared") {
		t.Errorf("the unknown rule's section: %s", text)
	}
}
