package actions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
)

// Path is where Slack sends the actions (the app's Request URL ends with
// it).
const Path = "/slack/actions"

// MaxBody bounds a request's body; a larger one is refused before it is
// parsed.
const MaxBody = 64 << 10

// maxFuture is how far ahead of the clock an entry of the record may be
// dated (the clocks of two machines).
const maxFuture = 5 * time.Minute

// check says why an entry of the record — by did verb to r at at — does
// not hold under the rules ("" when it does): the record is input, and
// what it says is checked again when it is read.
func check(p actionref.Policy, verb, by string, r actionref.Ref, at, now time.Time) string {
	what := fmt.Sprintf("%s of %s", map[bool]string{true: "a snooze", false: "an acknowledgement"}[verb != actionref.Ack], audit.Truncate(r.Key(), 200))
	switch {
	case !actionref.SlackID(by):
		return fmt.Sprintf("%s was ignored: by %q, which is not a Slack user ID", what, audit.Truncate(by, 40))
	case r.Token == "" || r.Gateway == "" || r.Region == "" || r.Workspace == "":
		return what + " was ignored: it does not name its token exactly"
	case at.IsZero() || at.After(now.Add(maxFuture)):
		return fmt.Sprintf("%s by <@%s> was ignored: dated %s, ahead of the clock", what, by, at.UTC().Format(time.RFC3339))
	}
	if verb != actionref.Ack {
		verb = actionref.Snooze7d // who may snooze; how long is checkSnooze's
	}
	if why := p.Allowed(verb, by, r); why != "" {
		return fmt.Sprintf("%s by <@%s> was ignored: %s", what, by, why)
	}
	return ""
}

// checkSnooze is check for a snooze, which is also capped at
// actions.maxSnooze after it was made: it returns the snooze as it holds,
// and why it does not (or what was capped).
func checkSnooze(p actionref.Policy, z Snooze, now time.Time) (Snooze, string, bool) {
	if why := check(p, actionref.Snooze7d, z.By, z.Ref, z.At, now); why != "" {
		return z, why, false
	}
	z.Reason = CleanReason(z.Reason)
	if end := z.At.Add(p.MaxSnooze); z.Until.After(end) {
		note := fmt.Sprintf("a snooze of %s by <@%s> until %s was capped at %s (actions.maxSnooze %s after it was made)", audit.Truncate(z.Key(), 200), z.By,
			z.Until.UTC().Format(time.DateOnly), end.UTC().Format(time.DateOnly), audit.FormatDuration(p.MaxSnooze))
		z.Until = end
		return z, note, true
	}
	return z, "", true
}

// Deleter deletes tokens through a role of its own.
type Deleter interface {
	// Token re-reads the token of r (nil when it is gone).
	Token(ctx context.Context, r actionref.Ref) (*audit.Token, error)
	// Delete deletes it.
	Delete(ctx context.Context, r actionref.Ref) error
}

// Handler serves the actions Slack sends.
type Handler struct {
	// SigningSecret is the Slack app's (SLACK_SIGNING_SECRET).
	SigningSecret string
	Policy        actionref.Policy
	Store         Store
	// Deleter is nil when deletion is off.
	Deleter Deleter
	// Bot, when set (SLACK_BOT_TOKEN), asks a snooze's reason in a modal.
	Bot Bot
	// HTTPClient posts to response_url (it must refuse redirects).
	HTTPClient *http.Client
	// ResponseHosts are the hosts response_url may name besides Slack's
	// (loopback stand-ins in tests).
	ResponseHosts []string
	// Async answers Slack as soon as a request is verified and finishes
	// the action in the background, telling the clicker through
	// response_url (a long-running server: the demo's -actions). In a
	// Function Compute invocation, which is frozen once it answers, the
	// action is done before the answer, within Budget.
	Async bool
	// Budget bounds the work of one action, so that Slack has its answer
	// within its 3 seconds (0: DefaultBudget).
	Budget time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	wg sync.WaitGroup
}

// DefaultBudget leaves Slack's 3 seconds room for the round trips.
const DefaultBudget = 2500 * time.Millisecond

// Wait waits for the actions finishing in the background (Async).
func (h *Handler) Wait() { h.wg.Wait() }

