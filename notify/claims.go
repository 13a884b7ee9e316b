package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"time"

	"livy-token-audit/audit/delivery"
)

// A delivery is claimed before it is sent, so that of two attempts of the
// same run (a retry, or Function Compute delivering one event twice) only
// one sends. A claim is a chain of create-only records beside the
// snapshot, {base}.{destination}.{n}.notified.json, n = 1, 2, …: an attempt
// reads the chain's head and, when it may send, creates the next record;
// the store creates a key only if there is none (OSS x-oss-forbid-overwrite,
// O_EXCL on disk), so of two attempts that race for one record exactly one
// wins. Nothing is overwritten or deleted: the head says what became of the
// delivery.
//
//   - posting: an attempt holds the claim until its lease ends — its own
//     deadline (the function's, or the CLI's -timeout), after which it
//     cannot be sending any more — plus MaxSkew for the clocks;
//   - delivered: sent; nothing is sent again;
//   - released: the send failed; the next attempt sends;
//   - uncertain: the request went out whole and no answer came; it is never
//     sent again blindly (the sender looks first, or does not send).
//
// A head that cannot be read (empty, not JSON, too large, dated ahead of
// the clock) is stale, never "delivered".

// The states of a claim record.
const (
	statePosting   = "posting"
	stateDelivered = "delivered"
	stateReleased  = "released"
	stateUncertain = "uncertain"
)

// UncertainError is a send whose request went out whole and got no answer
// (a time-out after the body was written, a connection closed then): the
// destination may have the message. A Sender returns it (wrapped) when it
// does not send again on its own.
type UncertainError struct {
	Err error
}

func (e *UncertainError) Error() string {
	return "no answer after the request was sent (it may have been delivered; not sent again): " + e.Err.Error()
}

func (e *UncertainError) Unwrap() error { return e.Err }

// maxChain bounds a claim's chain: each attempt adds at most two records.
const maxChain = 64

// defaultLease is an attempt's lease when its context has no deadline.
const defaultLease = 15 * time.Minute

// maxSkew is the clock difference allowed between two attempts' machines.
const maxSkew = 5 * time.Minute

