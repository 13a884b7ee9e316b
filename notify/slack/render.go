package slack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/notify"
)

// Slack's documented and observed limits, with a margin.
const (
	maxBlocks       = 50
	maxHeaderChars  = 150
	maxSectionChars = 3000
	// maxTotalChars keeps the text of all blocks well under the ~12,000
	// characters at which Slack starts answering msg_blocks_too_long.
	maxTotalChars = 11000
	// maxThreadReplies bounds the full lists posted in a thread.
	maxThreadReplies = 20
)

// RenderOptions shape the Slack message.
type RenderOptions struct {
	// MaxItems is the most tokens listed per rule (at least 1).
	MaxItems int
	// Mentions maps a token's createdBy to a Slack user ID.
	Mentions map[string]string
	// Buttons, when set, put actions on the most urgent flagged tokens
	// (actions.enabled).
	Buttons *Buttons
}

// Message is a Slack message: a notification text and Block Kit blocks.
type Message struct {
	Text   string
	Blocks []slackgo.Block
	// Meta names the run and the destination in the message's metadata,
	// when a bot posts it: so that a post whose answer was lost can be
	// found in the channel's history rather than posted again.
	Meta *Meta
	// Cut is how many finding or failure lines were left out of the blocks
	// (they are counted in "+N more").
	Cut int
}

// Meta is a message's metadata.
type Meta struct {
	RunID, Destination string
}

// MarshalJSON writes the message as chat.postMessage or a webhook takes it.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Text   string          `json:"text"`
		Blocks []slackgo.Block `json:"blocks"`
	}{m.Text, m.Blocks})
}

// escape makes user-controlled text inert in Slack: no mentions (<!channel>),
// no links (<http://x|y>), no entity tricks (&amp;).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(notify.Clean(s))
}

// code renders s as inline code; backticks inside would end the span.
func code(s string) string {
	return "`" + strings.ReplaceAll(escape(s), "`", "'") + "`"
}

func truncate(s string, n int) string { return audit.Truncate(s, n) }

func name(s string) string { return escape(truncate(s, notify.MaxNameChars)) }

// ruleTitle is a rule's section title: its emoji and its title, from the
// rule table (a rule this version does not know is titled as itself).
func ruleTitle(r audit.Rule) string {
	ri := audit.Info(r)
	return ":" + ri.Icon + ": " + escape(ri.Title)
}

func owner(createdBy string, mentions map[string]string) string {
	if id, ok := mentions[createdBy]; ok && id != "" {
		return "<@" + id + ">"
	}
	if createdBy == "" {
		return "unknown owner"
	}
	return name(createdBy)
}

func itemLine(it notify.Item, mentions map[string]string) string {
	msg := it.Finding.Message
	if it.Finding.Stage != "" {
		msg += " (" + it.Finding.Stage + " stage)"
	}
	return tokenLine(it, mentions) + " · " + escape(msg)
}

// tokenLine names an item's token: "• *name* `id` · gateway / workspace ·
// owner", with the owner who acknowledged it from Slack.
func tokenLine(it notify.Item, mentions map[string]string) string {
	l := fmt.Sprintf("• *%s* %s · %s%s / %s · %s", name(it.Token.Name), code(truncate(it.Token.TokenID, notify.MaxNameChars)),
		name(it.Account), name(notify.GatewayLabel(*it.Gateway)), name(notify.WorkspaceLabel(*it.Gateway)), owner(it.Token.CreatedBy, mentions))
	if a := it.Token.Acknowledged; a != nil && slackUserRe.MatchString(a.By) {
		l += " (owned by <@" + a.By + ">)"
	}
	return l
}

var slackUserRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// snoozedLine is a finding snoozed from Slack: the token, the finding,
// and who snoozed it until when, and why.
func snoozedLine(it notify.Item, sf *audit.SuppressedFinding, mentions map[string]string) string {
	return tokenLine(it, mentions) + " · " + escape(string(sf.Rule)) + " · " + withMentions(truncate(sf.Reason, 300))
}

// lines are a section's lines: n of them, each formatted on demand.
type lines struct {
	n    int
	line func(int) string
}

