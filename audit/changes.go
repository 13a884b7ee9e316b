package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Changes says what changed since the baseline: for each gateway, the last
// run that audited it.
type Changes struct {
	// Previous is the last real audit, whose baseline is compared against;
	// nil on a first run.
	Previous *PreviousRef `json:"previous"`
	// PreviousError says why no baseline could be used; the run then counts
	// as a first run.
	PreviousError string `json:"previousError,omitempty"`
	// Note, set on the changes compared for one destination (never
	// written to the snapshot), says what they are compared with: the last
	// report that reached it, or why that is not known.
	Note string `json:"-"`
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
	AccountID    string    `json:"accountId,omitempty"`
	AccountName  string    `json:"accountName,omitempty"`
	Region       string    `json:"region"`
	WorkspaceID  string    `json:"workspaceId"`
	GatewayID    string    `json:"gatewayId"`
	TokenID      string    `json:"tokenId"`
	Name         string    `json:"name"`
	Rule         Rule      `json:"rule"`
	Severity     *Severity `json:"severity,omitempty"`
	From         Rule      `json:"from,omitempty"`
	FromSeverity *Severity `json:"fromSeverity,omitempty"`
	// Suppressed is, for a resolved finding that is now suppressed rather
	// than gone, the suppression's reason ("snoozed by <@U…> until …" for
	// a snooze from Slack).
	Suppressed string `json:"suppressed,omitempty"`
	// Stage and FromStage are an expiring finding's stages, when
	// rules.expiryStages is set: entering a nearer stage is an escalation.
	Stage     string `json:"stage,omitempty"`
	FromStage string `json:"fromStage,omitempty"`
	// Since is when the gateway was last audited, when that is before the
	// previous audit (it could not be audited in between).
	Since *time.Time `json:"since,omitempty"`
	// Kind is the gateway's kind when it is not livy.
	Kind string `json:"kind,omitempty"`
	// Fingerprint names the finding (audit.Fingerprint); FirstSeen,
	// FirstSeenAtLeast and Reopened are its lifecycle (Finding's), for a
	// resolved one as the baseline had them.
	Fingerprint      string     `json:"fingerprint,omitempty"`
	FirstSeen        *time.Time `json:"firstSeen,omitempty"`
	FirstSeenAtLeast bool       `json:"firstSeenAtLeast,omitempty"`
	Reopened         int        `json:"reopened,omitempty"`
	// How says how a resolved or removed finding ended: HowFixed,
	// HowSuppressed, HowSnoozed, HowOutOfScope, HowTokenDeleted.
	How string `json:"how,omitempty"`
	// CreatedBy is the token's creator (its owner), when known.
	CreatedBy string `json:"createdBy,omitempty"`
}

// How a finding ended (Change.How).
const (
	HowFixed        = "fixed"
	HowSuppressed   = "suppressed"
	HowSnoozed      = "snoozed"
	HowOutOfScope   = "outOfScope"
	HowTokenDeleted = "tokenDeleted"
)

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

// escalates reports whether a finding of rule from followed by one of rule
// to is an escalation whatever the severities say: a token that was
// expiring (or stale, or unused) and is now expired.
func escalates(from, to Rule) bool { return to == RuleExpired && Info(from).Escalates }

