package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/internal/standin/emulator"
)

var (
	//go:embed testdata/demo/world.json
	demoWorld []byte
	//go:embed testdata/demo/audit.yaml
	demoConfig []byte
)

// The demo's emulator accepts only this key pair; the secret is fake but
// still never printed.
const (
	demoAccessKeyID     = "LTAI5tDemoAccessKey01"
	demoAccessKeySecret = "demo-secret-DO-NOT-LEAK-7f3a9b"
)

// demoStart is the audit time of the first demo run; each further run in the
// same folder audits one day later, so the world evolves between runs.
var demoStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type demo struct {
	cfg  *config.Config
	cred credentials.Credential
	srv  *http.Server
	emu  *emulator.Server
	mu   sync.Mutex
	now  time.Time
	// slackURL is the demo's Slack stand-in (the preflight's); closers
	// stop what the demo started besides its emulator.
	slackURL string
	closers  []func()
	// tickets is the demo's ticket receiver (a JSON webhook in events
	// mode), at ticketsURL.
	tickets    *demoTickets
	ticketsURL string
}

// startDemo starts the emulator on loopback and returns the demo's config,
// pointed at it.
func startDemo(ctx context.Context, log *slog.Logger) (*demo, error) {
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse("testdata/demo/audit.yaml", demoConfig)
	if err != nil {
		return nil, err
	}
	d := &demo{cfg: cfg, now: demoStart}
	d.emu = &emulator.Server{
		World: world,
		Keys:  map[string]emulator.Key{demoAccessKeyID: {Secret: demoAccessKeySecret}},
		Now:   d.clock,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	d.srv = &http.Server{Handler: d.emu, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo emulator stopped", "error", err)
		}
	}()
	cfg.API.Endpoint = "http://" + ln.Addr().String()
	d.cred, err = credentials.NewCredential(&credentials.Config{
		Type: dara.String("access_key"), AccessKeyId: dara.String(demoAccessKeyID), AccessKeySecret: dara.String(demoAccessKeySecret),
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	if err := d.startPeople(log); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.startTickets(log); err != nil {
		d.Close()
		return nil, err
	}
	log.Info("demo: EMR API emulator listening", "endpoint", cfg.API.Endpoint, "snapshot_dir", cfg.Snapshot.Dir)
	return d, nil
}

func (d *demo) clock() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.now
}

func (d *demo) setClock(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now = t
}

// nextTime is the first demo time, or one day after the demo's previous run
// in the same snapshot folder.
func (d *demo) nextTime(ctx context.Context) time.Time {
	st := &localstore.Store{Dir: d.cfg.Snapshot.Dir}
	b, err := st.Get(ctx, audit.LatestKey)
	if err != nil {
		return demoStart
	}
	prev, err := audit.ReadSnapshot(b)
	if err != nil || prev.Trigger.Kind != "demo" || prev.AuditedAt.Before(demoStart) {
		return demoStart
	}
	return prev.AuditedAt.Add(24 * time.Hour)
}

// env is the demo's environment: the finance team's route posts to
// SLACK_WEBHOOK_URL too when DEMO_FINANCE_WEBHOOK is not set, so that one
// webhook shows the whole routed report; the signing secret is the demo's
// with -actions (the buttons are on), and none without.
func (d *demo) env(getenv func(string) string, actions bool) func(string) string {
	return func(k string) string {
		switch {
		case k == "SLACK_SIGNING_SECRET" && actions:
			return demoSigningSecret
		case k == "SLACK_SIGNING_SECRET":
			return ""
		case k == "SLACK_LOOKUP_TOKEN" && getenv("SLACK_BOT_TOKEN") == "":
			return demoBotToken // owners found by email, on the demo's Slack stand-in
		case k == "SLACK_API_URL" && getenv("SLACK_BOT_TOKEN") == "" && d.slackURL != "":
			return d.slackURL + "/api/"
		case k == demoTicketsURLEnv && getenv(k) == "":
			return d.ticketsURL
		case k == demoTicketsSecretEnv && getenv(k) == "":
			return demoTicketsSecret
		}
		if v := getenv(k); v != "" || k != "DEMO_FINANCE_WEBHOOK" {
			return v
		}
		return getenv("SLACK_WEBHOOK_URL")
	}
}

// Close stops the emulator and the demo's other stand-ins.
func (d *demo) Close() {
	_ = d.srv.Close()
	for _, c := range d.closers {
		c()
	}
}

// staged reports whether every failure in s is one the demo world stages
// (so that the run went as designed), and there is at least one.
func (d *demo) staged(s *audit.Snapshot) bool {
	codes := map[string]bool{}
	add := func(f *emulator.Failure) {
		if f != nil {
			codes[f.Code] = true
		}
	}
	for _, r := range d.emu.World.Regions {
		add(r.Fail)
		for _, w := range r.Workspaces {
			add(w.Fail)
			for _, g := range w.Gateways {
				add(g.Fail)
			}
		}
	}
	n := 0
	for _, e := range s.Errors {
		if !codes[e.Code] {
			return false
		}
		n++
	}
	for _, g := range s.Gateways {
		if g.Error != nil {
			if !codes[g.Error.Code] {
				return false
			}
			n++
		}
	}
	return n > 0
}
