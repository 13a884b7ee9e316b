package slack

import (
	"fmt"
	"strconv"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
	"livy-token-audit/notify/actionref"
)

// Buttons put actions on the flagged tokens of a message (actions.enabled):
// each token acted on is a section (the token) and an actions block (its
// buttons), the most urgent tokens first, as many as the message has room
// for.
type Buttons struct {
	Signer actionref.Signer
	Policy actionref.Policy
	// Max is the most tokens that get buttons in one message (0:
	// DefaultMaxButtons).
	Max int
}

// DefaultMaxButtons is how many tokens of a message get buttons: two
// blocks each, so that the report stays within Slack's 50 blocks.
const DefaultMaxButtons = 10

// buttonLabels are the buttons' texts.
var buttonLabels = map[string]string{
	actionref.Snooze7d: "Snooze 7d", actionref.Snooze30d: "Snooze 30d", actionref.Snooze90d: "Snooze 90d",
	actionref.Ack: "I own this", actionref.Delete: "Delete",
}

// actionIDs are the buttons' action_id: lta_ and the verb.
var actionIDs = map[string]string{
	actionref.Snooze7d: "lta_snooze_7d", actionref.Snooze30d: "lta_snooze_30d", actionref.Snooze90d: "lta_snooze_90d",
	actionref.Ack: "lta_ack", actionref.Delete: "lta_delete",
}

// blocks are the buttons for items (the most urgent first), within room
// blocks: a title, then two blocks per token.
func (b *Buttons) blocks(s *audit.Snapshot, items []notify.Item, mentions map[string]string, room int) []slackgo.Block {
	if b == nil {
		return nil
	}
	items = oncePerToken(items)
	most := b.Max
	if most <= 0 {
		most = DefaultMaxButtons
	}
	n := min(len(items), most, (room-1)/2)
	if n <= 0 {
		return nil
	}
	out := []slackgo.Block{slackgo.NewSectionBlock(mrkdwn(fmt.Sprintf("*:point_right: Act on these* — %d (snooze, acknowledge%s)", n,
		map[bool]string{true: ", delete", false: ""}[b.Policy.Delete])), nil, nil)}
	for i, it := range items[:n] {
		ref := actionref.RefOf(s, it.Gateway, it.Token, it.Finding)
		var elems []slackgo.BlockElement
		for _, verb := range b.Policy.Offers(it.Finding.Rule, it.Gateway.AccountID) {
			v, err := b.Signer.Value(verb, ref)
			if err != nil {
				continue
			}
			btn := slackgo.NewButtonBlockElement(actionIDs[verb], v, slackgo.NewTextBlockObject(slackgo.PlainTextType, buttonLabels[verb], false, false))
			if verb == actionref.Delete {
				btn.Style = slackgo.StyleDanger
				btn.Confirm = slackgo.NewConfirmationBlockObject(
					slackgo.NewTextBlockObject(slackgo.PlainTextType, "Delete this token?", false, false),
					mrkdwn(truncate(fmt.Sprintf("Delete *%s* `%s` on gateway %s of workspace %s (%s)? Jobs that use it stop working.",
						name(it.Token.Name), it.Token.TokenID, name(notify.GatewayLabel(*it.Gateway)), name(notify.WorkspaceLabel(*it.Gateway)), it.Gateway.Region), 300)),
					slackgo.NewTextBlockObject(slackgo.PlainTextType, "Delete", false, false),
					slackgo.NewTextBlockObject(slackgo.PlainTextType, "Cancel", false, false))
			}
			elems = append(elems, btn)
		}
		id := "lta_" + strconv.Itoa(i)
		out = append(out, slackgo.NewSectionBlock(mrkdwn(itemLine(it, mentions)), nil, nil, slackgo.SectionBlockOptionBlockID(id+"_t")),
			slackgo.NewActionBlock(id, elems...))
	}
	return out
}

// urgent are the items of a snapshot's sections in the order the page's
// Needs action uses: the most severe sections first, the most urgent tokens
// first in each.
func urgent(secs []notify.Section) []notify.Item {
	var out []notify.Item
	for _, sec := range secs {
		out = append(out, sec.Items...)
	}
	return out
}

// oncePerToken keeps the first item of each token: its buttons act on that
// finding.
func oncePerToken(items []notify.Item) []notify.Item {
	seen := map[*audit.TokenReport]bool{}
	var out []notify.Item
	for _, it := range items {
		if !seen[it.Token] {
			seen[it.Token] = true
			out = append(out, it)
		}
	}
	return out
}