// Request is one HTTP request, as an FC HTTP trigger or a server hands it
// over.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Response is the answer to it.
type Response struct {
	Status int
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// Serve serves one request: only a POST to Path, within MaxBody, signed
// with the signing secret less than 5 minutes ago, carrying a block action
// of one of our buttons. A request that fails verification gets 401 with no
// detail and changes nothing (it is logged without its body). Everything
// else gets 200 — Slack shows an error otherwise — and the outcome goes to
// the clicker through response_url.
func (h *Handler) Serve(ctx context.Context, req Request) Response {
	switch {
	case req.Path != Path:
		return Response{Status: http.StatusNotFound}
	case req.Method != http.MethodPost:
		return Response{Status: http.StatusMethodNotAllowed}
	case len(req.Body) > MaxBody:
		return Response{Status: http.StatusRequestEntityTooLarge}
	}
	sv, err := slackgo.NewSecretsVerifier(req.Header, h.SigningSecret)
	if err == nil {
		_, _ = sv.Write(req.Body)
		err = sv.Ensure()
	}
	if err != nil {
		h.logger().Warn("action refused: not signed by Slack", "reason", verifyReason(err))
		return Response{Status: http.StatusUnauthorized}
	}
	form, err := url.ParseQuery(string(req.Body))
	var cb slackgo.InteractionCallback
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &cb)
	}
	var do func(context.Context, *slackgo.InteractionCallback)
	switch {
	case err != nil:
	case cb.Type == slackgo.InteractionTypeBlockActions && len(cb.ActionCallback.BlockActions) == 1 &&
		strings.HasPrefix(cb.ActionCallback.BlockActions[0].ActionID, actionref.ActionIDPrefix):
		do = h.act
	case cb.Type == slackgo.InteractionTypeViewSubmission && cb.View.CallbackID == SnoozeCallbackID:
		do = h.submitSnooze
	}
	if do == nil {
		h.logger().Warn("action refused: not one of our buttons")
		return Response{Status: http.StatusBadRequest}
	}
	if h.Async {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			do(actx, &cb)
		}()
		return Response{Status: http.StatusOK}
	}
	budget := h.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	actx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	do(actx, &cb)
	return Response{Status: http.StatusOK} // an empty 200 closes a modal
}

// verifyReason says why a request failed verification, in words of our
// own: slack-go's errors may echo the timestamp header, at any length.
func verifyReason(err error) string {
	switch {
	case errors.Is(err, slackgo.ErrMissingHeaders):
		return "no signature or timestamp header"
	case errors.Is(err, slackgo.ErrExpiredTimestamp):
		return "the timestamp is more than 5 minutes off"
	case errors.Is(err, slackgo.ErrInvalidSignature):
		return "the signature does not match"
	}
	return "the signature or the timestamp is malformed"
}

// act checks and does one action, and tells the clicker.
func (h *Handler) act(ctx context.Context, cb *slackgo.InteractionCallback) {
	ba := cb.ActionCallback.BlockActions[0]
	user := cb.User.ID
	verb, ref, err := actionref.NewSigner(h.SigningSecret).Parse(ba.Value)
	name := actionref.SlackName(cb.User.Name)
	rec := Record{At: h.now().UTC(), By: user, ByName: name, Verb: verb, Token: ref.Key(), Name: ref.Name}
	if err != nil {
		rec.Verb, rec.Token, rec.Outcome, rec.Detail = "?", "?", "refused", err.Error()
		h.finish(ctx, cb, rec, nil)
		return
	}
	// A click is done once: a double click and Slack's retry of the same
	// action claim one key.
	if claimed, err := h.claim(ctx, ba.ActionTs+"|"+user+"|"+ba.Value, rec); err != nil {
		h.tell(ctx, cb, "Not done: the action could not be claimed (the store did not answer): click again", nil)
		return
	} else if !claimed {
		h.tell(ctx, cb, "That click was already handled (Slack sent it again, or it was replayed): nothing more was done.", nil)
		return
	}
	if why := h.Policy.Allowed(verb, user, ref); why != "" {
		rec.Outcome, rec.Detail = "refused", why
		h.finish(ctx, cb, rec, nil)
		return
	}
	var change func(*State)
	switch {
	case actionref.SnoozeFor(verb) > 0 && h.openSnooze(ctx, cb, verb, ref):
		h.logger().Info("snooze modal opened", "verb", verb, "token", rec.Token, "by", user)
		return // its submission snoozes
	case actionref.SnoozeFor(verb) > 0:
		until := h.now().UTC().Add(actionref.SnoozeFor(verb))
		change = func(s *State) {
			s.Snoozes = append(s.Snoozes, Snooze{Ref: ref, Until: until, By: user, ByName: name, At: rec.At})
		}
		rec.Detail = "until " + until.Format(time.DateOnly)
	case verb == actionref.Ack:
		change = func(s *State) { s.Acks = append(s.Acks, Acknowledgement{Ref: ref, By: user, ByName: name, At: rec.At}) }
	default:
		if _, err := Read(ctx, h.Store); errors.As(err, new(*NewerError)) {
			rec.Outcome, rec.Detail = "refused", notRecorded(err)
			h.finish(ctx, cb, rec, nil)
			return
		}
		rec.Detail, err = h.delete(ctx, ref)
		var r refusal
		switch {
		case errors.As(err, &r):
			rec.Outcome, rec.Detail = "refused", err.Error()
		case err != nil:
			rec.Outcome, rec.Detail = "failed", err.Error()
		}
		if err != nil {
			h.finish(ctx, cb, rec, nil)
			return
		}
	}
	rec.Outcome = "done"
	h.finish(ctx, cb, rec, change)
}

