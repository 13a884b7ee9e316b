// Package delivery is the contract between one run and the delivery of
// its reports: the plain values a run hands over (its names, where its
// snapshot and page are, the notice of a run that could not do its job)
// and gets back (what became of each destination). It stands on the
// standard library and the domain, so that the run (audit/run) needs no
// sink: notify implements the Notifier the run defines.
package delivery

import (
	"time"

	"livy-token-audit/audit"
)

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
	// Ledger turns on the delivery ledger (a full run): each destination is
	// told what it has not been told, and its ledger moves once it has.
	Ledger bool
	// Ledgered says that the previous audit's release kept ledgers: a
	// destination without one is then new, or lost its ledger, and is told
	// everything once.
	Ledgered bool
}

// Locations say where a run's snapshot and report page are, for people
// (paths or URLs, never with credentials). Page is empty when no page was
// written.
type Locations struct {
	Snapshot string
	Page     string
}

// FailureNotice says that a run could not do its job, and why.
type FailureNotice struct {
	// Tool names the program that ran (it may be empty when the config
	// could not be read).
	Tool      audit.Tool
	RunID     string
	AuditedAt time.Time
	Trigger   audit.Trigger
	// Cause is one line that names the cause (the config key and line, the
	// store's error), never a secret.
	Cause string
}

// Outcome is what became of a run's reports.
type Outcome struct {
	Deliveries []Result
	// Notified is true when something was delivered and nothing failed.
	Notified bool
	// Skipped says why nothing was sent, when nothing was.
	Skipped string
	// Errs names each destination that failed.
	Errs []error
	// Told are the marks for deletion (audit.RetireMark.Key) whose notice
	// a delivered report carried, sorted: a notice no destination took is
	// told again by the next run (and a deletion waits for it).
	Told []string
}

// Result is what became of one delivery.
type Result struct {
	Destination string `json:"destination"`
	// Status is delivered, skipped, already (delivered by an earlier
	// attempt or another delivery of the same event), uncertain (sent, no
	// answer: not sent again) or failed.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// The statuses of a delivery.
const (
	StatusDelivered = "delivered"
	StatusSkipped   = "skipped"
	StatusAlready   = "already"
	StatusFailed    = "failed"
	// StatusUncertain is a delivery whose request went out whole but whose
	// answer never came: it may have been delivered, and it is not sent
	// again blindly.
	StatusUncertain = "uncertain"
)
