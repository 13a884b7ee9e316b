package webhook

import (
	"encoding/json"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
)

// SchemaVersion is the version of the body's format: fields are added,
// never renamed.
const SchemaVersion = 1

// reportBody is a post's body for a run's report.
type reportBody struct {
	SchemaVersion int            `json:"schemaVersion"`
	Event         string         `json:"event"`
	Tool          audit.Tool     `json:"tool"`
	RunID         string         `json:"runId"`
	AuditedAt     time.Time      `json:"auditedAt"`
	Destination   string         `json:"destination"`
	Coverage      coverage       `json:"coverage"`
	Summary       audit.Summary  `json:"summary"`
	Changes       *audit.Changes `json:"changes"`
	// ChangesNote says what the changes are compared with when it is not
	// the previous audit: the last audit reported to this destination (a
	// report failed in between), or why that is not known.
	ChangesNote string             `json:"changesNote,omitempty"`
	Tokens      []notify.TokenLine `json:"tokens"`
	// TokensOmitted counts the flagged tokens left out to keep the body
	// within MaxBodyBytes (the least urgent ones).
	TokensOmitted int              `json:"tokensOmitted"`
	Failures      []notify.Failure `json:"failures"`
	Links         links            `json:"links"`
	// Events are the findings' lifecycle events this destination has not
	// been told (audit.Events); EventsOmitted counts those left out to
	// keep the body within MaxBodyBytes (mode: events posts each alone).
	Events        []audit.Event `json:"events"`
	EventsOmitted int           `json:"eventsOmitted"`
}

// eventBody is a post's body for one finding event (mode: events), in
// the shape the Standard Webhooks specification suggests: type,
// timestamp, data.
type eventBody struct {
	SchemaVersion int         `json:"schemaVersion"`
	Type          string      `json:"type"`
	Timestamp     time.Time   `json:"timestamp"`
	Event         string      `json:"event"`
	Tool          audit.Tool  `json:"tool"`
	RunID         string      `json:"runId"`
	Destination   string      `json:"destination"`
	Data          audit.Event `json:"data"`
	Links         links       `json:"links"`
}

// coverage is what the slice covers, in counts and in words.
type coverage struct {
	Verdict         audit.Verdict `json:"verdict"`
	Gateways        int           `json:"gateways"`
	GatewaysAudited int           `json:"gatewaysAudited"`
	GatewaysFailed  int           `json:"gatewaysFailed"`
	ListingsFailed  int           `json:"listingsFailed"`
	Text            string        `json:"text"`
}

type links struct {
	Snapshot string `json:"snapshot"`
	Page     string `json:"page,omitempty"`
}

// failureBody is a post's body for a run that could not do its job.
type failureBody struct {
	SchemaVersion int        `json:"schemaVersion"`
	Event         string     `json:"event"`
	Tool          audit.Tool `json:"tool"`
	RunID         string     `json:"runId"`
	AuditedAt     time.Time  `json:"auditedAt"`
	Destination   string     `json:"destination"`
	Failure       failure    `json:"failure"`
}

type failure struct {
	Cause string `json:"cause"`
}

// Render returns the body of a report to destination: the flagged tokens
// of its slice (those with an active finding) in the digest's needs-action
// order — the most severe first, then the soonest to break — with their
// gateway's fields and findings as in the NDJSON export; within
// MaxBodyBytes.
func Render(r *notify.Report, destination string) ([]byte, error) {
	s := r.Snapshot
	b := reportBody{SchemaVersion: SchemaVersion, Event: "report", Tool: s.Tool, RunID: s.RunID, AuditedAt: s.AuditedAt, Destination: destination,
		Coverage: coverage{Verdict: s.Verdict, Gateways: s.Summary.Gateways, GatewaysAudited: s.Summary.Audited(), GatewaysFailed: s.Summary.GatewaysFailed,
			ListingsFailed: s.Summary.Errors, Text: r.CoverageLine},
		Summary: s.Summary, Changes: s.Changes, Tokens: []notify.TokenLine{}, Failures: r.Failures,
		Links: links{Snapshot: r.Locations.Snapshot, Page: r.Locations.Page}}
	if b.Failures == nil {
		b.Failures = []notify.Failure{}
	}
	if s.Changes != nil {
		b.ChangesNote = s.Changes.Note
	}
	flagged := make([]notify.TokenLine, len(r.NeedsAction))
	for i, a := range r.NeedsAction {
		flagged[i] = notify.LineOf(s, a.Gateway, *a.Token)
	}
	b.Events = []audit.Event{}
	base, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	size := len(base)
	// The events first (a ticket system acts on them), then the tokens.
	if b.Events, size, err = within(r.Events, size); err != nil {
		return nil, err
	}
	b.EventsOmitted = len(r.Events) - len(b.Events)
	if b.Tokens, _, err = within(flagged, size); err != nil {
		return nil, err
	}
	b.TokensOmitted = len(flagged) - len(b.Tokens)
	return json.Marshal(b)
}

// within is the first of items that fit in MaxBodyBytes beside size bytes
// already taken, and the size then.
func within[T any](items []T, size int) ([]T, int, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		line, err := json.Marshal(it)
		if err != nil {
			return nil, 0, err
		}
		if size+len(line)+1 > MaxBodyBytes {
			break
		}
		size += len(line) + 1
		out = append(out, it)
	}
	return out, size, nil
}

// RenderEvent returns the body of one finding event to destination.
func RenderEvent(r *notify.Report, destination string, e audit.Event) ([]byte, error) {
	s := r.Snapshot
	return json.Marshal(eventBody{SchemaVersion: SchemaVersion, Type: e.Type, Timestamp: e.At, Event: e.Type, Tool: s.Tool, RunID: s.RunID,
		Destination: destination, Data: e, Links: links{Snapshot: r.Locations.Snapshot, Page: r.Locations.Page}})
}