// sectionLines are a rule section's lines: one per token, or, for reused
// secrets, one per group of tokens that share one.
func sectionLines(sec notify.Section, mentions map[string]string) lines {
	if sec.Rule != audit.RuleReused {
		return lines{len(sec.Items), func(i int) string { return itemLine(sec.Items[i], mentions) }}
	}
	return lines{len(sec.Groups), func(i int) string { return reuseLine(sec.Groups[i], mentions) }}
}

// reuseLine renders one group of tokens sharing a secret: "• 3 tokens
// share one secret: *a* `tk-1` (etl / data · alice), …", and, when some of
// the group is outside this report, who they are.
func reuseLine(g notify.ReuseGroup, mentions map[string]string) string {
	var members []string
	for _, it := range g.Items {
		members = append(members, fmt.Sprintf("*%s* %s (%s%s / %s · %s)", name(it.Token.Name), code(truncate(it.Token.TokenID, notify.MaxNameChars)),
			name(it.Account), name(notify.GatewayLabel(*it.Gateway)), name(notify.WorkspaceLabel(*it.Gateway)), owner(it.Token.CreatedBy, mentions)))
	}
	l := fmt.Sprintf("• %d tokens share one secret: %s", g.Size, strings.Join(members, ", "))
	if out := g.Size - len(g.Items); out > 0 {
		l += fmt.Sprintf(" · %d outside this report — %s", out, escape(g.Items[0].Finding.Message))
	}
	return l
}

func failureLine(f notify.Failure) string {
	return fmt.Sprintf("• %s: %s %s", escape(f.Where), code(f.Code), escape(truncate(f.Message, 200)))
}

// list renders a titled list of n lines (line(i) formats the i-th) within
// maxSectionChars, showing at most limit lines, then "+N more". It returns
// the text and how many lines it left out. Only the lines shown are
// formatted, so a list of 10,000 costs no more than one of ten.
func list(title string, n int, line func(int) string, limit int) (string, int) {
	var b strings.Builder
	b.WriteString(title)
	shown := 0
	for i := 0; i < n && shown < limit; i++ {
		l := line(i)
		rest := n - shown - 1
		more := ""
		if rest > 0 {
			more = fmt.Sprintf("\n+%d more", rest)
		}
		if b.Len()+1+len(l)+len(more) > maxSectionChars {
			break
		}
		b.WriteString("\n" + l)
		shown++
	}
	if cut := n - shown; cut > 0 {
		fmt.Fprintf(&b, "\n+%d more", cut)
		return b.String(), cut
	}
	return b.String(), 0
}

// headline is "Livy token audit · 3 expiring · 2 stale", within 150 chars.
// A run that audited nothing says it failed, with its coverage, never "no
// findings"; a scope with no gateway says so plainly.
// A route's report names the route: "Livy token audit · team-data · 2
// expiring"; a route whose slice holds nothing says "nothing here".
func headline(d *notify.Digest) string {
	s, secs, route := d.Snapshot, d.Sections, d.Route
	h := "Livy token audit · "
	if route != "" {
		h += route + " · "
	}
	switch {
	case s.Verdict == audit.VerdictFailed && s.Summary.Gateways > 0:
		h += notify.FailedHeadline(s)
	case s.Summary.Gateways == 0 && d.Routed > 0 && len(secs) == 0:
		// Exclusive routes took every gateway: never "0 gateways found".
		h += fmt.Sprintf("all %s reported to %s", audit.Plural(d.Routed, "gateway"), strings.Join(d.RoutedTo, ", "))
		if n := s.Summary.Errors; n > 0 {
			h += " · " + audit.Plural(n, "listing") + " failed"
		}
	case s.Verdict == audit.VerdictFailed:
		h += notify.FailedHeadline(s)
	case route != "" && s.Summary.Gateways == 0 && s.Summary.Errors == 0:
		h += "nothing here"
	case s.Summary.Gateways == 0 && s.Summary.Errors == 0:
		h += "0 gateways found"
	case len(secs) == 0 && s.Summary.GatewaysFailed+s.Summary.Errors == 0:
		h += "all clear"
	default:
		h += d.Counts
	}
	return truncate(h, maxHeaderChars)
}

// Render renders a destination's digest as a Slack message within Slack's
// limits.
// When the message would be too long, finding lines are dropped (and counted
// in "+N more"), never the counts or the failure section.
func Render(d *notify.Digest, o RenderOptions) Message {
	o.MaxItems = max(o.MaxItems, 1)
	var m Message
	for limit := o.MaxItems; ; limit /= 2 {
		m = render(d, o, limit)
		if textLen(m.Blocks) <= maxTotalChars || limit == 0 {
			return m
		}
	}
}