// refusal is a delete refused (a failure is any other error).
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

// claim claims an action once under key (a click: its action_ts, user and
// value; a modal's submission: its view and user): false when it was
// claimed before. A claim that could not be written is logged.
func (h *Handler) claim(ctx context.Context, key string, rec Record) (bool, error) {
	sum := sha256.Sum256([]byte(key))
	err := h.Store.Create(ctx, "actions/claims/"+hex.EncodeToString(sum[:16])+".json", mustJSON(rec))
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil:
		h.logger().Error("action not claimed", "verb", rec.Verb, "token", rec.Token, "by", rec.By, "error", err)
		return false, err
	}
	return true, nil
}

// delete re-reads the token and deletes it when it still has the finding
// the report showed; it returns what it did, or why it did not: a refusal,
// or the failure of a call.
func (h *Handler) delete(ctx context.Context, r actionref.Ref) (string, error) {
	if h.Deleter == nil {
		return "", refusal{"deleting from Slack is off (actions.delete.enabled)"}
	}
	t, err := h.Deleter.Token(ctx, r)
	switch {
	case errors.Is(err, actionref.ErrNoDeleteRole):
		return "", refusal{err.Error()}
	case err != nil:
		return "", fmt.Errorf("the token could not be read again (nothing was deleted; click again): %w", err)
	case t == nil:
		return "it was already gone", nil
	case t.ExpireTime.UnixMilli() != r.Expire && !(t.ExpireTime.IsZero() && r.Expire == 0):
		return "", refusal{"the token changed since the report (its expiry is not the one shown): not deleted"}
	}
	still := slices.ContainsFunc(audit.ClassifyIn(*t, r.GatewayRef(), h.Policy.Rules, h.Policy.Profiles, h.now()), func(f audit.Finding) bool { return f.Rule == r.Rule })
	if !still {
		return "", refusal{fmt.Sprintf("the token is no longer %s: not deleted", r.Rule)}
	}
	if err := h.Deleter.Delete(ctx, r); err != nil {
		return "", fmt.Errorf("the delete failed (click again: a token already gone counts as deleted): %w", err)
	}
	return "deleted", nil
}

// finish records the action (with change, when it was done) and tells the
// clicker what became of it.
func (h *Handler) finish(ctx context.Context, cb *slackgo.InteractionCallback, rec Record, change func(*State)) {
	// The record is written even when the action's budget ran out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	head, err := Update(rctx, h.Store, h.Policy, h.now(), h.logger(), func(s *State) {
		if change != nil {
			change(s)
		}
		s.Recent = append(s.Recent, rec)
	})
	if err != nil {
		h.logger().Error("action not recorded", "verb", rec.Verb, "token", rec.Token, "by", rec.By, "error", err)
		if rec.Outcome == "done" && change != nil {
			h.tell(ctx, cb, "Not done: "+notRecorded(err), nil)
			return
		}
	}
	note := ""
	if head != nil && len(head.Skipped) > 0 {
		note = skippedNote
		h.logger().Warn("the record's newest state could not be used; recorded on the last usable one", "skipped", head.Skipped)
	}
	h.logger().Info("action", "verb", rec.Verb, "token", rec.Token, "by", rec.By, "outcome", rec.Outcome, "detail", rec.Detail)
	if rec.Outcome != "done" {
		h.tell(ctx, cb, "Not done: "+rec.Detail+note, nil)
		return
	}
	rec.Detail += note
	h.tell(ctx, cb, "", &rec)
}

