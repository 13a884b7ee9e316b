package slack

import (
	"encoding/json"
	"strings"
	"testing"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/internal/slacklimits"
	"livy-token-audit/notify"
	"livy-token-audit/notify/actionref"
)

var testButtons = &Buttons{Signer: actionref.NewSigner("test-signing-secret"), Policy: actionref.Policy{MaxSnooze: 30 * audit.Day,
	Delete: true, DeleteRules: []audit.Rule{audit.RuleExpiring}, DeleteAccounts: []string{""}}}

// TestButtonsStayWithinSlacksLimits renders the reports of small and huge
// fleets with buttons: within 50 blocks, each button's action_id lta_…,
// its value a verb our signer reads back within 2,000 characters, the
// delete's confirm naming the token, gateway and workspace; the snoozes
// past actions.maxSnooze are not offered.
func TestButtonsStayWithinSlacksLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		findings, bad, want int
	}{
		{"one finding", 1, 0, 1},
		{"10,000 findings and 500 failures", 10000, 500, DefaultMaxButtons},
	} {
		msg := Render(notify.NewDigest(fleetOf(tc.findings, tc.bad), delivery.Locations{}), RenderOptions{MaxItems: 10, Buttons: testButtons})
		checkLimits(t, msg)
		body, _ := json.Marshal(msg)
		if code := slacklimits.Check(body); code != "" {
			t.Fatalf("%s: Slack would answer %s", tc.name, code)
		}
		n := 0
		for _, b := range msg.Blocks {
			ab, ok := b.(*slackgo.ActionBlock)
			if !ok {
				continue
			}
			n++
			var verbs []string
			for _, e := range ab.Elements.ElementSet {
				btn := e.(*slackgo.ButtonBlockElement)
				verb, ref, err := testButtons.Signer.Parse(btn.Value)
				if err != nil || !strings.HasPrefix(btn.ActionID, actionref.ActionIDPrefix) || len(btn.Value) > actionref.MaxValue || ref.Token == "" {
					t.Errorf("%s: button %s %q: %v", tc.name, btn.ActionID, btn.Value, err)
				}
				verbs = append(verbs, verb)
				if verb == actionref.Delete && (btn.Confirm == nil || !strings.Contains(btn.Confirm.Text.Text, ref.Token) || !strings.Contains(btn.Confirm.Text.Text, "gateway")) {
					t.Errorf("%s: the delete's confirm %+v does not name the token and its gateway", tc.name, btn.Confirm)
				}
			}
			if strings.Join(verbs, " ") != "snooze:7d snooze:30d ack delete" {
				t.Errorf("%s: verbs %v, want the snoozes within 30d, ack and delete (expiring is in delete.rules)", tc.name, verbs)
			}
		}
		if n != tc.want {
			t.Errorf("%s: %d tokens with buttons, want %d", tc.name, n, tc.want)
		}
	}
	// A token in an account without a delete role is offered no delete.
	other := &Buttons{Signer: testButtons.Signer, Policy: testButtons.Policy}
	other.Policy.DeleteAccounts = []string{"1111222233334444"}
	if msg := Render(notify.NewDigest(fleetOf(3, 0), delivery.Locations{}), RenderOptions{MaxItems: 10, Buttons: other}); strings.Contains(mustJSON(msg), "lta_delete") || !strings.Contains(mustJSON(msg), "lta_ack") {
		t.Error("a delete offered on a token of an account without a delete role")
	}
	// Without Buttons, none.
	if msg := Render(notify.NewDigest(fleetOf(3, 0), delivery.Locations{}), RenderOptions{MaxItems: 10}); strings.Contains(mustJSON(msg), "lta_") {
		t.Error("buttons without actions.enabled")
	}
}

func TestOwnerMessageHasButtons(t *testing.T) {
	t.Parallel()
	s := fleetOf(40, 0)
	var items []notify.Item
	for _, sec := range notify.NewDigest(s, delivery.Locations{}).Sections {
		items = append(items, sec.Items...)
	}
	d := notify.NewDigest(s, delivery.Locations{})
	d.Owner = &notify.Owner{Name: "alice", Items: items}
	msg := RenderOwner(d, "", testButtons)
	body, _ := json.Marshal(msg)
	if code := slacklimits.Check(body); code != "" || !strings.Contains(string(body), "lta_ack") {
		t.Errorf("owner message with buttons: %q, %d blocks", code, len(msg.Blocks))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