func render(d *notify.Digest, o RenderOptions, limit int) Message {
	s, secs := d.Snapshot, d.Sections
	m := &message{}
	m.blocks = append(m.blocks, slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, headline(d), true, false)))
	cov := d.CoverageLine
	if d.Route != "" {
		cov += " · route " + escape(d.Route) + ": its slice only"
	}
	if d.Routed > 0 {
		cov += fmt.Sprintf(" · %s in routes of their own (%s)", audit.Plural(d.Routed, "gateway"), escape(strings.Join(d.RoutedTo, ", ")))
	}
	m.context(cov)
	if s.Changes != nil {
		m.list(changesTitle(s.Changes, d.ChangeCounts), len(d.Changes), func(i int) string { return changeLine(d.Changes[i]) }, limit)
	}
	if w := d.ActionsWarnings; len(w) > 0 {
		m.context(":warning: *Actions from Slack not all applied:* " + escape(truncate(strings.Join(w, " · "), 1500)))
	}
	for _, sec := range secs {
		lines := sectionLines(sec, o.Mentions)
		m.list(fmt.Sprintf("*%s* (%s) — %d", ruleTitle(sec.Rule), sec.Severity, len(sec.Items)), lines.n,
			lines.line, limit)
	}
	// Failures, unowned tokens and lapsed suppressions keep at least a few
	// lines even when findings are cut to none: a partial audit must never
	// look like a clean one.
	if fs := d.Failures; len(fs) > 0 {
		m.list(fmt.Sprintf("*:x: Not audited* — %d (their tokens are not in this report)", len(fs)), len(fs),
			func(i int) string { return failureLine(fs[i]) }, max(limit, 3))
	}
	if len(d.Unowned) > 0 {
		title := fmt.Sprintf("*:bust_in_silhouette: No Slack owner* — %d (add them to slack.mentions so they get their tokens by direct message)", len(d.Unowned))
		m.list(title, len(d.Unowned), func(i int) string {
			return fmt.Sprintf("• %s · %s", name(d.Unowned[i].Name), audit.Plural(len(d.Unowned[i].Items), "finding"))
		}, max(limit, 3))
	}
	if d.Owner == nil && len(d.NoOwner) > 0 {
		title := fmt.Sprintf("*:warning: No owner* — %d (nobody who can act was found: hand them over, or delete)", len(d.NoOwner))
		m.list(title, len(d.NoOwner), func(i int) string {
			it := d.NoOwner[i]
			return fmt.Sprintf("• *%s* %s · %s / %s · %s", name(it.Token.Name), code(truncate(it.Token.TokenID, notify.MaxNameChars)), name(notify.GatewayLabel(*it.Gateway)),
				name(notify.WorkspaceLabel(*it.Gateway)), escape(it.Token.Assignee.Why))
		}, max(limit, 3))
	}
	if d.Owner == nil && len(d.Escalations) > 0 {
		title := fmt.Sprintf("*:rotating_light: Escalated* — %d (high or critical, unanswered)", len(d.Escalations))
		m.list(title, len(d.Escalations), func(i int) string {
			it := d.Escalations[i]
			a := it.Token.Assignee
			return fmt.Sprintf("• *%s* %s · escalated to %s (%s)", name(it.Token.Name), code(truncate(it.Token.TokenID, notify.MaxNameChars)), withMentions(a.Names()), withMentions(a.Escalation))
		}, max(limit, 3))
	}
	if ls := d.Lapsed; len(ls) > 0 {
		title := fmt.Sprintf("*:hourglass: %s lapsed* — renew or remove them", pluralVerb(len(ls), "suppression has", "suppressions have"))
		m.list(title, len(ls), func(i int) string {
			l := "• " + escape(notify.SuppressionLabel(ls[i])) + ": " + withMentions(ls[i].Reason)
			switch {
			case ls[i].Ended != "":
				l += " (" + escape(notify.EndedNote(ls[i])) + ")"
			case ls[i].SnoozedBy != "":
				l += " (a snooze from Slack: snooze it again, or act on the token)"
			}
			return l
		}, max(limit, 3))
	}
	if zs := d.Snoozed; len(zs) > 0 {
		m.list(fmt.Sprintf("*:zzz: Snoozed from Slack* — %d (they come back when the snooze ends)", len(zs)), len(zs), func(i int) string {
			return snoozedLine(zs[i].Item, zs[i].Suppressed, o.Mentions)
		}, limit)
	}
	retireBlocks(m, d.Retire, o.Mentions, max(limit, 3))
	if d.Remediation != "" && d.Owner == nil {
		m.context(":chart_with_upwards_trend: " + escape(d.Remediation))
	}
	m.blocks = append(m.blocks, o.Buttons.blocks(s, append(noticed(d.Retire), urgent(secs)...), o.Mentions, maxBlocks-len(m.blocks)-1)...)
	f := footer(s, d.Locations)
	if m.cut > 0 {
		f += " · full lists in the snapshot"
	}
	m.context(f)
	return Message{Text: fallback(d), Blocks: m.blocks, Cut: m.cut}
}

