package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// ClaimStore is where deliveries are claimed and recorded, beside the
// snapshot: the run's store. Create is atomic (of two creators exactly one
// succeeds, the other gets an error wrapping fs.ErrExist); Get of a missing
// key wraps fs.ErrNotExist.
type ClaimStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Create(ctx context.Context, key string, data []byte) error
	Put(ctx context.Context, key string, content func(io.Writer) error) error
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
	Now func() time.Time
	// LeaseSkew is how far apart two attempts' clocks may be: a claim is
	// taken over that long after its holder's lease ends
	// (schedule.clockSkew; 0: 30 s).
	LeaseSkew time.Duration
	// Sleep waits between two reads of a claim another attempt holds (nil:
	// a timer).
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// claim kinds: one report and one failure notice per run.
const (
	claimReport  = "report"
	claimFailure = "failure"
)

// Report delivers the report of s to every destination. A failed audit's
// report is claimed as the run's failure notice, so that a later retry
// that succeeds still posts its real report.
func (d *Dispatcher) Report(ctx context.Context, run delivery.Run, s *audit.Snapshot, loc delivery.Locations) delivery.Outcome {
	var out delivery.Outcome
	kind := claimReport
	if s.Verdict == audit.VerdictFailed {
		kind = claimFailure
	}
	var skipped []string
	l := d.ledger(ctx, run, s)
	var told Ledger
	if l != nil {
		told = l
	}
	for _, n := range d.Notifiers {
		for _, dl := range n.Deliveries(s, loc, told) {
			r := d.deliver(ctx, run, kind, dl)
			if r.Status == delivery.StatusDelivered || r.Status == delivery.StatusSkipped {
				if err := l.record(ctx, dl.Destination); err != nil {
					d.logger().Warn("delivery ledger not moved; the next report tells this again", "destination", dl.Destination, "error", err)
					r.Detail = strings.TrimPrefix(r.Detail+"; ", "; ") + "its ledger was not moved (" + err.Error() + "): the next report tells this again"
				}
			}
			out.Deliveries = append(out.Deliveries, r)
			if r.Status == delivery.StatusDelivered || r.Status == delivery.StatusAlready {
				out.Told = append(out.Told, dl.Tells...)
			}
			switch r.Status {
			case delivery.StatusDelivered:
				out.Notified = true
			case delivery.StatusFailed:
				out.Errs = append(out.Errs, fmt.Errorf("notify %s: %s", dl.Destination, r.Detail))
			case delivery.StatusUncertain:
				// Not a failure to retry: the message may be there, and is
				// never sent again blindly. It is said, not hidden.
				d.logger().Warn("delivery uncertain", "destination", dl.Destination, "detail", r.Detail)
				skipped = append(skipped, r.Detail)
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
	slices.Sort(out.Told)
	out.Told = slices.Compact(out.Told)
	return out
}

// Failure sends a short failure notice to the destinations the Notifiers
// plan for one, once per run.
func (d *Dispatcher) Failure(ctx context.Context, run delivery.Run, f delivery.FailureNotice) []delivery.Result {
	var out []delivery.Result
	for _, n := range d.Notifiers {
		for _, dl := range n.FailureDeliveries(f) {
			r := d.deliver(ctx, run, claimFailure, dl)
			out = append(out, r)
			if r.Status == delivery.StatusFailed {
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
func (d *Dispatcher) deliver(ctx context.Context, run delivery.Run, kind string, dl Delivery) delivery.Result {
	out := delivery.Result{Destination: dl.Destination}
	if dl.Skip != "" {
		out.Status, out.Detail = delivery.StatusSkipped, dl.Skip
		return out
	}
	if len(dl.Parts) > 0 {
		return d.deliverParts(ctx, run, kind, dl)
	}
	c, why := d.claim(ctx, run, kind, ClaimBase(run.Key, kind, dl.Destination), dl)
	switch {
	case why.status != "":
		out.Status, out.Detail = why.status, why.detail
		return out
	case c == nil: // the store takes no claim: this first attempt sends
		out.Detail = why.detail
	}
	err := d.send(ctx, dl)
	var ue *UncertainError
	switch {
	case errors.As(err, &ue):
		c.settle(ctx, stateUncertain, err.Error())
		out.Status, out.Detail = delivery.StatusUncertain, err.Error()
	case err != nil:
		c.settle(ctx, stateReleased, err.Error())
		out.Status, out.Detail = delivery.StatusFailed, err.Error()
	default:
		c.settle(ctx, stateDelivered, "")
		out.Status = delivery.StatusDelivered
	}
	return out
}

// PartClaimBase is the key every record of a part's claim starts with:
// one per destination and part, whatever the run (a part a run delivered
// is never sent again by a later one).
func PartClaimBase(dest, partID string) string {
	return "ledger/parts/" + EncodeDestination(dest) + "/" + EncodeDestination(partID)
}

// deliverParts claims, sends and records each part of dl on its own; the
// delivery is delivered when every part is (now or by an earlier attempt)
// or went out with no answer (never sent again), and failed when a part
// failed: the next attempt sends what is left.
func (d *Dispatcher) deliverParts(ctx context.Context, run delivery.Run, kind string, dl Delivery) delivery.Result {
	out := delivery.Result{Destination: dl.Destination, Status: delivery.StatusDelivered}
	var sent, earlier, uncertain int
	var failed []string
	for _, p := range dl.Parts {
		one := Delivery{Destination: dl.Destination, Send: p.Send}
		c, why := d.claim(ctx, run, kind, PartClaimBase(dl.Destination, p.ID), one)
		switch why.status {
		case delivery.StatusAlready:
			earlier++
			continue
		case delivery.StatusUncertain:
			uncertain++
			continue
		case delivery.StatusFailed:
			failed = append(failed, p.ID+": "+why.detail)
			continue
		}
		err := d.send(ctx, one)
		var ue *UncertainError
		switch {
		case errors.As(err, &ue):
			c.settle(ctx, stateUncertain, err.Error())
			d.logger().Warn("part uncertain; not sent again", "destination", dl.Destination, "part", p.ID, "detail", err.Error())
			uncertain++
		case err != nil:
			c.settle(ctx, stateReleased, err.Error())
			failed = append(failed, p.ID+": "+err.Error())
		default:
			c.settle(ctx, stateDelivered, "")
			sent++
		}
	}
	out.Detail = partsDetail(len(dl.Parts), sent, earlier, uncertain, failed)
	if len(failed) > 0 {
		out.Status = delivery.StatusFailed
	}
	return out
}

// partsDetail says what became of a delivery's parts.
func partsDetail(n, sent, earlier, uncertain int, failed []string) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%d of %d parts sent", sent, n))
	if earlier > 0 {
		parts = append(parts, fmt.Sprintf("%d delivered earlier", earlier))
	}
	if uncertain > 0 {
		parts = append(parts, fmt.Sprintf("%d sent with no answer (not sent again)", uncertain))
	}
	if len(failed) > 0 {
		first := failed[0]
		parts = append(parts, fmt.Sprintf("%d failed (sent by the next attempt; first: %s)", len(failed), first))
	}
	return strings.Join(parts, ", ")
}

// settleReserve is what a send leaves of its attempt's time to record what
// became of it: a post that hangs ends that much before the deadline (the
// function's, after which Function Compute stops the instance), so that
// "uncertain" is recorded and a retry does not send it again blindly. A
// short deadline (a CLI -timeout of seconds) keeps a quarter of what is
// left.
const settleReserve = 5 * time.Second

// send sends one delivery, within its attempt's deadline less its
// reserve.
func (d *Dispatcher) send(ctx context.Context, dl Delivery) error {
	if end, ok := ctx.Deadline(); ok {
		reserve := min(settleReserve, time.Until(end)/4)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, end.Add(-reserve))
		defer cancel()
	}
	return dl.Send(ctx)
}