// Compare records in cur what changed since the baseline (nil for a first
// run) and sets cur.Summary.Changes. Each gateway is compared against the
// last run that audited it: a gateway that fails now reports its baselined
// findings as unknown (never resolved); a gateway that cur could not look
// for is unknown too; one that is gone reports its tokens as removed.
// baseErr, when not nil, says why no baseline could be used. expectEvery,
// when positive, turns on the overdue check.
func Compare(cur *Snapshot, base *Baseline, baseErr error, expectEvery time.Duration) {
	ch := &Changes{New: []Change{}, Escalated: []Change{}, Resolved: []Change{}, Removed: []Change{}, Unknown: []Change{}}
	cur.Changes = ch
	defer func() {
		n := ch.Counts()
		cur.Summary.Changes = &n
	}()
	if baseErr != nil {
		ch.PreviousError = baseErr.Error()
	}
	if base == nil {
		for _, g := range cur.Gateways {
			for _, t := range g.Tokens {
				for _, f := range t.Findings {
					ch.New = append(ch.New, change(g, t.ref(), f, nil))
				}
			}
		}
		return
	}
	ch.Previous = &PreviousRef{Key: base.Key, AuditedAt: base.AuditedAt}
	if expectEvery > 0 && cur.AuditedAt.Sub(base.AuditedAt) > 2*expectEvery {
		ch.Overdue = &Overdue{
			PreviousAuditedAt: base.AuditedAt, ExpectEvery: FormatDuration(expectEvery),
			Message: fmt.Sprintf("previous audit %s — expected every %s", Ago(cur.AuditedAt.Sub(base.AuditedAt)), FormatDuration(expectEvery)),
		}
	}
	prevGW := map[string]BaselineGateway{}
	for _, g := range base.Gateways {
		prevGW[g.key()] = g
	}
	c := comparison{ch: ch, base: base}
	for _, g := range cur.Gateways {
		key := g.Ref().Key()
		pg, had := prevGW[key]
		delete(prevGW, key)
		c.gateway(g, pg, had)
	}
	for _, pg := range prevGW { // gateways this run did not list
		c.unlisted(cur, pg)
	}
	for _, list := range []*[]Change{&ch.New, &ch.Escalated, &ch.Resolved, &ch.Removed, &ch.Unknown} {
		slices.SortFunc(*list, func(a, b Change) int {
			return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID),
				cmp.Compare(a.GatewayID, b.GatewayID), cmp.Compare(a.Name, b.Name), cmp.Compare(a.TokenID, b.TokenID), cmp.Compare(a.Rule, b.Rule))
		})
	}
}

// comparison is Compare's per-gateway step against one baseline.
type comparison struct {
	ch   *Changes
	base *Baseline
}

// since is set on a change when the gateway's baseline is older than the
// previous audit's (it failed in between).
func (c comparison) since(pg BaselineGateway) *time.Time {
	if pg.AuditedAt.IsZero() || pg.AuditedAt.Equal(c.base.AuditedAt) {
		return nil // a gateway new to the baseline, or audited last time
	}
	t := pg.AuditedAt
	return &t
}

// gateway compares one gateway of this run with its baselined state (had:
// it has one): a failed gateway's findings are unknown, never resolved.
func (c comparison) gateway(g GatewayReport, pg BaselineGateway, had bool) {
	if g.Error != nil {
		for _, t := range pg.Tokens {
			for _, f := range t.Findings {
				c.ch.Unknown = append(c.ch.Unknown, change(g, t.ref(), f.finding(), c.since(pg)))
			}
		}
		return
	}
	prevTok := map[string]BaselineToken{}
	for _, t := range pg.Tokens {
		prevTok[t.TokenID] = t
	}
	for _, t := range g.Tokens {
		pt, ok := prevTok[t.TokenID]
		delete(prevTok, t.TokenID)
		compareToken(c.ch, g, t, pt.Findings, ok, c.since(pg))
	}
	if had {
		removed(c.ch, g, prevTok, c.since(pg))
	}
}

// unlisted is a baselined gateway this run did not list: unknown when its
// listing failed, removed when its workspace was listed without it.
func (c comparison) unlisted(cur *Snapshot, pg BaselineGateway) {
	switch fateOf(cur, pg) {
	case fateUnknown:
		for _, t := range pg.Tokens {
			for _, f := range t.Findings {
				c.ch.Unknown = append(c.ch.Unknown, change(pg.report(), t.ref(), f.finding(), c.since(pg)))
			}
		}
	case fateOutOfScope:
		if cur.Scope.Partial {
			return // a narrowed run looked at part of the scope only
		}
		// Taken out of the configured scope: its findings end here.
		for _, t := range pg.Tokens {
			for _, f := range t.Findings {
				ch := change(pg.report(), t.ref(), f.finding(), c.since(pg))
				ch.How = HowOutOfScope
				c.ch.Resolved = append(c.ch.Resolved, ch)
			}
		}
	case fateGone:
		toks := map[string]BaselineToken{}
		for _, t := range pg.Tokens {
			toks[t.TokenID] = t
		}
		removed(c.ch, pg.report(), toks, c.since(pg))
	}
}

