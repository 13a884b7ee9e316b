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
	"slices"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"livy-token-audit/audit"
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
	cfg    *audit.Config
	cfgErr error
	getenv func(string) string
	log    *slog.Logger
	now    func() time.Time
}

func newFCHandler(getenv func(string) string, stderr io.Writer) *fcHandler {
	h := &fcHandler{getenv: getenv, log: newLogger(stderr, true), now: time.Now}
	path := getenv("AUDIT_CONFIG")
	if path == "" {
		path = "audit.yaml"
		if exe, err := os.Executable(); err == nil {
			path = filepath.Join(filepath.Dir(exe), "audit.yaml")
		}
	}
	h.cfg, h.cfgErr = audit.LoadConfig(path)
	if h.cfgErr != nil {
		h.log.Error("config refused; every invocation will fail until it is fixed", "config", path, "error", h.cfgErr)
	}
	return h
}

// fcResponse is the handler's answer (a contract: people's scripts read it).
type fcResponse struct {
	RunID     string        `json:"runId"`
	AuditedAt time.Time     `json:"auditedAt"`
	Snapshot  string        `json:"snapshot"`
	Summary   audit.Summary `json:"summary"`
	Notified  bool          `json:"notified"`
	Partial   bool          `json:"partial"`
	DryRun    bool          `json:"dryRun,omitempty"`
	Reused    bool          `json:"reused,omitempty"`
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
	DryRun   *bool          `json:"dryRun"`
	Notify   *bool          `json:"notify"`
	Regions  []string       `json:"regions"`
	Gateways []eventGateway `json:"gateways"`
	Now      *string        `json:"now"`
}

type eventGateway struct {
	Region    string `json:"region"`
	Workspace string `json:"workspace"`
	Gateway   string `json:"gateway"`
}

type timerEvent struct {
	TriggerTime string  `json:"triggerTime"`
	TriggerName string  `json:"triggerName"`
	Payload     *string `json:"payload"`
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not JSON (at byte %d)", se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("field %q must be a JSON %s, not %s", te.Field, jsonType(te.Type.String()), te.Value)
		case errors.Is(err, io.EOF):
			return errors.New("empty")
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
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

// parseEvent decodes a timer event or a manual event. It never echoes the
// payload.
func parseEvent(payload []byte, now time.Time) (invocation, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return invocation{kind: "manual", now: now}, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		if json.Valid(payload) {
			return invocation{}, errors.New("event: must be a JSON object (a timer event, or a manual event like {\"dryRun\":true})")
		}
		return invocation{}, errors.New("event: not JSON: send a timer event or a manual event like {\"dryRun\":true}")
	}
	if _, ok := probe["triggerTime"]; ok {
		var te timerEvent
		if err := strictDecode(payload, &te); err != nil {
			return invocation{}, fmt.Errorf("timer event: %w", err)
		}
		t, err := time.Parse(time.RFC3339, te.TriggerTime)
		if err != nil {
			return invocation{}, fmt.Errorf("timer event: triggerTime %q is not an RFC 3339 time", te.TriggerTime)
		}
		t = t.UTC()
		inv := invocation{kind: "timer", name: te.TriggerName, triggerTime: &t, now: t}
		if te.Payload != nil && strings.TrimSpace(*te.Payload) != "" {
			if err := strictDecode([]byte(*te.Payload), &inv.opts); err != nil {
				return invocation{}, fmt.Errorf("timer payload: %w", err)
			}
			if inv.opts.Now != nil {
				return invocation{}, errors.New("timer payload: now is not allowed (the audit time is the trigger time)")
			}
		}
		return inv, nil
	}
	inv := invocation{kind: "manual", now: now}
	if err := strictDecode(payload, &inv.opts); err != nil {
		return invocation{}, fmt.Errorf("manual event: %w", err)
	}
	if inv.opts.Now != nil {
		t, err := time.Parse(time.RFC3339, *inv.opts.Now)
		if err != nil {
			return invocation{}, fmt.Errorf("manual event: now %q is not an RFC 3339 time like 2026-11-27T09:00:00Z", *inv.opts.Now)
		}
		if t.After(now.Add(time.Minute)) {
			return invocation{}, fmt.Errorf("manual event: now %s is in the future", t.UTC().Format(time.RFC3339))
		}
		inv.now = t
	}
	return inv, nil
}

