package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Changes says what changed since the previous snapshot.
type Changes struct {
	// Previous is the snapshot compared against; nil on a first run.
	Previous *PreviousRef `json:"previous"`
	// PreviousError says why the previous snapshot could not be used; the
	// run then counts as a first run.
	PreviousError string `json:"previousError,omitempty"`
	// Overdue is set when the previous audit is older than twice the
	// expected schedule (schedule.expectEvery).
	Overdue   *Overdue `json:"overdue,omitempty"`
	New       []Change `json:"new"`
	Escalated []Change `json:"escalated"`
	Resolved  []Change `json:"resolved"`
	Removed   []Change `json:"removed"`
	Unknown   []Change `json:"unknown"`
}

// PreviousRef names the snapshot compared against.
type PreviousRef struct {
	Key       string    `json:"key"`
	AuditedAt time.Time `json:"auditedAt"`
}

// Overdue is the dead-man's switch: the previous audit came too long ago.
type Overdue struct {
	PreviousAuditedAt time.Time `json:"previousAuditedAt"`
	ExpectEvery       string    `json:"expectEvery"`
	Message           string    `json:"message"`
}

// Change is one finding that changed. For escalated findings From and
// FromSeverity hold the previous rule and severity. Rule is empty for a
// removed token that had no findings.
type Change struct {
	Region       string    `json:"region"`
	WorkspaceID  string    `json:"workspaceId"`
	GatewayID    string    `json:"gatewayId"`
	TokenID      string    `json:"tokenId"`
	Name         string    `json:"name"`
	Rule         Rule      `json:"rule"`
	Severity     *Severity `json:"severity,omitempty"`
	From         Rule      `json:"from,omitempty"`
	FromSeverity *Severity `json:"fromSeverity,omitempty"`
}

// ChangeCounts counts each kind of change.
type ChangeCounts struct {
	New       int `json:"new"`
	Escalated int `json:"escalated"`
	Resolved  int `json:"resolved"`
	Removed   int `json:"removed"`
	Unknown   int `json:"unknown"`
}

// Counts returns how many changes of each kind c holds.
func (c *Changes) Counts() ChangeCounts {
	return ChangeCounts{New: len(c.New), Escalated: len(c.Escalated), Resolved: len(c.Resolved), Removed: len(c.Removed), Unknown: len(c.Unknown)}
}

// Total is the number of changes of any kind.
func (c ChangeCounts) Total() int { return c.New + c.Escalated + c.Resolved + c.Removed + c.Unknown }

// escalates lists rule transitions that are escalations whatever the
// severities say: a token that was expiring and is now expired.
var escalates = map[[2]Rule]bool{{RuleExpiring, RuleExpired}: true, {RuleStale, RuleExpired}: true, {RuleUnused, RuleExpired}: true}

