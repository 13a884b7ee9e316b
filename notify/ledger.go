package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// The delivery ledger records, per destination, the last audit whose
// report reached it: ledger/{destination}.json (the destination encoded as
// in claims), beside the snapshots. A destination is then told what it has
// not yet been told: its report's changes are compared with the audit it
// last had a report of, not with the previous audit — so a change whose
// report failed (Slack down on the day a token expired) is carried to the
// next report, for the main report, each route and each owner alike, and an
// expiry stage is told once.
//
// A ledger moves when its destination's report is delivered, or when there
// was nothing to tell it (a skip); never backwards: a run older than the
// audit a destination was last told of (a late retry, an ad-hoc -now in
// the past) is compared with the previous audit, as its snapshot is. A failed or uncertain
// post leaves it where it was. Only full runs use it: a narrowed run is
// compared with the previous audit as before, and moves no ledger.
//
// When a ledger is lost (deleted, unreadable), or the snapshot it names is
// gone, the next report to that destination says so and tells everything
// once, as on a first audit. A new destination is told everything once too.

// ledgerDir holds the ledgers.
const ledgerDir = "ledger/"

// LedgerKey is the key of a destination's ledger.
func LedgerKey(dest string) string { return ledgerDir + EncodeDestination(dest) + ".json" }

// ledgerEntry is a destination's ledger: the last audit whose report
// reached it.
type ledgerEntry struct {
	SchemaVersion int    `json:"schemaVersion"`
	Destination   string `json:"destination"`
	// Key and AuditedAt name the audit's snapshot.
	Key        string    `json:"key"`
	AuditedAt  time.Time `json:"auditedAt"`
	RunID      string    `json:"runId"`
	RecordedAt time.Time `json:"recordedAt"`
}

// maxLedger bounds a ledger's size.
const maxLedger = 4 << 10

// Told is what a destination was last told, from its ledger.
type Told struct {
	// Base is the state of the audit the destination last had a report
	// of, when that is not the audit the snapshot's changes compare with;
	// nil otherwise.
	Base *audit.Baseline
	// Lost, when set, says why what the destination was told is not known:
	// it is told everything once.
	Lost string
}

// Ledger says what each destination was last told. A nil Ledger (a
// preview, a narrowed run) compares every destination with the previous
// audit.
type Ledger interface {
	Told(dest string) Told
}

// ledger reads and moves the ledgers of one run's deliveries.
type ledger struct {
	d   *Dispatcher
	ctx context.Context
	run delivery.Run
	s   *audit.Snapshot
	// entries caches the ledgers read; bases the baselines rebuilt from the
	// snapshots they name.
	entries map[string]*ledgerEntry
	bases   map[string]Told
}

func (d *Dispatcher) ledger(ctx context.Context, run delivery.Run, s *audit.Snapshot) *ledger {
	if !run.Ledger || d.Claims == nil || s.Verdict == audit.VerdictFailed {
		return nil
	}
	return &ledger{d: d, ctx: ctx, run: run, s: s, entries: map[string]*ledgerEntry{}, bases: map[string]Told{}}
}

// Told reads dest's ledger.
func (l *ledger) Told(dest string) Told {
	e, err := l.read(dest)
	var prev string
	if c := l.s.Changes; c != nil && c.Previous != nil {
		prev = c.Previous.Key
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !l.run.Ledgered:
		// The previous audit's release kept no ledgers (or there was none):
		// the previous audit is what every destination was told.
		return Told{}
	case errors.Is(err, fs.ErrNotExist):
		return Told{Lost: "no earlier report to this destination is recorded (" + LedgerKey(dest) + ")"}
	case errors.Is(err, errLedgerUnreadable):
		return Told{Lost: "the record of the last report to this destination is unreadable (" + LedgerKey(dest) + ")"}
	case err != nil:
		// The store failing: the previous audit is the best guess; said in
		// the log.
		l.d.logger().Warn("delivery ledger unreadable; compared with the previous audit", "destination", dest, "error", err)
		return Told{}
	case e.Key == prev || !e.AuditedAt.Before(l.s.AuditedAt):
		// Told of the audit this one compares with, or of this one or a
		// later one (a late run, an ad-hoc -now in the past): compared with
		// the previous audit, as the snapshot is; the ledger stays.
		return Told{}
	}
	return l.base(e)
}

// errLedgerUnreadable marks a ledger that was read but is no use.
var errLedgerUnreadable = errors.New("unreadable ledger")

func (l *ledger) read(dest string) (*ledgerEntry, error) {
	if e, ok := l.entries[dest]; ok {
		return e, nil
	}
	b, err := l.d.Claims.Get(l.ctx, LedgerKey(dest))
	if err != nil {
		return nil, err
	}
	// A ledger names the dated snapshot of a full run (only full runs move
	// ledgers): anything else (baseline.json, a narrowed run's snapshot) is
	// a lost ledger, never read as what the destination was told.
	var e ledgerEntry
	if len(b) > maxLedger || json.Unmarshal(b, &e) != nil || e.Destination != dest || e.Key != audit.SnapshotKey(e.AuditedAt) ||
		e.AuditedAt.After(l.d.now().Add(maxSkew)) {
		return nil, fmt.Errorf("read %s: %w", LedgerKey(dest), errLedgerUnreadable)
	}
	l.entries[dest] = &e
	return &e, nil
}

// base rebuilds the state of the audit e names, from its snapshot (and,
// for the gateways that failed in it, the snapshots before it), once per
// audit.
func (l *ledger) base(e *ledgerEntry) Told {
	if t, ok := l.bases[e.Key]; ok {
		return t
	}
	get := func(key string) (*audit.Snapshot, error) {
		b, err := l.d.Claims.Get(l.ctx, key)
		if err != nil {
			return nil, err
		}
		return audit.ReadSnapshot(b)
	}
	var t Told
	if s, err := get(e.Key); err != nil {
		t.Lost = "the snapshot of the last report to this destination, " + e.Key + ", cannot be read"
		l.d.logger().Warn("delivery ledger names a snapshot that cannot be read; everything is told once", "key", e.Key, "error", err)
	} else {
		t.Base = audit.RebuildBaseline(s, func(key string) (*audit.Snapshot, bool) {
			s, err := get(key)
			return s, err == nil
		}, rebuildHops)
	}
	l.bases[e.Key] = t
	return t
}

// rebuildHops bounds how far back a rebuilt state follows the gateways
// that failed in the audit a ledger names.
const rebuildHops = 5

// record moves dest's ledger to this run, unless it names a later audit.
// It uses a context of its own: the run's may be about to end.
func (l *ledger) record(ctx context.Context, dest string) error {
	if l == nil {
		return nil
	}
	if e, err := l.read(dest); err == nil && !e.AuditedAt.Before(l.s.AuditedAt) {
		return nil // already here, or later
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e := ledgerEntry{SchemaVersion: audit.SchemaVersion, Destination: dest, Key: l.run.Key, AuditedAt: l.s.AuditedAt.UTC(),
		RunID: l.run.RunID, RecordedAt: l.d.now().UTC()}
	err := l.d.Claims.Put(sctx, LedgerKey(dest), func(w io.Writer) error { return json.NewEncoder(w).Encode(e) })
	if err != nil {
		return fmt.Errorf("record %s: %w", LedgerKey(dest), err)
	}
	l.entries[dest] = &e
	return nil
}
