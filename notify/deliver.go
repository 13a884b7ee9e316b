package notify

import (
	"context"
	"errors"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// Notifier plans what a run tells, and where: one Delivery per
// destination (a channel, a route's webhook, an owner's direct messages, a
// JSON webhook). It decides what each destination gets (the report of its
// slice, whether there is anything to say); the Dispatcher claims each
// delivery before sending it, so that a retry, or a second delivery of the
// same event, sends only what has not gone out yet.
type Notifier interface {
	// Deliveries are the report of s to each destination; loc says where
	// the snapshot and its page were written; l says what each destination
	// was last told (nil: compare with the previous audit).
	Deliveries(s *audit.Snapshot, loc delivery.Locations, l Ledger) []Delivery
	// FailureDeliveries are a short notice of a run that could not do its
	// job.
	FailureDeliveries(f delivery.FailureNotice) []Delivery
}

// Delivery is one message to one destination.
type Delivery struct {
	// Destination names where it goes, stably from run to run ("slack",
	// "slack:route:team-data", "slack:owner:U012AB3CD", "webhook:tickets"):
	// the delivery's claim is named after it. It never holds a secret.
	Destination string
	// Skip, when set, says why nothing goes there this run.
	Skip string
	// Send sends it, retrying what can succeed on retry. An
	// *UncertainError says the request went out and no answer came.
	Send func(ctx context.Context) error
	// Posted, when set, looks at the destination for this delivery's
	// message posted since a time (the Slack bot reads the channel's
	// history): a retry looks before it sends what an earlier attempt may
	// have sent.
	Posted func(ctx context.Context, since time.Time) (bool, error)
	// Parts, when set (instead of Send), are sent one by one, each claimed
	// and recorded on its own, across runs (a JSON webhook in events mode:
	// one post per finding event): a part delivered is never sent again,
	// one that failed is sent by the next attempt, one that went out with
	// no answer is not sent again blindly.
	Parts []Part
	// Tells are the marks for deletion (audit.RetireMark.Key) whose notice
	// the delivery carries: once it is delivered, they are told.
	Tells []string
}

// Part is one part of a delivery sent on its own.
type Part struct {
	// ID names the part, the same in every run that sends it (an event's
	// ID): its claim is named after it and the destination.
	ID   string
	Send func(ctx context.Context) error
}

// Splitter is a Sender that sends a report in parts (a JSON webhook in
// events mode): Parts are the report's, none when there is nothing to
// send.
type Splitter interface {
	Sender
	Parts(r *Report) ([]Part, error)
}

// Looker is a Sender that can look at its destination for a message it
// posted (the Slack bot, in the channel's history, by the message's
// metadata): the run's id and the destination.
type Looker interface {
	// Posted returns ErrCannotLook when this destination cannot be looked
	// at (a webhook).
	Posted(ctx context.Context, runID, destination string, since time.Time) (bool, error)
}

// ErrCannotLook says a destination cannot be looked at.
var ErrCannotLook = errors.New("the destination cannot be looked at")
