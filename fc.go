package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fc/messages"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/preflight"
	auditrun "livy-token-audit/audit/run"
)

// serveFC runs the Function Compute handler loop; it never returns.
func serveFC(getenv func(string) string, stderr io.Writer) {
	h := newFCHandler(getenv, stderr)
	fc.Start(h.handle)
}

// fcHandler serves timer and manual invocations. The config is loaded once
// per instance (cold start); a bad config fails every invocation with the
// same error.
type fcHandler struct {
	cfg    *config.Config
	cfgErr error
	getenv func(string) string
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	noticed map[string]bool // run ids whose bad-config notice was posted
}

func newFCHandler(getenv func(string) string, stderr io.Writer) *fcHandler {
	h := &fcHandler{getenv: getenv, log: newLogger(stderr, true), now: time.Now, noticed: map[string]bool{}}
	path := getenv("AUDIT_CONFIG")
	if path == "" {
		path = "audit.yaml"
		if exe, err := os.Executable(); err == nil {
			path = filepath.Join(filepath.Dir(exe), "audit.yaml")
		}
	}
	h.cfg, h.cfgErr = config.Load(path)
	if h.cfgErr != nil {
		h.log.Error("config refused; every invocation will fail until it is fixed", "config", path, "error", h.cfgErr)
	}
	return h
}

// fcResponse is the handler's answer (a contract: people's scripts read it).
type fcResponse struct {
	RunID     string        `json:"runId"`
	AuditedAt time.Time     `json:"auditedAt"`
	Verdict   audit.Verdict `json:"verdict"`
	Snapshot  string        `json:"snapshot"`
	// Page is where the run's report page is (absent when none was
	// written).
	Page     string        `json:"page,omitempty"`
	Summary  audit.Summary `json:"summary"`
	Notified bool          `json:"notified"`
	Partial  bool          `json:"partial"`
	DryRun   bool          `json:"dryRun,omitempty"`
	Reused   bool          `json:"reused,omitempty"`
	// Deliveries says what became of each destination's message.
	Deliveries []delivery.Result `json:"deliveries,omitempty"`
	// BaselineHeld and HistoryHeld say why latest.json and the baseline,
	// or history.json, were not moved to this run.
	BaselineHeld string `json:"baselineHeld,omitempty"`
	HistoryHeld  string `json:"historyHeld,omitempty"`
	// MetricsSent says the run's figures were reported (CloudMonitor);
	// MetricsError why they were not (the run is not failed for it).
	MetricsSent  bool   `json:"metricsSent,omitempty"`
	MetricsError string `json:"metricsError,omitempty"`
	// ActionsWarnings say what of the record of actions from Slack could
	// not be applied (the snapshot's actionsWarnings).
	ActionsWarnings []string `json:"actionsWarnings,omitempty"`
	// NotifySkipped says why nothing was posted, when nothing was ("no
	// Slack destination configured", "nothing changed …").
	NotifySkipped string `json:"notifySkipped,omitempty"`
	// RetireUntold name the tokens ("name (tokenId)") whose notice of
	// deletion reached no destination: the next run tells it again, and
	// their deletion waits for it.
	RetireUntold []string `json:"retireUntold,omitempty"`
}

// invocation is a decoded event.
type invocation struct {
	kind        string
	name        string
	triggerTime *time.Time
	now         time.Time
	opts        manualEvent
}

// manualEvent is what a manual invocation (or a timer's payload) may say.
// Every field is optional.
type manualEvent struct {
	DryRun     *bool          `json:"dryRun"`
	Notify     *bool          `json:"notify"`
	Accounts   []string       `json:"accounts"`
	Regions    []string       `json:"regions"`
	Workspaces []string       `json:"workspaces"`
	Gateways   []eventGateway `json:"gateways"`
	Now        *string        `json:"now"`
	// Preflight runs the preflight instead of an audit (docs/deploy.md);
	// PreflightPost lets it post one short message to each Slack webhook.
	Preflight     *bool `json:"preflight"`
	PreflightPost *bool `json:"preflightPost"`
}

type eventGateway struct {
	Account   string `json:"account"`
	Region    string `json:"region"`
	Workspace string `json:"workspace"`
	Gateway   string `json:"gateway"`
}

type timerEvent struct {
	TriggerTime string  `json:"triggerTime"`
	TriggerName string  `json:"triggerName"`
	Payload     *string `json:"payload"`
}

func strictDecode(b []byte, v any) error { return decodeEvent(b, v, true) }

