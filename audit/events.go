package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The types of a finding's events: its lifecycle, as a ticket system
// follows it (one ticket per fingerprint, closed on EventResolved).
const (
	EventOpened    = "finding.opened"
	EventEscalated = "finding.escalated"
	EventResolved  = "finding.resolved"
	EventReopened  = "finding.reopened"
)

// Event is one step of a finding's lifecycle, from a run's changes: a
// finding opened (first seen), escalated (a nearer expiry stage, a higher
// severity, or expired after expiring), resolved (How says how) or
// reopened (back after it was resolved).
type Event struct {
	// ID names the event, the same in every run that tells it (a report
	// that failed is told again by the next run): a receiver deduplicates
	// by it.
	ID          string       `json:"id"`
	Type        string       `json:"type"`
	Fingerprint string       `json:"fingerprint"`
	Token       EventToken   `json:"token"`
	Gateway     EventGateway `json:"gateway"`
	Rule        Rule         `json:"rule"`
	Severity    *Severity    `json:"severity,omitempty"`
	Stage       string       `json:"stage,omitempty"`
	// From is what an escalated finding was; its fingerprint differs when
	// the rule changed (expiring, now expired).
	From *EventFrom `json:"from,omitempty"`
	// How a resolved finding ended (fixed, suppressed, snoozed,
	// outOfScope, tokenDeleted), and the suppression's reason.
	How    string `json:"how,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Message is the finding's, for a finding that is open.
	Message string `json:"message,omitempty"`
	// FirstSeen is when the finding was first seen (at least then, with
	// FirstSeenAtLeast); Reopened how often it came back.
	FirstSeen        *time.Time `json:"firstSeen,omitempty"`
	FirstSeenAtLeast bool       `json:"firstSeenAtLeast,omitempty"`
	Reopened         int        `json:"reopened,omitempty"`
	// Owner is the token's creator, when known.
	Owner string `json:"owner,omitempty"`
	// At is the audit that saw it.
	At time.Time `json:"at"`
}

// EventToken is the token of an event (never its value).
type EventToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// EventGateway is the gateway of an event.
type EventGateway struct {
	AccountID     string `json:"accountId,omitempty"`
	AccountName   string `json:"accountName,omitempty"`
	Region        string `json:"region"`
	WorkspaceID   string `json:"workspaceId"`
	WorkspaceName string `json:"workspaceName,omitempty"`
	ID            string `json:"id"`
	Name          string `json:"name,omitempty"`
	Kind          string `json:"kind"`
}

// EventFrom is what an escalated finding was.
type EventFrom struct {
	Rule        Rule      `json:"rule"`
	Severity    *Severity `json:"severity,omitempty"`
	Stage       string    `json:"stage,omitempty"`
	Fingerprint string    `json:"fingerprint"`
}

// Events are the events of s's changes, in the order opened and
// reopened, escalated, resolved (then removed tokens' findings): what a
// destination whose view s is has not been told. A change of a gateway
// that failed (unknown) is no event; nor is a removed token that had no
// finding.
func Events(s *Snapshot) []Event {
	c := s.Changes
	if c == nil {
		return []Event{}
	}
	idx := indexEvents(s)
	out := make([]Event, 0, len(c.New)+len(c.Escalated)+len(c.Resolved)+len(c.Removed))
	for i := range c.New {
		typ := EventOpened
		if c.New[i].Reopened > 0 {
			typ = EventReopened
		}
		out = append(out, idx.event(typ, &c.New[i], s.AuditedAt))
	}
	for i := range c.Escalated {
		ch := &c.Escalated[i]
		e := idx.event(EventEscalated, ch, s.AuditedAt)
		from := EventFrom{Rule: ch.From, Severity: ch.FromSeverity, Stage: ch.FromStage, Fingerprint: Fingerprint(ch.Ref(), ch.TokenID, ch.From)}
		e.From = &from
		out = append(out, e)
	}
	for _, l := range [][]Change{c.Resolved, c.Removed} {
		for i := range l {
			if l[i].Rule == "" {
				continue
			}
			e := idx.event(EventResolved, &l[i], s.AuditedAt)
			e.How, e.Reason, e.Message = l[i].How, l[i].Suppressed, ""
			out = append(out, e)
		}
	}
	return out
}

// EventID names the event of type typ of a finding: its fingerprint, the
// occurrence (reopened) and, for an escalation, the stage and rule it
// reached.
func EventID(typ, fingerprint string, reopened int, stage string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{"livy-token-audit event v1", typ, fingerprint, strconv.Itoa(reopened), stage}, "\x00")))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// eventIndex finds a change's gateway and open finding in the snapshot.
type eventIndex map[string]*GatewayReport

func indexEvents(s *Snapshot) eventIndex {
	idx := eventIndex{}
	for i := range s.Gateways {
		idx[s.Gateways[i].Ref().Key()] = &s.Gateways[i]
	}
	return idx
}

func (idx eventIndex) event(typ string, ch *Change, at time.Time) Event {
	e := Event{Type: typ, Fingerprint: ch.Fingerprint, Token: EventToken{ID: ch.TokenID, Name: ch.Name}, Rule: ch.Rule, Stage: ch.Stage,
		FirstSeen: ch.FirstSeen, FirstSeenAtLeast: ch.FirstSeenAtLeast, Reopened: ch.Reopened, Owner: ch.CreatedBy, At: at.UTC(),
		Gateway: EventGateway{AccountID: ch.AccountID, AccountName: ch.AccountName, Region: ch.Region, WorkspaceID: ch.WorkspaceID, ID: ch.GatewayID, Kind: KindOf(ch.Kind)}}
	if e.Fingerprint == "" {
		e.Fingerprint = Fingerprint(ch.Ref(), ch.TokenID, ch.Rule)
	}
	e.Severity = ch.Severity
	if g, ok := idx[ch.Ref().Key()]; ok {
		e.Gateway.WorkspaceName, e.Gateway.Name = g.WorkspaceName, g.GatewayName
		if typ != EventResolved {
			for _, t := range g.Tokens {
				if t.TokenID != ch.TokenID {
					continue
				}
				for _, f := range t.Findings {
					if f.Rule == ch.Rule {
						e.Message = f.Message
					}
				}
			}
		}
	}
	e.ID = EventID(typ, e.Fingerprint, e.Reopened, escalationStep(typ, ch))
	return e
}

// escalationStep tells one escalation of a finding from another: the
// stage it reached and its severity.
func escalationStep(typ string, ch *Change) string {
	if typ != EventEscalated {
		return ""
	}
	sev := ""
	if ch.Severity != nil {
		sev = ch.Severity.String()
	}
	return ch.Stage + "/" + sev
}
