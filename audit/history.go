package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// HistoryKey is where the summaries of the last full audits are kept,
// beside latest.json; the report's trend is drawn from it.
const HistoryKey = "history.json"

// HistoryMax is how many full audits history.json keeps.
const HistoryMax = 30

// History is the summaries of the last HistoryMax full audits, oldest
// first. It moves forward like latest.json: only real audits of the whole
// scope join it.
type History struct {
	SchemaVersion int            `json:"schemaVersion"`
	Runs          []HistoryEntry `json:"runs"`
}

// HistoryEntry summarises one full audit.
type HistoryEntry struct {
	RunID          string       `json:"runId"`
	AuditedAt      time.Time    `json:"auditedAt"`
	Verdict        Verdict      `json:"verdict"`
	Gateways       int          `json:"gateways"`
	GatewaysFailed int          `json:"gatewaysFailed"`
	Tokens         int          `json:"tokens"`
	Errors         int          `json:"errors"`
	Findings       map[Rule]int `json:"findings"`
	// Lifecycle is what the run saw happen to findings (absent in entries
	// of earlier releases, and of a first run).
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`
}

// EntryOf summarises a snapshot.
func EntryOf(s *Snapshot) HistoryEntry {
	return HistoryEntry{RunID: s.RunID, AuditedAt: s.AuditedAt, Verdict: s.Verdict, Gateways: s.Summary.Gateways,
		GatewaysFailed: s.Summary.GatewaysFailed, Tokens: s.Summary.Tokens, Errors: s.Summary.Errors, Findings: s.Summary.Findings,
		Lifecycle: LifecycleOf(s)}
}

// Next is the history with s added (replacing an entry of the same run),
// kept to the last HistoryMax, in audit-time order. h may be nil.
func (h *History) Next(s *Snapshot) *History {
	next := &History{SchemaVersion: SchemaVersion}
	if h != nil {
		for _, e := range h.Runs {
			if e.RunID != s.RunID && e.AuditedAt.Before(s.AuditedAt) {
				next.Runs = append(next.Runs, e)
			}
		}
	}
	next.Runs = append(next.Runs, EntryOf(s))
	if n := len(next.Runs); n > HistoryMax {
		next.Runs = next.Runs[n-HistoryMax:]
	}
	return next
}

// ReadHistory decodes history.json; another schema version is an error.
func ReadHistory(b []byte) (*History, error) {
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("not a history: %w", err)
	}
	if err := checkVersion(h.SchemaVersion); err != nil {
		return nil, err
	}
	if len(h.Runs) > HistoryMax {
		h.Runs = h.Runs[len(h.Runs)-HistoryMax:]
	}
	return &h, nil
}

// Write writes the history as JSON.
func (h *History) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(h)
}