func decodeEvent(b []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not JSON (at byte %d)", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("field %s must be a JSON %s, not %s", fieldName(te.Field), jsonType(te.Type.String()), te.Value)
		case errors.Is(err, io.EOF):
			return errors.New("empty")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name, _ := strconv.Unquote(f)
			return fmt.Errorf("unknown field %s", fieldName(name))
		}
		return errors.New("malformed event")
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// fieldNameRe is what an event's field name looks like; anything else is
// not echoed (the event is data, and may carry anything).
var fieldNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.\[\]]{0,39}$`)

func fieldName(f string) string {
	if fieldNameRe.MatchString(f) {
		return strconv.Quote(f)
	}
	return "(a field name that is not shown)"
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "string"):
		return "string"
	}
	return "object"
}

// maxFutureSkew is how far ahead of the clock an event's audit time may be
// (clock skew between the scheduler and the instance); further is refused.
const maxFutureSkew = 5 * time.Minute

// minAuditTime is the earliest audit time accepted: an earlier one is a
// mistake (a zero time, a time in seconds), never an audit.
var minAuditTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseEvent decodes a timer event or a manual event. It never echoes the
// payload. Timer events accept fields this version does not know (the
// platform may add some) and return their names; manual events are strict.
func parseEvent(payload []byte, now time.Time) (inv invocation, unknown []string, err error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return invocation{kind: "manual", now: now}, nil, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		if json.Valid(payload) {
			return invocation{}, nil, errors.New("event: must be a JSON object (a timer event, or a manual event like {\"dryRun\":true})")
		}
		return invocation{}, nil, errors.New("event: not JSON: send a timer event or a manual event like {\"dryRun\":true}")
	}
	if _, ok := probe["triggerTime"]; ok {
		var te timerEvent
		if err := lenientDecode(payload, &te); err != nil {
			return invocation{}, nil, fmt.Errorf("timer event: %w", err)
		}
		for k := range probe {
			if k != "triggerTime" && k != "triggerName" && k != "payload" {
				unknown = append(unknown, audit.Truncate(k, 40))
			}
		}
		slices.Sort(unknown)
		t, err := time.Parse(time.RFC3339, te.TriggerTime)
		if err != nil {
			return invocation{}, nil, errors.New("timer event: triggerTime is not an RFC 3339 time like 2026-11-27T01:00:00Z")
		}
		t = t.UTC()
		if t.Before(minAuditTime) {
			return invocation{}, nil, fmt.Errorf("timer event: triggerTime %s is before 2000", t.Format(time.RFC3339))
		}
		if t.After(now.Add(maxFutureSkew)) {
			return invocation{}, nil, fmt.Errorf("timer event: triggerTime %s is in the future (the clock says %s)", t.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		inv := invocation{kind: "timer", name: audit.Truncate(te.TriggerName, 128), triggerTime: &t, now: t}
		if te.Payload != nil && strings.TrimSpace(*te.Payload) != "" {
			if err := strictDecode([]byte(*te.Payload), &inv.opts); err != nil {
				return invocation{}, nil, fmt.Errorf("timer payload: %w", err)
			}
			if inv.opts.Now != nil {
				return invocation{}, nil, errors.New("timer payload: now is not allowed (the audit time is the trigger time)")
			}
		}
		return inv, unknown, nil
	}
	inv = invocation{kind: "manual", now: now}
	if err := strictDecode(payload, &inv.opts); err != nil {
		return invocation{}, nil, fmt.Errorf("manual event: %w", err)
	}
	if inv.opts.Now != nil {
		t, err := time.Parse(time.RFC3339, *inv.opts.Now)
		if err != nil {
			return invocation{}, nil, errors.New("manual event: now is not an RFC 3339 time like 2026-11-27T09:00:00Z")
		}
		if t.After(now.Add(maxFutureSkew)) {
			return invocation{}, nil, fmt.Errorf("manual event: now %s is in the future", t.UTC().Format(time.RFC3339))
		}
		if t.Before(minAuditTime) {
			return invocation{}, nil, fmt.Errorf("manual event: now %s is before 2000", t.UTC().Format(time.RFC3339))
		}
		inv.now = t
	}
	return inv, nil, nil
}

// lenientDecode decodes like strictDecode but accepts unknown fields.
func lenientDecode(b []byte, v any) error {
	return decodeEvent(b, v, false)
}

// writtenPage is where the run's page is, when it was written.
func writtenPage(res *auditrun.Result) string {
	if !res.Written {
		return ""
	}
	return res.PageLocation
}

// narrowing is what the event asks to narrow the configured scope to.
func narrowing(ev manualEvent) audit.Narrowing {
	n := audit.Narrowing{Accounts: ev.Accounts, Regions: ev.Regions, Workspaces: ev.Workspaces}
	for _, g := range ev.Gateways {
		n.Gateways = append(n.Gateways, audit.GatewayRef{AccountID: g.Account, Region: g.Region, WorkspaceID: g.Workspace, GatewayID: g.Gateway})
	}
	return n
}

// handle serves one invocation.
// An HTTP trigger's event (Slack's actions) is served apart: it never
// starts an audit.
func (h *fcHandler) handle(ctx context.Context, payload []byte) (any, error) {
	fctx, _ := fccontext.FromContext(ctx)
	if fctx == nil {
		fctx = &fccontext.FcContext{}
	}
	log := h.log.With("request_id", audit.Truncate(fctx.RequestID, 128))
	if httpEvent(payload) {
		return h.serveHTTP(ctx, fctx, payload, log.With("trigger", "http")), nil
	}
	res, err := h.audit(ctx, fctx, payload, log)
	if errors.Is(err, errPreflight) {
		return h.preflight(ctx, fctx, payload, log)
	}
	return res, err
}

// errPreflight says that the event asks for the preflight, not an audit.
var errPreflight = errors.New("preflight")

// preflightResponse is the function's answer to {"preflight": true}.
type preflightResponse struct {
	Preflight bool            `json:"preflight"`
	RunID     string          `json:"runId"`
	OK        bool            `json:"ok"`
	Summary   string          `json:"summary"`
	Rows      []preflight.Row `json:"rows"`
}

// preflight runs the preflight with the function's own role and
// environment: it posts no report, writes no snapshot and deletes nothing.
func (h *fcHandler) preflight(ctx context.Context, fctx *fccontext.FcContext, payload []byte, log *slog.Logger) (*preflightResponse, error) {
	inv, _, _ := parseEvent(payload, h.now())
	if o := inv.opts; o.DryRun != nil || o.Notify != nil || o.Now != nil || len(o.Accounts)+len(o.Regions)+len(o.Workspaces)+len(o.Gateways) > 0 {
		return nil, refusedError{errors.New("manual event: preflight takes no other field than preflightPost")}
	}
	cred, credErr := invocationCredential(fctx.Credentials)
	if credErr != nil {
		cred = nil
	}
	p := preflightRun{cfg: h.cfg, cred: cred, credOK: credErr, getenv: h.getenv, post: inv.opts.PreflightPost != nil && *inv.opts.PreflightPost, log: log}
	p.runID = preflightRunID(time.Now())
	rows := runPreflight(ctx, p)
	failed, _ := preflight.Failures(rows)
	log.Info("preflight", "run_id", p.runID, "summary", preflight.Summary(rows))
	return &preflightResponse{Preflight: true, RunID: p.runID, OK: failed == 0, Summary: preflight.Summary(rows), Rows: rows}, nil
}

// audit serves a timer or a manual event: one audit.
func (h *fcHandler) audit(ctx context.Context, fctx *fccontext.FcContext, payload []byte, log *slog.Logger) (*fcResponse, error) {
	inv, unknown, err := parseEvent(payload, h.now())
	if h.cfgErr != nil {
		log.Error("invocation refused: bad config", "error", h.cfgErr)
		h.noticeBadConfig(ctx, log, inv, err == nil, fctx.RetryCount)
		return nil, refusedError{h.cfgErr}
	}
	if err != nil {
		log.Error("invocation refused: bad event", "error", err)
		return nil, refusedError{err}
	}
	if len(unknown) > 0 {
		log.Warn("timer event has fields this version does not know; ignoring them", "fields", unknown)
	}
	if inv.opts.Preflight != nil && *inv.opts.Preflight {
		return nil, errPreflight
	}
	dryRun := inv.opts.DryRun != nil && *inv.opts.DryRun
	notify := inv.opts.Notify == nil || *inv.opts.Notify
	if missing := missingSecrets(h.cfg, h.getenv); len(missing) > 0 && notify && !dryRun {
		// A deployed function that posts nowhere and answers ok would look
		// healthy while nobody hears of it.
		err := fmt.Errorf("destinations without their secrets in the function's environment: %s (set them in s.yaml's environmentVariables; docs/deploy.md)", strings.Join(missing, "; "))
		log.Error("invocation refused: destinations without their secrets", "error", err)
		return nil, refusedError{err}
	}
	cred, err := invocationCredential(fctx.Credentials)
	if err != nil {
		log.Error("no credentials", "error", err)
		return nil, err
	}
	log = log.With("run_id", audit.RunID(inv.now.UTC().Truncate(time.Second)), "trigger", inv.kind)
	runner, dest, err := newRunner(h.cfg, cred, h.getenv, log, h.now)
	if err != nil {
		log.Error("cannot set up the audit", "error", err)
		return nil, err
	}
	var accounts []fleet.Account
	if n := narrowing(inv.opts); !n.Empty() {
		if accounts, err = fleet.Narrow(runner.Accounts, n); err != nil {
			err = fmt.Errorf("event: %w", err)
			log.Error("invocation refused: bad event", "error", err)
			return nil, refusedError{err}
		}
		if audit.Whole(fleet.Identities(accounts), fleet.Identities(runner.Accounts)) {
			accounts = nil // the whole configured scope: a full run
		}
	}
	log.Info("audit starting", "audited_at", inv.now.UTC().Format(time.RFC3339), "retry_count", fctx.RetryCount,
		"dry_run", dryRun, "partial_scope", accounts != nil, "slack", cmpOr(dest, "none"))
	res, err := runner.Run(ctx, auditrun.Options{
		Now: inv.now, Accounts: accounts, Asked: narrowing(inv.opts), DryRun: dryRun, Notify: notify, Retry: fctx.RetryCount > 0,
		Trigger: audit.Trigger{Kind: inv.kind, Name: inv.name, TriggerTime: inv.triggerTime, RequestID: audit.Truncate(fctx.RequestID, 128),
			RetryCount: fctx.RetryCount, DryRun: dryRun},
	})
	if nf := (*auditrun.NotFoundError)(nil); errors.As(err, &nf) {
		err = fmt.Errorf("event: %w", err)
		log.Error("invocation refused: bad event", "error", err)
		return nil, refusedError{err}
	}
	if res == nil || res.Snapshot == nil {
		log.Error("audit failed", "error", err)
		return nil, err
	}
	s := res.Snapshot
	resp := &fcResponse{RunID: s.RunID, AuditedAt: s.AuditedAt, Verdict: s.Verdict, Snapshot: res.Location, Page: writtenPage(res), Summary: s.Summary,
		Notified: res.Notified, Partial: res.Partial(), DryRun: dryRun, Reused: res.Reused, Deliveries: res.Deliveries,
		BaselineHeld: res.BaselineHeld, HistoryHeld: res.HistoryHeld, MetricsSent: res.MetricsSent, MetricsError: res.MetricsError,
		ActionsWarnings: s.ActionsWarnings, NotifySkipped: res.NotifySkipped, RetireUntold: res.RetireUntold}
	log.Info("audit complete", "verdict", s.Verdict, "snapshot", res.Location, "written", res.Written, "reused", res.Reused,
		"gateways", s.Summary.Gateways, "gateways_failed", s.Summary.GatewaysFailed, "errors", s.Summary.Errors,
		"tokens", s.Summary.Tokens, "findings", s.Summary.ActiveFindings(), "suppressed", s.Summary.Suppressed,
		"baseline_moved", res.MovedLatest, "baseline_held", res.BaselineHeld,
		"notified", res.Notified, "notify_skipped", res.NotifySkipped, "partial", resp.Partial)
	if err != nil {
		// FC retries the invocation; what already succeeded is not repeated.
		log.Error("audit did not do its job; returning an error so Function Compute retries", "error", err)
		return nil, err
	}
	return resp, nil
}

// noticeBadConfig posts one failure notice for a run refused for its
// config. With no config there is no store to claim the delivery in, so it
// posts on the first attempt of each audit time only, once per instance.
func (h *fcHandler) noticeBadConfig(ctx context.Context, log *slog.Logger, inv invocation, parsed bool, retryCount int) {
	if retryCount > 0 || (parsed && inv.opts.Notify != nil && !*inv.opts.Notify) || (parsed && inv.opts.DryRun != nil && *inv.opts.DryRun) {
		return
	}
	at := h.now().UTC().Truncate(time.Second)
	if parsed {
		at = inv.now.UTC().Truncate(time.Second)
	}
	runID := audit.RunID(at)
	h.mu.Lock()
	done := h.noticed[runID]
	h.noticed[runID] = true
	h.mu.Unlock()
	if done {
		return
	}
	n, _, err := newRouter(&config.Config{}, h.getenv, log)
	if err != nil || n == nil {
		return // no webhook (a bot needs slack.channel, which is in the config)
	}
	f := delivery.FailureNotice{Tool: tool(), RunID: runID, AuditedAt: at, Trigger: audit.Trigger{Kind: cmpOr(inv.kind, "unknown")}, Cause: h.cfgErr.Error()}
	for _, d := range n.FailureDeliveries(f) {
		if err := d.Send(ctx); err != nil {
			log.Error("failure notice not posted", "destination", d.Destination, "error", err)
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// invocationCredential prefers the function role's STS credentials that
// come with each invocation; without them, credentials-go's default chain.
func invocationCredential(c fccontext.Credentials) (credentials.Credential, error) {
	if c.AccessKeyId == "" {
		return defaultCredential(os.Getenv)
	}
	cfg := &credentials.Config{Type: dara.String("sts"), AccessKeyId: dara.String(c.AccessKeyId),
		AccessKeySecret: dara.String(c.AccessKeySecret), SecurityToken: dara.String(c.SecurityToken)}
	if c.SecurityToken == "" {
		cfg.Type, cfg.SecurityToken = dara.String("access_key"), nil
	}
	cred, err := credentials.NewCredential(cfg)
	if err != nil {
		return nil, fmt.Errorf("credentials from the invocation: %w", err)
	}
	return cred, nil
}

// refusedError is an invocation refused before it audits: a bad event or
// config (the CLI's -event exits 2 for it). FC answers it as any error.
type refusedError struct{ error }

func (e refusedError) Unwrap() error { return e.error }

// runEvent is the CLI's -event: it serves one Function Compute event (a
// timer event, or a manual event) through the same handler as the
// function — the same parsing, scope rules and JSON response — with the
// config of -config (or AUDIT_CONFIG) and credentials from the local
// chain, and prints the response on stdout as the function would answer
// it. A refused event or config exits 2; a run that could not do its job
// exits 1, its error on stderr.
func runEvent(ctx context.Context, o options, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	var payload []byte
	var err error
	if o.event == "-" {
		payload, err = io.ReadAll(io.LimitReader(stdin, maxEventBytes+1))
	} else {
		payload, err = os.ReadFile(o.event)
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "livy-token-audit: -event: %v\n", err)
		return exitUsage
	case len(payload) > maxEventBytes:
		fmt.Fprintf(stderr, "livy-token-audit: -event: larger than %d bytes\n", maxEventBytes)
		return exitUsage
	}
	if o.config == "" {
		fmt.Fprintln(stderr, "livy-token-audit: -event needs the function's config: pass -config FILE or set AUDIT_CONFIG")
		return exitUsage
	}
	payload = triggerNow(payload, wallClock())
	h := &fcHandler{getenv: getenv, log: newLogger(stderr, true), now: wallClock, noticed: map[string]bool{}}
	if h.cfg, h.cfgErr = config.Load(o.config); h.cfgErr != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", h.cfgErr)
		return exitUsage
	}
	if _, _, err := parseEvent(payload, h.now()); err != nil && !httpEvent(payload) {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitUsage
	}
	resp, err := h.handle(ctx, payload)
	if err != nil {
		// What the function answers then: fc-runtime-go-sdk's error
		// response, byte for byte.
		if b, jerr := json.Marshal(messages.InvokeResponse_Error{Message: err.Error(), Type: errorTypeName(err)}); jerr == nil {
			fmt.Fprintf(stdout, "%s\n", b)
		}
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		if errors.As(err, new(refusedError)) {
			return exitUsage
		}
		return exitFailed
	}
	b, err := json.Marshal(resp) // as fc-runtime-go-sdk answers it
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

// errorTypeName names an error's type as fc-runtime-go-sdk does in its
// error response.
func errorTypeName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// triggerNow is an -event timer event whose triggerTime is "now" with the
// clock's time instead (an example event audits today; Function Compute
// always sends a time).
func triggerNow(payload []byte, clock time.Time) []byte {
	var ev map[string]json.RawMessage
	if json.Unmarshal(payload, &ev) != nil || string(ev["triggerTime"]) != `"now"` {
		return payload
	}
	ev["triggerTime"], _ = json.Marshal(clock.UTC().Truncate(time.Second).Format(time.RFC3339))
	b, err := json.Marshal(ev)
	if err != nil {
		return payload
	}
	return b
}

// maxEventBytes bounds an event read by -event (FC's own limit for an
// asynchronous invocation's payload is 128 KB).
const maxEventBytes = 128 << 10