// narrow turns the event's scope into a narrowing of the configured one; it
// refuses anything the config does not allow. It returns nil for "the whole
// configured scope".
func narrow(cfg *audit.Config, ev manualEvent) (*audit.Scope, error) {
	if len(ev.Regions) == 0 && len(ev.Gateways) == 0 {
		return nil, nil
	}
	sc := &audit.Scope{}
	for _, r := range ev.Regions {
		if !slices.Contains(cfg.Regions, r) {
			return nil, fmt.Errorf("event: region %q is not in the configured regions %v", r, cfg.Regions)
		}
		sc.Regions = append(sc.Regions, r)
	}
	if len(sc.Regions) > 0 {
		sc.Workspaces = cfg.Workspaces
		for _, g := range cfg.Gateways {
			if slices.Contains(sc.Regions, g.Region) {
				sc.Gateways = append(sc.Gateways, g)
			}
		}
	}
	for i, g := range ev.Gateways {
		ref := audit.GatewayRef{Region: g.Region, WorkspaceID: g.Workspace, GatewayID: g.Gateway}
		if g.Region == "" || g.Workspace == "" || g.Gateway == "" {
			return nil, fmt.Errorf("event: gateways[%d] needs region, workspace and gateway", i)
		}
		explicit := slices.ContainsFunc(cfg.Gateways, func(c audit.GatewayRef) bool { return c.Key() == ref.Key() })
		discoverable := slices.Contains(cfg.Regions, g.Region) && (len(cfg.Workspaces) == 0 || slices.Contains(cfg.Workspaces, g.Workspace))
		if !explicit && !discoverable {
			return nil, fmt.Errorf("event: gateways[%d] %s is outside the configured scope", i, ref.Key())
		}
		sc.Gateways = append(sc.Gateways, ref)
	}
	return sc, nil
}

// handle serves one invocation.
func (h *fcHandler) handle(ctx context.Context, payload []byte) (*fcResponse, error) {
	fctx, _ := fccontext.FromContext(ctx)
	if fctx == nil {
		fctx = &fccontext.FcContext{}
	}
	log := h.log.With("request_id", fctx.RequestID)
	if h.cfgErr != nil {
		log.Error("invocation refused: bad config", "error", h.cfgErr)
		return nil, h.cfgErr
	}
	inv, err := parseEvent(payload, h.now())
	if err != nil {
		log.Error("invocation refused: bad event", "error", err)
		return nil, err
	}
	scope, err := narrow(h.cfg, inv.opts)
	if err != nil {
		log.Error("invocation refused: bad event", "error", err)
		return nil, err
	}
	cred, err := invocationCredential(fctx.Credentials)
	if err != nil {
		log.Error("no credentials", "error", err)
		return nil, err
	}
	dryRun := inv.opts.DryRun != nil && *inv.opts.DryRun
	notify := inv.opts.Notify == nil || *inv.opts.Notify
	log = log.With("run_id", audit.RunID(inv.now.UTC().Truncate(time.Second)), "trigger", inv.kind)
	runner, dest, err := newRunner(h.cfg, cred, h.getenv, log)
	if err != nil {
		log.Error("cannot set up the audit", "error", err)
		return nil, err
	}
	log.Info("audit starting", "audited_at", inv.now.UTC().Format(time.RFC3339), "retry_count", fctx.RetryCount,
		"dry_run", dryRun, "partial_scope", scope != nil, "slack", cmpOr(dest, "none"))
	res, err := runner.Run(ctx, audit.RunOptions{
		Now: inv.now, Scope: scope, DryRun: dryRun, Notify: notify, Retry: fctx.RetryCount > 0,
		Trigger: audit.Trigger{Kind: inv.kind, Name: inv.name, TriggerTime: inv.triggerTime, RequestID: fctx.RequestID,
			RetryCount: fctx.RetryCount, DryRun: dryRun},
	})
	if res == nil || res.Snapshot == nil {
		log.Error("audit failed", "error", err)
		return nil, err
	}
	s := res.Snapshot
	resp := &fcResponse{RunID: s.RunID, AuditedAt: s.AuditedAt, Snapshot: res.Location, Summary: s.Summary,
		Notified: res.Notified, Partial: res.Partial(), DryRun: dryRun, Reused: res.Reused}
	log.Info("audit complete", "snapshot", res.Location, "written", !dryRun, "reused", res.Reused,
		"gateways", s.Summary.Gateways, "gateways_failed", s.Summary.GatewaysFailed, "errors", s.Summary.Errors,
		"tokens", s.Summary.Tokens, "findings", s.Summary.ActiveFindings(), "suppressed", s.Summary.Suppressed,
		"notified", res.Notified, "notify_skipped", res.NotifySkipped, "partial", resp.Partial)
	if err != nil {
		// FC retries the invocation; what already succeeded is not repeated.
		log.Error("audit did not deliver; returning an error so Function Compute retries", "error", err)
		return nil, err
	}
	return resp, nil
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
		return defaultCredential()
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