// retireBlocks are the marks for deletion the run made or noticed, the
// tokens it retired, the marks it ended otherwise, and why due tokens
// were not deleted (actions.retire).
func retireBlocks(m *message, rv *notify.RetireView, mentions map[string]string, limit int) {
	if rv == nil {
		return
	}
	looks := map[bool]string{false: "; this run only looks: nothing is marked or deleted", true: ""}[rv.Acted]
	if n := len(rv.Noticed); n > 0 {
		m.list(fmt.Sprintf("*:wastebasket: Scheduled for deletion* — %d (actions.retire%s)", n, looks), n, func(i int) string {
			e := rv.Noticed[i]
			return retireToken(e, mentions) + " · " + escape(string(e.Rule)) + " · *" + escape(e.Notice()) + "*"
		}, limit)
	}
	if n := len(rv.Retired); n > 0 {
		m.list(fmt.Sprintf("*:wastebasket: Retired %s* (deleted on their date; nobody snoozed them or said they own them)", audit.Plural(n, "token")), n, func(i int) string {
			e := rv.Retired[i]
			return retireToken(e, mentions) + " · " + escape(string(e.Rule)) + " · marked " + notify.RetireDate(e.MarkedAt)
		}, limit)
	}
	if n := len(rv.Ended); n > 0 {
		m.list(fmt.Sprintf("*Deletion cancelled* — %d", n), n, func(i int) string {
			return retireToken(rv.Ended[i], mentions) + " · " + withMentions(truncate(rv.Ended[i].EndText(), 300))
		}, limit)
	}
	if rv.Held != "" || len(rv.Errors) > 0 {
		title := ":warning: *Not retired*"
		if rv.Held != "" {
			title += ": " + escape(truncate(rv.Held, 500))
		}
		m.list(title, len(rv.Errors), func(i int) string { return "• " + escape(truncate(rv.Errors[i], 500)) }, limit)
	}
}

// retireToken names a mark's token: as tokenLine does when the token is
// in the report, else by its name, ID and gateway.
func retireToken(e notify.RetireItem, mentions map[string]string) string {
	if e.Token != nil {
		return tokenLine(e.Item, mentions)
	}
	return fmt.Sprintf("• *%s* %s · %s", name(e.Name()), code(truncate(e.TokenID, notify.MaxNameChars)), name(notify.GatewayLabel(*e.Gateway)))
}

// noticed are the items of the marks noticed in this run: their buttons
// come first (a snooze or "I own this" cancels the mark).
func noticed(rv *notify.RetireView) []notify.Item {
	if rv == nil || !rv.Acted {
		return nil
	}
	var out []notify.Item
	for _, e := range rv.Noticed {
		if e.Token != nil && e.Finding != nil {
			out = append(out, e.Item)
		}
	}
	return out
}

// message is a message being rendered: its blocks, and how many lines
// were cut from them.
type message struct {
	blocks []slackgo.Block
	cut    int
}

func mrkdwn(t string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, t, false, false)
}

func (m *message) context(t string) {
	m.blocks = append(m.blocks, slackgo.NewContextBlock("", mrkdwn(t)))
}

// list adds a section of a titled list (see list).
func (m *message) list(title string, n int, line func(int) string, limit int) {
	text, cut := list(title, n, line, limit)
	m.cut += cut
	m.blocks = append(m.blocks, slackgo.NewSectionBlock(mrkdwn(text), nil, nil))
}