// removed records tokens gone from a gateway audited both times: one entry
// per finding they had, or one with no rule when they had none.
func removed(ch *Changes, g GatewayReport, gone map[string]BaselineToken, since *time.Time) {
	for _, pt := range gone {
		if len(pt.Findings) == 0 {
			c := change(g, pt.ref(), Finding{}, since)
			c.Severity = nil
			ch.Removed = append(ch.Removed, c)
		}
		for _, f := range pt.Findings {
			c := change(g, pt.ref(), f.finding(), since)
			c.How = HowTokenDeleted
			ch.Removed = append(ch.Removed, c)
		}
	}
}

func (f BaselineFinding) finding() Finding {
	return Finding{Rule: f.Rule, Severity: f.Severity, Stage: f.Stage, FirstSeen: f.Since, Reopened: f.Reopened}
}

func compareToken(ch *Changes, g GatewayReport, t TokenReport, prev []BaselineFinding, hadToken bool, since *time.Time) {
	prevBy := map[Rule]BaselineFinding{}
	for _, f := range prev {
		prevBy[f.Rule] = f
	}
	for _, f := range t.Findings {
		if pf, ok := prevBy[f.Rule]; ok {
			delete(prevBy, f.Rule)
			if f.Severity > pf.Severity || StageRank(f.Stage) > StageRank(pf.Stage) {
				c := change(g, t.ref(), f, since)
				c.From, c.FromSeverity, c.FromStage = pf.Rule, &pf.Severity, pf.Stage
				ch.Escalated = append(ch.Escalated, c)
			}
			continue
		}
		escalated := false
		for _, pf := range prev {
			if _, still := prevBy[pf.Rule]; still && escalates(pf.Rule, f.Rule) {
				delete(prevBy, pf.Rule)
				c := change(g, t.ref(), f, since)
				c.From, c.FromSeverity, c.FromStage = pf.Rule, &pf.Severity, pf.Stage
				ch.Escalated = append(ch.Escalated, c)
				escalated = true
				break
			}
		}
		if !escalated {
			ch.New = append(ch.New, change(g, t.ref(), f, since))
		}
	}
	if hadToken {
		for _, pf := range prev {
			if _, left := prevBy[pf.Rule]; left {
				c := change(g, t.ref(), pf.finding(), since)
				c.How = HowFixed
				for _, sf := range t.Suppressed {
					if sf.Rule == pf.Rule {
						c.Suppressed, c.How = sf.Reason, HowSuppressed
						if sf.SnoozedBy != "" {
							c.How = HowSnoozed
						}
					}
				}
				ch.Resolved = append(ch.Resolved, c)
			}
		}
	}
}

// tokenRef is the token a change is of.
type tokenRef struct{ id, name, createdBy string }

func (t TokenReport) ref() tokenRef   { return tokenRef{t.TokenID, t.Name, t.CreatedBy} }
func (t BaselineToken) ref() tokenRef { return tokenRef{t.TokenID, t.Name, t.CreatedBy} }

func change(g GatewayReport, t tokenRef, f Finding, since *time.Time) Change {
	sev := f.Severity
	tokenID := t.id
	c := Change{AccountID: g.AccountID, AccountName: g.AccountName, Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID, TokenID: tokenID, Name: t.name,
		Rule: f.Rule, Severity: &sev, Stage: f.Stage, Since: since, FirstSeen: f.FirstSeen, FirstSeenAtLeast: f.FirstSeenAtLeast, Reopened: f.Reopened, CreatedBy: t.createdBy}
	if k := KindOf(g.Kind); k != KindLivy {
		c.Kind = k
	}
	if f.Rule != "" {
		c.Fingerprint = Fingerprint(g.Ref(), tokenID, f.Rule)
	}
	return c
}

// Ref is the gateway of the change.
func (c *Change) Ref() GatewayRef {
	return GatewayRef{AccountID: c.AccountID, Region: c.Region, WorkspaceID: c.WorkspaceID, GatewayID: c.GatewayID, Kind: c.Kind}
}
