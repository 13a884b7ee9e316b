package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
)

// A snooze asks for its reason in a small modal when the endpoint has the
// bot's token (views.open needs one): the click opens it, and its
// submission — a view_submission, verified like any request — snoozes with
// the reason. Without the bot, or when the modal cannot be opened in time,
// the click snoozes at once, without a reason.

// Bot is the part of the bot's Slack client the modal needs: opening it,
// and reading back the clicked message (conversations.history) so that its
// buttons can be replaced once the modal is submitted.
type Bot interface {
	OpenViewContext(ctx context.Context, triggerID string, view slackgo.ModalViewRequest) (*slackgo.ViewResponse, error)
	GetConversationHistoryContext(ctx context.Context, params *slackgo.GetConversationHistoryParameters) (*slackgo.GetConversationHistoryResponse, error)
}

// SnoozeCallbackID names the snooze modal.
const SnoozeCallbackID = actionref.ActionIDPrefix + "snooze"

// The modal's reason input, and the most of it kept.
const (
	reasonBlock   = "reason"
	reasonAction  = "reason"
	MaxReasonChar = 200
)

// modalState is the modal's private_metadata: the clicked button's value
// (signed), and where the click came from.
type modalState struct {
	Value       string `json:"v"`
	ResponseURL string `json:"u"`
	Channel     string `json:"c"`
	MessageTS   string `json:"t"`
	BlockID     string `json:"b"`
}

// openSnooze opens the snooze modal for a click; false when it could not
// (the click then snoozes without a reason).
func (h *Handler) openSnooze(ctx context.Context, cb *slackgo.InteractionCallback, verb string, ref actionref.Ref) bool {
	if h.Bot == nil || cb.TriggerID == "" {
		return false
	}
	ba := cb.ActionCallback.BlockActions[0]
	meta, _ := json.Marshal(modalState{Value: ba.Value, ResponseURL: cb.ResponseURL, Channel: cb.Container.ChannelID, MessageTS: cb.Container.MessageTs, BlockID: ba.BlockID})
	if len(meta) > 3000 {
		return false
	}
	plain := func(s string) *slackgo.TextBlockObject {
		return slackgo.NewTextBlockObject(slackgo.PlainTextType, s, false, false)
	}
	input := slackgo.NewPlainTextInputBlockElement(plain("e.g. unused on purpose until March"), reasonAction)
	input.MaxLength = MaxReasonChar
	reason := slackgo.NewInputBlock(reasonBlock, plain("Why (optional)"), nil, input)
	reason.Optional = true
	what := fmt.Sprintf("Snooze the *%s* finding of *%s* `%s` for %s. It comes back in the report when the snooze ends.",
		ref.Rule, escape(audit.Truncate(ref.Name, 64)), escape(audit.Truncate(ref.Token, 64)), audit.FormatDuration(actionref.SnoozeFor(verb)))
	view := slackgo.ModalViewRequest{
		Type: slackgo.VTModal, Title: plain("Snooze a finding"), Submit: plain("Snooze"), Close: plain("Cancel"),
		CallbackID: SnoozeCallbackID, PrivateMetadata: string(meta),
		Blocks: slackgo.Blocks{BlockSet: []slackgo.Block{slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, what, false, false), nil, nil), reason}},
	}
	// The trigger expires 3 seconds after the click.
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := h.Bot.OpenViewContext(octx, cb.TriggerID, view); err != nil {
		h.logger().Warn("snooze modal not opened; snoozing without a reason", "error", err.Error())
		return false
	}
	return true
}