// changesTitle says what changed since the previous audit, in counts.
func changesTitle(c *audit.Changes, counts string) string {
	var lines []string
	if c.Overdue != nil {
		lines = append(lines, ":warning: *"+escape(c.Overdue.Message)+"*")
	}
	switch {
	case c.Previous != nil && c.Note != "":
		lines = append(lines, "*Since "+notify.AuditedAt(c.Previous.AuditedAt)+", "+escape(c.Note)+":* "+counts)
	case c.Previous != nil:
		lines = append(lines, "*Since "+notify.AuditedAt(c.Previous.AuditedAt)+":* "+counts)
	case c.Note != "":
		lines = append(lines, "*Changes:* "+escape(truncate(c.Note, 300)))
	case c.PreviousError != "":
		lines = append(lines, "*Changes:* previous snapshot unusable ("+escape(truncate(c.PreviousError, 200))+"); compared as a first run")
	default:
		lines = append(lines, "*Changes:* first audit here (no previous snapshot to compare with)")
	}
	return strings.Join(lines, "\n")
}

// footer is "Report: … · Snapshot: … · run `…` · livy-token-audit v…".
func footer(s *audit.Snapshot, loc delivery.Locations) string {
	f := ""
	if loc.Page != "" {
		f = "Report: " + linkTo(loc.Page) + " · "
	}
	f += "Snapshot: " + linkTo(loc.Snapshot) + " · run " + code(s.RunID)
	if s.Tool.Version != "" {
		f += " · " + escape(s.Tool.Name+" "+s.Tool.Version)
	}
	return f
}

// changeLine renders one change: "• new: *name* `id` · stale · gateway".
func changeLine(nc notify.NamedChange) string {
	ch := nc.Change
	rule := stageOf(string(ch.Rule), ch.Stage)
	if ch.From != "" {
		rule = stageOf(string(ch.From), ch.FromStage) + " → " + rule
	}
	if rule == "" {
		rule = "no findings"
	}
	l := fmt.Sprintf("• %s: *%s* %s · %s · %s", nc.Kind, name(ch.Name), code(truncate(ch.TokenID, notify.MaxNameChars)), escape(rule), name(nc.Gateway))
	if ch.Suppressed != "" {
		l += " · suppressed: " + withMentions(truncate(ch.Suppressed, 200))
	}
	return l
}

// mentionRe is a user mention as escape leaves it.
var mentionRe = regexp.MustCompile(`&lt;@([UW][A-Z0-9]{2,20})&gt;`)

// withMentions escapes s but keeps its user mentions (<@U…>), as the
// reasons of snoozes from Slack carry them; nothing else of s can mention
// or link.
func withMentions(s string) string {
	return mentionRe.ReplaceAllString(escape(s), "<@$1>")
}

// stageOf is "expiring (7d)" for a finding in a stage.
func stageOf(rule, stage string) string {
	if stage == "" {
		return rule
	}
	return rule + " (" + stage + ")"
}

func pluralVerb(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func linkTo(loc string) string {
	if loc == "" {
		return "not written"
	}
	if strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://") {
		// A URL's own characters are kept; only the label is escaped.
		label := loc
		if i := strings.Index(label, "?"); i >= 0 {
			label = label[:i]
		}
		return "<" + strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C").Replace(loc) + "|" + escape(truncate(label, 120)) + ">"
	}
	return code(loc)
}

// fallback is the notification text: the counts, for screen readers and
// push notifications. Slack reads it as mrkdwn too: it is escaped.
func fallback(d *notify.Digest) string {
	return escape(fallbackText(d))
}

func fallbackText(d *notify.Digest) string {
	s := d.Snapshot
	if s.Verdict == audit.VerdictFailed {
		return "Livy token audit: " + notify.FailedHeadline(s)
	}
	t := "Livy token audit: " + strings.ReplaceAll(d.Counts, " · ", ", ")
	t += fmt.Sprintf("; %d/%d gateways audited", s.Summary.Gateways-s.Summary.GatewaysFailed, s.Summary.Gateways)
	if n := s.Summary.GatewaysFailed + s.Summary.Errors; n > 0 {
		t += fmt.Sprintf(", %d not audited", n)
	}
	return t
}

// textLen counts the text characters of the blocks.
func textLen(blocks []slackgo.Block) int {
	n := 0
	for _, t := range blockTexts(blocks) {
		n += utf8.RuneCountInString(t)
	}
	return n
}