// Compare records in cur what changed since prev (nil for a first run) and
// sets cur.Summary.Changes. prevKey names where prev was read from;
// prevErr, when not nil, says why a previous snapshot could not be used.
// expectEvery, when positive, turns on the overdue check.
func Compare(cur, prev *Snapshot, prevKey string, prevErr error, expectEvery time.Duration) {
	ch := &Changes{New: []Change{}, Escalated: []Change{}, Resolved: []Change{}, Removed: []Change{}, Unknown: []Change{}}
	cur.Changes = ch
	defer func() {
		n := ch.Counts()
		cur.Summary.Changes = &n
	}()
	if prevErr != nil {
		ch.PreviousError = prevErr.Error()
	}
	if prev == nil {
		for _, g := range cur.Gateways {
			for _, t := range g.Tokens {
				for _, f := range t.Findings {
					ch.New = append(ch.New, change(g, t.TokenID, t.Name, f))
				}
			}
		}
		return
	}
	ch.Previous = &PreviousRef{Key: prevKey, AuditedAt: prev.AuditedAt}
	if expectEvery > 0 && cur.AuditedAt.Sub(prev.AuditedAt) > 2*expectEvery {
		ch.Overdue = &Overdue{
			PreviousAuditedAt: prev.AuditedAt, ExpectEvery: FormatDuration(expectEvery),
			Message: fmt.Sprintf("previous audit %s — expected every %s", Ago(cur.AuditedAt.Sub(prev.AuditedAt)), FormatDuration(expectEvery)),
		}
	}
	prevGW := map[string]GatewayReport{}
	for _, g := range prev.Gateways {
		prevGW[g.Ref().Key()] = g
	}
	seen := map[string]bool{}
	for _, g := range cur.Gateways {
		key := g.Ref().Key()
		seen[key] = true
		pg, had := prevGW[key]
		if g.Error != nil {
			if had && pg.Error == nil {
				for _, t := range pg.Tokens {
					for _, f := range t.Findings {
						ch.Unknown = append(ch.Unknown, change(g, t.TokenID, t.Name, f))
					}
				}
			}
			continue
		}
		both := had && pg.Error == nil
		prevTok := map[string]TokenReport{}
		if both {
			for _, t := range pg.Tokens {
				prevTok[t.TokenID] = t
			}
		}
		for _, t := range g.Tokens {
			pt, ok := prevTok[t.TokenID]
			delete(prevTok, t.TokenID)
			compareToken(ch, g, t, pt.Findings, ok)
		}
		for _, pt := range prevTok { // tokens gone from a gateway audited both times
			if len(pt.Findings) == 0 {
				ch.Removed = append(ch.Removed, Change{Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID, TokenID: pt.TokenID, Name: pt.Name})
			}
			for _, f := range pt.Findings {
				ch.Removed = append(ch.Removed, change(g, pt.TokenID, pt.Name, f))
			}
		}
	}
	for key, pg := range prevGW { // gateways not audited this time: their fate is unknown
		if seen[key] || pg.Error != nil {
			continue
		}
		for _, t := range pg.Tokens {
			for _, f := range t.Findings {
				ch.Unknown = append(ch.Unknown, change(pg, t.TokenID, t.Name, f))
			}
		}
	}
	for _, list := range []*[]Change{&ch.New, &ch.Escalated, &ch.Resolved, &ch.Removed, &ch.Unknown} {
		slices.SortFunc(*list, func(a, b Change) int {
			return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID),
				cmp.Compare(a.GatewayID, b.GatewayID), cmp.Compare(a.Name, b.Name), cmp.Compare(a.TokenID, b.TokenID), cmp.Compare(a.Rule, b.Rule))
		})
	}
}

func compareToken(ch *Changes, g GatewayReport, t TokenReport, prev []Finding, hadToken bool) {
	prevBy := map[Rule]Finding{}
	for _, f := range prev {
		prevBy[f.Rule] = f
	}
	for _, f := range t.Findings {
		if pf, ok := prevBy[f.Rule]; ok {
			delete(prevBy, f.Rule)
			if f.Severity > pf.Severity {
				c := change(g, t.TokenID, t.Name, f)
				c.From, c.FromSeverity = pf.Rule, &pf.Severity
				ch.Escalated = append(ch.Escalated, c)
			}
			continue
		}
		escalated := false
		for _, pf := range prev {
			if _, still := prevBy[pf.Rule]; still && escalates[[2]Rule{pf.Rule, f.Rule}] {
				delete(prevBy, pf.Rule)
				c := change(g, t.TokenID, t.Name, f)
				c.From, c.FromSeverity = pf.Rule, &pf.Severity
				ch.Escalated = append(ch.Escalated, c)
				escalated = true
				break
			}
		}
		if !escalated {
			ch.New = append(ch.New, change(g, t.TokenID, t.Name, f))
		}
	}
	if hadToken {
		for _, pf := range prev {
			if _, left := prevBy[pf.Rule]; left {
				ch.Resolved = append(ch.Resolved, change(g, t.TokenID, t.Name, pf))
			}
		}
	}
}

func change(g GatewayReport, tokenID, name string, f Finding) Change {
	sev := f.Severity
	return Change{Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID, TokenID: tokenID, Name: name, Rule: f.Rule, Severity: &sev}
}