// submitSnooze serves the snooze modal's submission: the same checks as a
// click (the value is ours, the user may), claimed once per view, then the
// snooze with its reason; the clicked message is read back and its buttons
// replaced.
func (h *Handler) submitSnooze(ctx context.Context, cb *slackgo.InteractionCallback) {
	var st modalState
	user := cb.User.ID
	if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &st); err != nil {
		h.logger().Warn("snooze modal refused: its metadata is not ours")
		return
	}
	verb, ref, err := actionref.NewSigner(h.SigningSecret).Parse(st.Value)
	rec := Record{At: h.now().UTC(), By: user, ByName: actionref.SlackName(cb.User.Name), Verb: verb, Token: ref.Key(), Name: ref.Name}
	if err != nil || actionref.SnoozeFor(verb) == 0 {
		h.logger().Warn("snooze modal refused: not one of our snoozes")
		return
	}
	// The message the click came from, as tell needs it.
	msg := &slackgo.InteractionCallback{ResponseURL: st.ResponseURL, User: cb.User}
	msg.ActionCallback.BlockActions = []*slackgo.BlockAction{{BlockID: st.BlockID}}
	if claimed, err := h.claim(ctx, "view|"+cb.View.ID+"|"+user, rec); err != nil {
		h.tell(ctx, msg, "Not done: the action could not be claimed (the store did not answer): snooze again", nil)
		return
	} else if !claimed {
		return // Slack's retry of the same submission
	}
	if why := h.Policy.Allowed(verb, user, ref); why != "" {
		rec.Outcome, rec.Detail = "refused", why
		h.finish(ctx, msg, rec, nil)
		return
	}
	reason := cleanReason(cb.View.State)
	until := h.now().UTC().Add(actionref.SnoozeFor(verb))
	rec.Outcome, rec.Detail = "done", "until "+until.Format(time.DateOnly)
	if reason != "" {
		rec.Detail += ", " + reason
	}
	h.readBack(ctx, msg, st)
	h.finish(ctx, msg, rec, func(s *State) {
		s.Snoozes = append(s.Snoozes, Snooze{Ref: ref, Until: until, Reason: reason, By: user, ByName: rec.ByName, At: rec.At})
	})
}

// readBack reads the clicked message with the bot, so that tell can
// replace its buttons; without it, tell adds what was done to nothing and
// posts a note instead.
func (h *Handler) readBack(ctx context.Context, msg *slackgo.InteractionCallback, st modalState) {
	if st.Channel == "" || st.MessageTS == "" {
		return
	}
	res, err := h.Bot.GetConversationHistoryContext(ctx, &slackgo.GetConversationHistoryParameters{ChannelID: st.Channel, Latest: st.MessageTS, Inclusive: true, Limit: 1})
	if err != nil || len(res.Messages) != 1 || res.Messages[0].Timestamp != st.MessageTS {
		h.logger().Warn("the snoozed message could not be read back; the clicker gets a note instead", "error", fmt.Sprint(err))
		return
	}
	msg.Message = res.Messages[0]
}

// cleanReason is the modal's reason, cleaned (CleanReason).
func cleanReason(st *slackgo.ViewState) string {
	if st == nil {
		return ""
	}
	return CleanReason(st.Values[reasonBlock][reasonAction].Value)
}

// CleanReason is a snooze's reason as it is kept and shown: on one line,
// without control, bidi or zero-width characters (which reorder or hide
// text) and angle brackets (it cannot mention or link), with what looks
// like a URL or a domain defanged (hxxps[:]//example[.]com: Slack would
// make it a live link), within MaxReasonChar characters. A reason read
// back from the record is cleaned again: the record is input.
func CleanReason(v string) string {
	v = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '<', r == '>':
			return ' '
		case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return -1
		}
		return r
	}, v)
	words := strings.Fields(v)
	for i, w := range words {
		if linkLike.MatchString(w) {
			w = strings.NewReplacer("://", "[:]//", ".", "[.]").Replace(w)
			words[i] = strings.Replace(strings.Replace(w, "http", "hxxp", 1), "HTTP", "HXXP", 1)
		}
	}
	return audit.Truncate(strings.Join(words, " "), MaxReasonChar)
}

// linkLike is a word Slack would turn into a link: one with a scheme, or
// a name with a dot before two letters (example.com, www.x.io).
var linkLike = regexp.MustCompile(`(?i)://|[a-z0-9-]\.[a-z]{2,}`)