// blockTexts returns the texts of the blocks this package renders.
func blockTexts(blocks []slackgo.Block) []string {
	var out []string
	for _, b := range blocks {
		switch b := b.(type) {
		case *slackgo.HeaderBlock:
			out = append(out, b.Text.Text)
		case *slackgo.SectionBlock:
			out = append(out, b.Text.Text)
		case *slackgo.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slackgo.TextBlockObject); ok {
					out = append(out, t.Text)
				}
			}
		case *slackgo.ActionBlock:
			var labels []string
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slackgo.ButtonBlockElement); ok {
					labels = append(labels, "["+btn.Text.Text+"]")
				}
			}
			out = append(out, strings.Join(labels, " "))
		}
	}
	return out
}

// Title is the message's header, or its notification text.
func (m Message) Title() string {
	for _, b := range m.Blocks {
		if h, ok := b.(*slackgo.HeaderBlock); ok && h.Text != nil {
			return h.Text.Text
		}
	}
	return m.Text
}

// PlainText renders the message for a terminal: the texts of its blocks.
func (m Message) PlainText() string {
	return strings.Join(blockTexts(m.Blocks), "\n\n") + "\n"
}

// RenderThread renders the full lists of findings and failures as thread
// replies, each within Slack's limits. It is used when RenderSlack had to
// cut lines; at most maxThreadReplies messages are returned.
func RenderThread(d *notify.Digest, o RenderOptions) []Message {
	s := d.Snapshot
	var lines []string
	for _, sec := range d.Sections {
		lines = append(lines, fmt.Sprintf("*%s* (%s) — %d", ruleTitle(sec.Rule), sec.Severity, len(sec.Items)))
		sl := sectionLines(sec, o.Mentions)
		for i := range sl.n {
			lines = append(lines, sl.line(i))
		}
	}
	if fs := d.Failures; len(fs) > 0 {
		lines = append(lines, fmt.Sprintf("*:x: Not audited* — %d", len(fs)))
		for _, f := range fs {
			lines = append(lines, failureLine(f))
		}
	}
	var msgs []Message
	var blocks []slackgo.Block
	var sec strings.Builder
	total := 0
	flushSection := func() {
		if sec.Len() > 0 {
			blocks = append(blocks, slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, sec.String(), false, false), nil, nil))
			sec.Reset()
		}
	}
	flushMessage := func() {
		flushSection()
		if len(blocks) > 0 {
			msgs = append(msgs, Message{Text: fmt.Sprintf("Livy token audit %s: full lists (part %d)", escape(s.RunID), len(msgs)+1), Blocks: blocks})
			blocks, total = nil, 0
		}
	}
	for _, l := range lines {
		l = truncate(l, maxSectionChars-100)
		if total+len(l)+1 > maxTotalChars || len(blocks) >= maxBlocks-1 {
			flushMessage()
		}
		if sec.Len()+len(l)+1 > maxSectionChars {
			flushSection()
		}
		if sec.Len() > 0 {
			sec.WriteString("\n")
		}
		sec.WriteString(l)
		total += utf8.RuneCountInString(l) + 1
	}
	flushMessage()
	if len(msgs) > maxThreadReplies {
		msgs = msgs[:maxThreadReplies]
		last := &msgs[maxThreadReplies-1]
		last.Blocks = append(last.Blocks, slackgo.NewContextBlock("", slackgo.NewTextBlockObject(slackgo.MarkdownType,
			"The lists go on: see the snapshot for every finding.", false, false)))
	}
	return msgs
}

// RenderFailure renders the short notice of a run that could not do its job.
func RenderFailure(f delivery.FailureNotice) Message {
	ctx := "run " + code(f.RunID) + " · audit time " + notify.AuditedAt(f.AuditedAt)
	if f.Trigger.Kind != "" {
		ctx += " · " + escape(truncate(f.Trigger.Kind, 20))
	}
	return Message{
		Text: "Livy token audit failed: " + escape(truncate(f.Cause, 300)),
		Blocks: []slackgo.Block{
			slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, "Livy token audit · audit failed", true, false)),
			slackgo.NewSectionBlock(mrkdwn("*The audit could not do its job:* "+escape(truncate(f.Cause, 1500))), nil, nil),
			slackgo.NewContextBlock("", mrkdwn(ctx)),
		},
	}
}
