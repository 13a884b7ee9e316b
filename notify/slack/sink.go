package slack

import (
	"context"
	"fmt"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/notify"
)

// Options shape every message of a Slack destination.
type Options struct {
	// MaxItems is the most tokens listed per rule.
	MaxItems int
	// Mentions maps a token's createdBy to a Slack user ID.
	Mentions map[string]string
	// RunbookURL is linked in owners' messages ("" for none).
	RunbookURL string
	// Buttons, when set, put actions on the flagged tokens of every
	// message (actions.enabled).
	Buttons *Buttons
}

var _ notify.Sender = (*Slack)(nil)

// Send renders a report as Slack messages and posts them: the message,
// and with a bot, the full lists in its thread when the message had to cut
// them.
func (n *Slack) Send(ctx context.Context, r *notify.Report) error {
	msg, thread := Messages(r, n.Options, n.bot != nil)
	msg.Meta = &Meta{RunID: r.Snapshot.RunID, Destination: r.Destination}
	return n.Post(ctx, msg, thread)
}

// SendFailure posts the short notice of a run that could not do its job.
func (n *Slack) SendFailure(ctx context.Context, f delivery.FailureNotice) error {
	msg := RenderFailure(f)
	msg.Meta = &Meta{RunID: f.RunID, Destination: notify.FailureDestination}
	return n.Post(ctx, msg, nil)
}

var _ notify.Looker = (*Slack)(nil)

// Posted looks in the bot's channel's history, since a time, for the
// message of a run to a destination (by its metadata): a retry looks before
// it posts again what an earlier attempt may have posted. Through a
// webhook it cannot look (notify.ErrCannotLook).
func (n *Slack) Posted(ctx context.Context, runID, destination string, since time.Time) (bool, error) {
	if n.bot == nil {
		return false, notify.ErrCannotLook
	}
	_, found, err := n.posted(ctx, &Meta{RunID: runID, Destination: destination}, since)
	return found, n.redact(err)
}

// Messages renders a report: its message and, when thread is set (a bot
// posts it) and the message had to cut lines, the replies that hold the
// full lists.
func Messages(r *notify.Report, o Options, thread bool) (Message, []Message) {
	if r.Owner != nil {
		return RenderOwner(r.Digest, o.RunbookURL, o.Buttons), nil
	}
	ro := RenderOptions{MaxItems: o.MaxItems, Mentions: o.Mentions, Buttons: o.Buttons}
	msg := Render(r.Digest, ro)
	if msg.Cut > 0 && thread {
		return msg, RenderThread(r.Digest, ro)
	}
	return msg, nil
}

// howToRotate is what an owner is told to do.
const howToRotate = "*How to rotate:* create a new token on the same Livy Gateway (EMR Serverless Spark console → your workspace → Livy Gateway → Tokens), " +
	"move the jobs that use the old token to the new one, then delete the old one. A token that is unused or stale can simply be deleted."

// RenderOwner renders an owner's direct message (a digest with its
// Owner): their tokens that need action, the most urgent first, and how to
// rotate.
func RenderOwner(d *notify.Digest, runbookURL string, buttons *Buttons) Message {
	o, s := *d.Owner, d.Snapshot
	rules := map[audit.Rule]int{}
	var order []audit.Rule
	for _, it := range o.Items {
		if rules[it.Finding.Rule] == 0 {
			order = append(order, it.Finding.Rule)
		}
		rules[it.Finding.Rule]++
	}
	var counts []string
	for _, r := range order {
		counts = append(counts, fmt.Sprintf("%d %s", rules[r], audit.Info(r).Label))
	}
	title := truncate("Livy token audit · your tokens · "+strings.Join(counts, " · "), maxHeaderChars)
	text, _ := list(fmt.Sprintf("*Tokens for %s to act on* — %d", name(o.Name), len(o.Items)), len(o.Items),
		func(i int) string {
			l := itemLine(o.Items[i], nil)
			if a := o.Items[i].Token.Assignee; a != nil && a.As != audit.StepCreator && a.As != "acknowledged" {
				l += " · yours as " + escape(a.Why) // inherited: the creator cannot act
			}
			return l
		}, 25)
	rotate := howToRotate
	if runbookURL != "" {
		rotate += " Runbook: " + linkTo(runbookURL)
	}
	blocks := []slackgo.Block{
		slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, title, true, false)),
		slackgo.NewContextBlock("", mrkdwn("audited "+notify.AuditedAt(s.AuditedAt)+" · you get this because slack.mentions maps "+name(o.Name)+" to you")),
		slackgo.NewSectionBlock(mrkdwn(text), nil, nil),
		slackgo.NewSectionBlock(mrkdwn(rotate), nil, nil),
	}
	blocks = append(blocks, buttons.blocks(s, o.Items, nil, maxBlocks-len(blocks)-1)...)
	blocks = append(blocks, slackgo.NewContextBlock("", mrkdwn(footer(s, d.Locations))))
	return Message{Text: escape("Livy token audit: " + strings.Join(counts, ", ") + " on tokens for you to act on"), Blocks: blocks}
}