// claimRecord is one record of a claim's chain.
type claimRecord struct {
	RunID       string `json:"runId"`
	Kind        string `json:"kind"`
	Destination string `json:"destination"`
	State       string `json:"state"`
	RequestID   string `json:"requestId,omitempty"`
	// Nonce tells this attempt's record from another's (a create that
	// succeeded but whose answer was lost, then retried, finds its own).
	Nonce     string    `json:"nonce"`
	At        time.Time `json:"at"`
	LeaseEnds time.Time `json:"leaseEnds,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// claim is a claim this attempt holds: record n of the chain at base.
type claim struct {
	d    *Dispatcher
	base string
	n    int
	rec  claimRecord
}

// refusal says why an attempt does not send, or (status "") a note on a
// send without a claim.
type refusal struct{ status, detail string }

// ClaimBase is the key every record of a delivery's claim starts with:
// the snapshot's key without .json, the kind (failure notices only), and
// the destination, encoded so that two destinations never share one.
func ClaimBase(snapshotKey, kind, dest string) string {
	base := strings.TrimSuffix(snapshotKey, ".json")
	if kind == claimFailure {
		base += ".failure"
	}
	return base + "." + EncodeDestination(dest)
}

func claimKey(base string, n int) string { return fmt.Sprintf("%s.%d.notified.json", base, n) }

// EncodeDestination names a destination in a key, one-to-one: ':' becomes
// '.', letters, digits and '-' stay, and every other byte is '_' and its
// hex value ("team.data" is team_2edata, "team-data" stays). So two
// destinations never share a claim or a ledger.
func EncodeDestination(dest string) string {
	var b strings.Builder
	for i := 0; i < len(dest); i++ {
		c := dest[i]
		switch {
		case c == ':':
			b.WriteByte('.')
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

// claim claims the delivery dl of kind for the run, its chain at base: it returns the claim
// held, or why this attempt does not send (or, with a nil claim and no
// status, why it sends without one).
//
// A claim another attempt holds (its lease running) is waited for, within
// this attempt's own deadline: a second delivery of the same event then
// finds it delivered; an attempt that died holding it is taken over once
// its lease ends, or, when the lease outlasts this attempt, the delivery
// fails saying so, so that the run is retried rather than told all is
// well. Before sending what an earlier attempt may have sent (an uncertain
// or stale claim), a sink that can look (the Slack bot) looks first.
func (d *Dispatcher) claim(ctx context.Context, run delivery.Run, kind, base string, dl Delivery) (*claim, refusal) {
	lease := d.now().Add(defaultLease)
	if dl, ok := ctx.Deadline(); ok {
		// By d.now's clock, as every other attempt reads it (the deadline
		// is the machine's: a Dispatcher clock of its own would otherwise
		// see a lease just taken as long ended, and take it over).
		lease = d.now().Add(time.Until(dl))
	}
	rec := claimRecord{RunID: run.RunID, Kind: kind, Destination: dl.Destination, State: statePosting, RequestID: run.RequestID,
		Nonce: fmt.Sprintf("%016x", rand.Uint64()), At: d.now().UTC(), LeaseEnds: lease.UTC()}
	var waitEnds time.Time // by this machine's clock, when the holder's lease ends
	// ends is this attempt's deadline by d.now's clock.
	ends := time.Time{}
	if dl, ok := ctx.Deadline(); ok {
		ends = d.now().Add(time.Until(dl))
	}
	for races := 0; races < 4; {
		n, head, err := d.head(ctx, base)
		if err != nil {
			return d.unclaimed(run, base, err)
		}
		why, next := d.taken(base, head)
		if next == wait {
			if waitEnds.IsZero() {
				waitEnds = time.Now().Add(head.LeaseEnds.Add(d.leaseSkew()).Sub(d.now()))
			}
			if time.Now().After(waitEnds) {
				next = look // the lease has ended in real time (a clock that does not move)
			}
		}
		switch next {
		case refuse:
			return nil, why
		case wait:
			if !d.wait(ctx, ends) {
				return nil, refusal{delivery.StatusFailed, "held by another attempt of this run until " + head.LeaseEnds.Add(d.leaseSkew()).UTC().Format(time.RFC3339) +
					" (its lease, and " + d.leaseSkew().String() + " for the clocks), after this attempt's deadline: not sent now, so that a retry from then on sends it (if that attempt died)"}
			}
			continue
		case look:
			if why, done := d.look(ctx, base, n, rec, head, dl); done {
				return nil, why
			}
		}
		c := &claim{d: d, base: base, n: n, rec: rec}
		err = d.create(ctx, claimKey(base, n), rec)
		switch {
		case err == nil:
			return c, refusal{}
		case errors.Is(err, fs.ErrExist):
			if held, _ := d.read(ctx, claimKey(base, n)); held != nil && held.Nonce == rec.Nonce {
				return c, refusal{} // our own create, whose first answer was lost
			}
			races++ // another attempt took it first: read the chain again
		default:
			return d.unclaimed(run, base, err)
		}
	}
	return nil, refusal{delivery.StatusAlready, "another attempt of this run holds the delivery"}
}

// What an attempt does on reading a claim's head.
type step int

const (
	send   step = iota // nothing was sent, or what was sent failed: send
	refuse             // delivered, or uncertain with no way to look
	wait               // another attempt holds it
	look               // an earlier attempt may have sent it: look, then send
)

// defaultLeaseSkew is the clock difference allowed between the machines
// of two attempts when a lease ends, unless Dispatcher.LeaseSkew says
// otherwise.
const defaultLeaseSkew = 30 * time.Second

func (d *Dispatcher) leaseSkew() time.Duration {
	if d.LeaseSkew > 0 {
		return d.LeaseSkew
	}
	return defaultLeaseSkew
}

// taken says what the head of a chain leaves this attempt to do.
func (d *Dispatcher) taken(base string, head *claimRecord) (refusal, step) {
	switch {
	case head == nil || head.State == stateReleased:
		return refusal{}, send
	case head.State == stateDelivered:
		return refusal{delivery.StatusAlready, "delivered by an earlier attempt of this run (" + head.At.Format(time.RFC3339) + ")"}, refuse
	case head.State == stateUncertain:
		return refusal{delivery.StatusUncertain, "an earlier attempt of this run sent it and got no answer (" + head.At.Format(time.RFC3339) + "): it may have been delivered, and is not sent again"}, look
	case head.State == statePosting && d.now().Before(head.LeaseEnds.Add(d.leaseSkew())):
		return refusal{}, wait
	}
	d.logger().Warn("taking over a delivery claim whose attempt ended without a word", "claim", base, "state", head.State, "lease_ends", head.LeaseEnds)
	return refusal{}, look
}

// pollEvery is how often a claim held by another attempt is read again.
const pollEvery = 500 * time.Millisecond

// sendReserve is what an attempt keeps of its time to send once a claim
// it waited for is free.
const sendReserve = 40 * time.Second

// wait waits for a held claim to change or its lease to end: false when
// this attempt's deadline would come first.
func (d *Dispatcher) wait(ctx context.Context, ends time.Time) bool {
	if !ends.IsZero() && ends.Sub(d.now()) < sendReserve+pollEvery {
		return false
	}
	sleep := d.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, t time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(t):
				return nil
			}
		}
	}
	return sleep(ctx, pollEvery) == nil
}

// look is an attempt's look at the destination before it sends what an
// earlier attempt may have sent (head: uncertain, or a stale posting): it
// returns done with why it does not send, or done false to send. A sink
// that cannot look sends a stale posting (its attempt most likely died
// before or while sending: documented as the one way a webhook may get a
// report twice) and does not send an uncertain one (at most once).
func (d *Dispatcher) look(ctx context.Context, base string, n int, rec claimRecord, head *claimRecord, dl Delivery) (refusal, bool) {
	uncertain := refusal{delivery.StatusUncertain, "an earlier attempt of this run sent it and got no answer (" + head.At.Format(time.RFC3339) + "): it may have been delivered, and is not sent again"}
	if dl.Posted == nil {
		return uncertain, head.State == stateUncertain
	}
	found, err := dl.Posted(ctx, head.At.Add(-maxSkew))
	switch {
	case errors.Is(err, ErrCannotLook):
		return uncertain, head.State == stateUncertain
	case err != nil:
		d.logger().Warn("cannot look for an earlier attempt's post; not sending it again", "claim", base, "error", err)
		uncertain.detail += " (the destination's history cannot be read: " + err.Error() + ")"
		return uncertain, true
	case found:
		rec.State, rec.Detail, rec.LeaseEnds = stateDelivered, "found at the destination, posted by an earlier attempt", time.Time{}
		if err := d.create(ctx, claimKey(base, n), rec); err != nil {
			d.logger().Warn("cannot record a delivery found at the destination", "claim", base, "error", err)
		}
		return refusal{delivery.StatusAlready, "delivered by an earlier attempt of this run (found at the destination)"}, true
	}
	return refusal{}, false
}

// unclaimed is an attempt whose store takes no claim: a first attempt
// sends (nothing can have sent before it, but a second delivery of the
// same event might send too); a retry does not, as it cannot know whether
// an earlier attempt sent it.
func (d *Dispatcher) unclaimed(run delivery.Run, base string, err error) (*claim, refusal) {
	d.logger().Warn("cannot claim the delivery", "claim", base, "error", err)
	if run.Retry {
		return nil, refusal{delivery.StatusFailed, "not sent: the store takes no delivery claim (" + err.Error() + "), so a retry cannot know whether an earlier attempt sent it; fix the store's permissions"}
	}
	return nil, refusal{"", "sent without a claim: the store takes none (" + err.Error() + "); a second delivery of this event may send it again"}
}

// head probes the chain at base: the next record's number, and the last
// record (nil when there is none or it cannot be read: a stale head).
func (d *Dispatcher) head(ctx context.Context, base string) (int, *claimRecord, error) {
	var head *claimRecord
	for n := 1; n <= maxChain; n++ {
		rec, err := d.read(ctx, claimKey(base, n))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return n, head, nil
		case err != nil && !errors.Is(err, errUnreadable):
			return 0, nil, err
		}
		head = rec // nil when unreadable
	}
	return 0, nil, fmt.Errorf("claim %s: more than %d records", base, maxChain)
}

var errUnreadable = errors.New("unreadable claim record")

// read reads one record: errUnreadable when it is empty, not JSON, or
// dated ahead of the clock.
func (d *Dispatcher) read(ctx context.Context, key string) (*claimRecord, error) {
	b, err := d.Claims.Get(ctx, key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		var tl interface{ TooLarge() bool }
		if errors.As(err, &tl) && tl.TooLarge() {
			return nil, errUnreadable // a store's "too large": more than any claim
		}
		return nil, err
	}
	var rec claimRecord
	if json.Unmarshal(b, &rec) != nil || rec.State == "" || rec.At.After(d.now().Add(maxSkew)) {
		return nil, errUnreadable
	}
	return &rec, nil
}

func (d *Dispatcher) create(ctx context.Context, key string, rec claimRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return d.Claims.Create(ctx, key, data)
}

// settle records what became of the send, in a record of its own, with a
// short context of its own: the attempt's may have ended (a post that hung
// until the deadline must still give its claim back).
func (c *claim) settle(ctx context.Context, state, detail string) {
	if c == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec := c.rec
	rec.State, rec.At, rec.Detail, rec.LeaseEnds = state, c.d.now().UTC(), detail, time.Time{}
	if err := c.d.create(sctx, claimKey(c.base, c.n+1), rec); err != nil {
		c.d.logger().Warn("cannot record what became of the delivery; its claim is stale once its lease ends", "claim", c.base, "state", state, "error", err)
	}
}
