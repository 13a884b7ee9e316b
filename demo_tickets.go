package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/localstore"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/webhook"
)

// The demo's ticket system: a JSON webhook in events mode (webhooks[]
// tickets in testdata/demo/audit.yaml), served on loopback.
const (
	demoTicketsURLEnv    = "DEMO_TICKETS_URL"
	demoTicketsSecretEnv = "DEMO_TICKETS_SECRET"
	// TicketsLog is the receiver's log, in the demo's snapshot folder.
	demoTicketsLog = "tickets.log"
)

// demoTicketsSecret is a Standard Webhooks secret (whsec_ and base64):
// a receiver's library takes it as it is.
var demoTicketsSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("demo-tickets-signing-key-32bytes"))

// demoTickets verifies each post as a receiver should (Standard
// Webhooks: webhook-id, webhook-timestamp, webhook-signature) and appends
// one JSON line per post to its log: the headers, whether it verified,
// and the body.
type demoTickets struct {
	mu     sync.Mutex
	dir    string // the demo's snapshot folder (setDir)
	secret string
}

func (tr *demoTickets) setDir(dir string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.dir = dir
}

// demoTicketLine is one post in the receiver's log.
type demoTicketLine struct {
	ReceivedAt time.Time `json:"receivedAt"`
	ID         string    `json:"webhookId"`
	Timestamp  string    `json:"webhookTimestamp"`
	Signature  string    `json:"webhookSignature"`
	Verified   bool      `json:"verified"`
	Error      string    `json:"error,omitempty"`
	// Type, Fingerprint, Token, Rule and How are the event's, to read the
	// log by; Body is the post as received, byte for byte (a receiver's
	// library verifies it again).
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Token       string `json:"token,omitempty"`
	Rule        string `json:"rule,omitempty"`
	How         string `json:"how,omitempty"`
	Body        string `json:"body"`
}

func (tr *demoTickets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	line := demoTicketLine{ReceivedAt: time.Now().UTC(), ID: r.Header.Get(webhook.IDHeader), Timestamp: r.Header.Get(webhook.StandardTimestampHeader),
		Signature: r.Header.Get(webhook.StandardSignatureHeader)}
	if err := webhook.VerifyHeaders(tr.secret, r.Header, body, time.Now()); err != nil {
		line.Error = err.Error()
	} else {
		line.Verified = true
	}
	var head struct {
		Type string      `json:"type"`
		Data audit.Event `json:"data"`
	}
	if json.Unmarshal(body, &head) == nil {
		line.Type, line.Fingerprint, line.Token, line.Rule, line.How = head.Type, head.Data.Fingerprint, head.Data.Token.ID, string(head.Data.Rule), head.Data.How
	}
	line.Body = string(body)
	tr.mu.Lock()
	err = tr.append(line)
	tr.mu.Unlock()
	switch {
	case err != nil:
		http.Error(w, "log not written", http.StatusInternalServerError)
	case !line.Verified:
		http.Error(w, "bad signature", http.StatusUnauthorized)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func (tr *demoTickets) append(l demoTicketLine) error {
	if tr.dir == "" {
		return nil // the preflight's: it leaves no trace in the demo's folder
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(tr.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(tr.dir, demoTicketsLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// startTickets starts the demo's ticket receiver; its URL is what
// DEMO_TICKETS_URL says in the demo's environment.
func (d *demo) startTickets(log *slog.Logger) error {
	d.tickets = &demoTickets{dir: d.cfg.Snapshot.Dir, secret: demoTicketsSecret}
	url, err := d.serveLoopback(d.tickets, "ticket receiver", log)
	d.ticketsURL = url + "/tickets"
	return err
}

// setDir moves the demo's snapshot folder, and its ticket receiver's log
// with it.
func (d *demo) setDir(dir string) {
	d.cfg.Snapshot.Dir = dir
	d.tickets.setDir(dir)
}

// ticketsLog is where the receiver's log is.
func (d *demo) ticketsLog() string { return filepath.Join(d.cfg.Snapshot.Dir, demoTicketsLog) }

// demoRetirer makes the runner's retirer the demo's: it deletes through
// the demo's own key on the emulator (a real deploy assumes
// actions.delete.roleArn through STS, which the demo has no stand-in for
// in this process); when it previews Slack (no Slack secret set), its
// notices are told on stdout (previewTold).
func (d *demo) demoRetirer(r *auditrun.Runner, previews bool) error {
	rt, ok := r.Retirer.(actions.Retirer)
	if !ok {
		return nil
	}
	key, err := audit.NewSecretKey()
	if err != nil {
		return err
	}
	c, err := emr.New(emr.Options{Endpoint: d.cfg.API.Endpoint, Credential: d.cred, Timeout: d.cfg.API.Timeout, Retries: d.cfg.API.Retries, SecretKey: key})
	if err != nil {
		return err
	}
	rt.Deleter = actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{"": {audit.KindLivy: c, audit.KindKyuubi: c.Kyuubi()}}}
	r.Retirer = rt
	if previews {
		r.Retirer = previewTold{rt}
	}
	return nil
}

// previewTold is the retirer of a demo that previews Slack. It posts no
// Slack message: its stdout is where its reports are read, and the report
// printed there lists each notice ("SCHEDULED FOR DELETION"), so each
// notice a run makes is told by the run that printed it. (A real run
// counts only the notices a delivered report carried.)
type previewTold struct{ actions.Retirer }

func (p previewTold) Told(ctx context.Context, s *audit.Snapshot, _ []string) ([]audit.RetireEntry, error) {
	var all []string
	if s.Retire != nil {
		for _, e := range s.Retire.Noticed {
			all = append(all, e.Key())
		}
	}
	return p.Retirer.Told(ctx, s, all)
}

// replayRetired takes out of the emulator's world the tokens that earlier
// demo runs retired (the record of actions keeps their marks): each demo
// run starts the world afresh from testdata/demo/world.json.
func (d *demo) replayRetired(ctx context.Context) {
	h, err := actions.Read(ctx, &localstore.Store{Dir: d.cfg.Snapshot.Dir})
	if err != nil {
		return // a first run, or no record: nothing was retired
	}
	gone := map[string]bool{}
	for _, m := range h.Marks {
		if m.Ended != nil && m.Ended.How == audit.EndDeleted {
			gone[m.Region+"/"+m.WorkspaceID+"/"+m.GatewayID+"/"+m.TokenID] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	d.emu.Edit(func() {
		for region, r := range d.emu.World.Regions {
			for _, ws := range r.Workspaces {
				for _, g := range append(slices.Clip(ws.Gateways), ws.Kyuubi...) {
					g.Tokens = slices.DeleteFunc(g.Tokens, func(t *emulator.Token) bool { return gone[region+"/"+ws.ID+"/"+g.ID+"/"+t.TokenID] })
				}
			}
		}
	})
}
