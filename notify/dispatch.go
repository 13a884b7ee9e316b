package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// ClaimStore is where deliveries are claimed and recorded, beside the
// snapshot: the run's store. Create is atomic (of two creators exactly one
// succeeds, the other gets an error wrapping fs.ErrExist); Get of a missing
// key wraps fs.ErrNotExist.
type ClaimStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Create(ctx context.Context, key string, data []byte) error
	Put(ctx context.Context, key string, content func(io.Writer) error) error
	Delete(ctx context.Context, key string) error
}

// Run names the run whose reports are delivered.
type Run struct {
	// Key is the run's snapshot key: claims are written beside it.
	Key   string
	RunID string
	// RequestID is the Function Compute request, recorded in claims.
	RequestID string
	// Retry is true for a retry of a run that may have partly succeeded. It
	// only matters when the store cannot record a claim: then only a first
	// attempt sends.
	Retry bool
}

// Outcome is what became of a run's reports.
type Outcome struct {
	Deliveries []DeliveryResult
	// Notified is true when something was delivered and nothing failed.
	Notified bool
	// Skipped says why nothing was sent, when nothing was.
	Skipped string
	// Errs names each destination that failed.
	Errs []error
}

// Dispatcher delivers a run's reports to every destination its Notifiers
// plan, each once per run: it claims a delivery in the store before sending
// it, so that a retry or a second delivery of the same event does not send
// it again, and gives the claim back when the send fails. A destination
// that fails is reported and does not stop the others.
type Dispatcher struct {
	Notifiers []Notifier
	Claims    ClaimStore
	// Now is the wall clock, for claims (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// claim kinds: one report and one failure notice per run.
const (
	claimReport  = "report"
	claimFailure = "failure"
)

// claimTTL is how long a claim that was never marked delivered holds: past
// it, the delivery that made it is taken to have died mid-post.
const claimTTL = 15 * time.Minute

// Report delivers the report of s to every destination. A failed audit's
// report is claimed as the run's failure notice, so that a later retry
// that succeeds still posts its real report.
func (d *Dispatcher) Report(ctx context.Context, run Run, s *audit.Snapshot, loc Locations) Outcome {
	var out Outcome
	kind := claimReport
	if s.Verdict == audit.VerdictFailed {
		kind = claimFailure
	}
	var skipped []string
	for _, n := range d.Notifiers {
		for _, dl := range n.Deliveries(s, loc) {
			r := d.deliver(ctx, run, kind, dl)
			out.Deliveries = append(out.Deliveries, r)
			switch r.Status {
			case StatusDelivered:
				out.Notified = true
			case StatusFailed:
				out.Errs = append(out.Errs, fmt.Errorf("notify %s: %s", dl.Destination, r.Detail))
			default:
				skipped = append(skipped, r.Detail)
			}
		}
	}
	if len(out.Errs) > 0 {
		out.Notified = false
	}
	if !out.Notified && len(skipped) > 0 {
		out.Skipped = strings.Join(slices.Compact(skipped), "; ")
	}
	return out
}

// Failure sends a short failure notice to the destinations the Notifiers
// plan for one, once per run.
func (d *Dispatcher) Failure(ctx context.Context, run Run, f FailureNotice) []DeliveryResult {
	var out []DeliveryResult
	for _, n := range d.Notifiers {
		for _, dl := range n.FailureDeliveries(f) {
			r := d.deliver(ctx, run, claimFailure, dl)
			out = append(out, r)
			if r.Status == StatusFailed {
				d.logger().Error("failure notice not posted", "destination", dl.Destination, "error", r.Detail)
			}
		}
	}
	return out
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Dispatcher) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// deliver claims, sends and records one delivery.
func (d *Dispatcher) deliver(ctx context.Context, run Run, kind string, dl Delivery) DeliveryResult {
	out := DeliveryResult{Destination: dl.Destination}
	if dl.Skip != "" {
		out.Status, out.Detail = StatusSkipped, dl.Skip
		return out
	}
	release, why := d.claim(ctx, run, kind, dl.Destination)
	if why != "" {
		out.Status, out.Detail = StatusAlready, why
		return out
	}
	if err := dl.Send(ctx); err != nil {
		release(false)
		out.Status, out.Detail = StatusFailed, err.Error()
		return out
	}
	release(true)
	out.Status = StatusDelivered
	return out
}

// claimRecord is the content of a delivery claim.
type claimRecord struct {
	RunID       string `json:"runId"`
	Kind        string `json:"kind"`
	Destination string `json:"destination"`
	State       string `json:"state"` // posting, delivered
	RequestID   string `json:"requestId,omitempty"`
	// Nonce tells this claimant's claim from another's (a create that
	// succeeded but whose answer was lost, then retried, finds its own).
	Nonce       string     `json:"nonce"`
	ClaimedAt   time.Time  `json:"claimedAt"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
}

// claim claims the delivery of kind for the run. It returns a release
// function (delivered: record it; not: give the claim back so a retry can
// post) or why the delivery is not this run's to make. When the store
// cannot take the claim at all, only the first attempt posts.
func (d *Dispatcher) claim(ctx context.Context, run Run, kind, dest string) (func(delivered bool), string) {
	ck := ClaimKey(run.Key, kind, dest)
	rec := claimRecord{RunID: run.RunID, Kind: kind, Destination: dest, State: "posting", RequestID: run.RequestID,
		Nonce: fmt.Sprintf("%016x", rand.Uint64()), ClaimedAt: d.now().UTC()}
	data, _ := json.Marshal(rec)
	log := d.logger()
	err := d.Claims.Create(ctx, ck, data)
	if errors.Is(err, fs.ErrExist) {
		switch held := d.heldClaim(ctx, ck); {
		case held.Nonce == rec.Nonce:
			err = nil // our own create, whose first answer was lost
		case held.State == "posting" && d.now().Sub(held.ClaimedAt) > claimTTL:
			log.Warn("taking over a delivery claim that was never completed", "claim", ck, "claimed_at", held.ClaimedAt)
			if derr := d.Claims.Delete(ctx, ck); derr == nil {
				err = d.Claims.Create(ctx, ck, data)
			}
		}
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil, "already delivered (or being delivered) for this run"
	case err != nil:
		log.Warn("cannot record the delivery claim", "claim", ck, "error", err)
		if run.Retry {
			return nil, "the store cannot record deliveries, and this is a retry: the first attempt posted"
		}
		return func(bool) {}, ""
	}
	return func(delivered bool) {
		if !delivered {
			if err := d.Claims.Delete(ctx, ck); err != nil {
				log.Warn("cannot release the delivery claim; a retry will not post until it goes stale", "claim", ck, "error", err)
			}
			return
		}
		t := d.now().UTC()
		rec.State, rec.DeliveredAt = "delivered", &t
		data, _ := json.Marshal(rec)
		if err := d.Claims.Put(ctx, ck, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			log.Warn("cannot mark the delivery done", "claim", ck, "error", err)
		}
	}, ""
}

// heldClaim reads the claim at ck; a zero record when it cannot be read (a
// marker of an older version reads as delivered).
func (d *Dispatcher) heldClaim(ctx context.Context, ck string) claimRecord {
	var rec claimRecord
	if b, err := d.Claims.Get(ctx, ck); err == nil {
		_ = json.Unmarshal(b, &rec)
	}
	return rec
}

// ClaimKey is where a run claims, then records, the delivery of its report
// (kind "report") or of its failure notice (kind "failure") to one
// destination: {stamp}.notified.json for the main Slack destination ("slack",
// the name earlier versions used), {stamp}.{destination}.notified.json for
// the others, with .failure before the destination for failure notices.
// Every claim ends in .notified.json, which is all the RAM policy lets the
// run delete.
func ClaimKey(snapshotKey, kind, dest string) string {
	base := strings.TrimSuffix(snapshotKey, ".json")
	if kind == claimFailure {
		base += ".failure"
	}
	if dest != "slack" {
		base += "." + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, dest)
	}
	return base + ".notified.json"
}