// skippedNote tells a clicker that the record's head could not be used.
const skippedNote = " (note: the newest state of the record of actions could not be read, so this was recorded on the last one that could; " +
	"what only that state held is not applied: the next audit's report says what)"

// notRecorded says, in plain words, why an action could not be recorded:
// the clicker never sees a store's error.
func notRecorded(err error) string {
	var ne *NewerError
	if errors.As(err, &ne) {
		return "the record of actions was written by a newer release of livy-token-audit (" + ne.Why + "); this one does not write over it: upgrade the function, then click again"
	}
	return "the action could not be recorded (the store did not answer): click again"
}

// tell answers the clicker through response_url: an ephemeral note, or —
// for an action done — the message with the token's buttons replaced by
// what was done and by whom.
func (h *Handler) tell(ctx context.Context, cb *slackgo.InteractionCallback, note string, done *Record) {
	if !h.responseURLAllowed(cb.ResponseURL) {
		h.logger().Warn("response_url refused: not Slack's", "host", hostOf(cb.ResponseURL))
		return
	}
	if done != nil && len(cb.Message.Blocks.BlockSet) == 0 {
		// The message is not at hand (a modal's submission that could not
		// read it back): a note, never a message replaced by one line.
		note, done = doneText(*done), nil
	}
	var body any = map[string]any{"response_type": "ephemeral", "replace_original": false, "text": note}
	if done != nil {
		body = map[string]any{"replace_original": true, "blocks": replaced(cb, *done), "text": cb.Message.Text}
	}
	b, _ := json.Marshal(body)
	// The answer is told even when the action's budget ran out:
	// response_url takes posts for 30 minutes.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.ResponseURL, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.HTTPClient.Do(req)
	if err != nil {
		// The URL lets anyone post into the channel for 30 minutes: it is
		// never logged, only its host.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		h.logger().Warn("response_url post failed", "host", hostOf(cb.ResponseURL), "error", redactURL(err.Error(), cb.ResponseURL))
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		h.logger().Warn("response_url post refused", "host", hostOf(cb.ResponseURL), "status", resp.StatusCode)
	}
}

// replaced is the message's blocks with the acted-on token's buttons
// replaced by what was done, and by whom.
func replaced(cb *slackgo.InteractionCallback, rec Record) []slackgo.Block {
	blocks := slices.Clone(cb.Message.Blocks.BlockSet)
	done := slackgo.NewContextBlock("", slackgo.NewTextBlockObject(slackgo.MarkdownType, doneText(rec), false, false))
	for i, b := range blocks {
		if b.ID() == cb.ActionCallback.BlockActions[0].BlockID {
			blocks[i] = done
			return blocks
		}
	}
	return append(blocks, done)
}

// doneText says what was done, and by whom: ":white_check_mark:
// nightly-etl snoozed by <@U…> · until 2026-12-27, reason".
func doneText(rec Record) string {
	what := map[string]string{actionref.Snooze7d: "snoozed", actionref.Snooze30d: "snoozed", actionref.Snooze90d: "snoozed", actionref.Ack: "acknowledged", actionref.Delete: "deleted"}[rec.Verb]
	text := fmt.Sprintf(":white_check_mark: %s %s by <@%s>", escape(rec.Name), what, rec.By)
	if rec.Detail != "" && rec.Detail != "deleted" {
		text += " · " + escape(rec.Detail)
	}
	return text
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// responseURLAllowed keeps response_url to Slack's hosts (https), or the
// configured stand-ins: the handler posts nowhere else.
func (h *Handler) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	if slices.Contains(h.ResponseHosts, u.Host) {
		return true
	}
	return u.Scheme == "https" && (u.Hostname() == "hooks.slack.com" || strings.HasSuffix(u.Hostname(), ".slack.com"))
}

// redactURL is msg without the URL raw, or its path.
func redactURL(msg, raw string) string {
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, "[response_url]")
	if u, err := url.Parse(raw); err == nil && len(u.Path) > 1 {
		msg = strings.ReplaceAll(msg, u.Path, "/[redacted]")
	}
	return msg
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
