package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// BaselineKey is where the per-gateway baseline is kept, beside latest.json.
const BaselineKey = "baseline.json"

// Baseline is what change tracking compares against: for every gateway, its
// findings as of the last run that audited it. Only real audits move it
// (full scope, something audited, a later audit time); a gateway that fails
// keeps its last audited state, so a finding that existed before an outage
// and still exists after it is not "new", and what disappeared during the
// outage is "resolved" once the gateway is audited again.
type Baseline struct {
	SchemaVersion int `json:"schemaVersion"`
	// AuditedAt, Key and RunID name the last real audit that moved the
	// baseline: the snapshot latest.json holds.
	AuditedAt time.Time `json:"auditedAt"`
	Key       string    `json:"key"`
	RunID     string    `json:"runId"`
	// Ledgers says that the release that wrote the baseline records what
	// each destination was told (notify's delivery ledger): a destination
	// without a ledger is then new, or its ledger was lost — not merely
	// older than the ledger.
	Ledgers  bool              `json:"ledgers,omitempty"`
	Gateways []BaselineGateway `json:"gateways"`
}

// BaselineGateway is one gateway's state as of the last run that audited
// it.
type BaselineGateway struct {
	AccountID     string          `json:"accountId,omitempty"`
	AccountName   string          `json:"accountName,omitempty"`
	Region        string          `json:"region"`
	WorkspaceID   string          `json:"workspaceId"`
	WorkspaceName string          `json:"workspaceName,omitempty"`
	GatewayID     string          `json:"gatewayId"`
	GatewayName   string          `json:"gatewayName,omitempty"`
	Kind          string          `json:"kind,omitempty"`
	AuditedAt     time.Time       `json:"auditedAt"`
	Tokens        []BaselineToken `json:"tokens"`
}

// BaselineToken is a token and its active findings.
type BaselineToken struct {
	TokenID   string            `json:"tokenId"`
	Name      string            `json:"name"`
	CreatedBy string            `json:"createdBy,omitempty"`
	Findings  []BaselineFinding `json:"findings"`
	// Resolved are the token's findings resolved in the last
	// KeepResolved: one that comes back is reopened, not new.
	Resolved []BaselineResolved `json:"resolved,omitempty"`
}

// BaselineResolved is a finding that was resolved, and when.
type BaselineResolved struct {
	Rule     Rule      `json:"rule"`
	At       time.Time `json:"at"`
	Reopened int       `json:"reopened,omitempty"`
}

// KeepResolved is how long the baseline remembers a resolved finding.
const KeepResolved = 90 * Day

// BaselineFinding is the part of a finding that change tracking compares.
type BaselineFinding struct {
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	Stage    string   `json:"stage,omitempty"`
	// Since is when the finding was first seen (its firstSeen); Reopened
	// how often it came back.
	Since    *time.Time `json:"since,omitempty"`
	Reopened int        `json:"reopened,omitempty"`
}

func (g BaselineGateway) key() string {
	return gatewayKey(g.AccountID, g.Region, g.WorkspaceID, g.GatewayID)
}

func (g BaselineGateway) report() GatewayReport {
	return GatewayReport{AccountID: g.AccountID, AccountName: g.AccountName, Region: g.Region, WorkspaceID: g.WorkspaceID, WorkspaceName: g.WorkspaceName, GatewayID: g.GatewayID, GatewayName: g.GatewayName,
		Kind: g.Kind}
}

// BaselineOf is the baseline a snapshot would be on its own: each gateway it
// audited. It reads a latest.json written before baseline.json existed.
func BaselineOf(s *Snapshot) *Baseline {
	b := &Baseline{SchemaVersion: SchemaVersion, AuditedAt: s.AuditedAt, Key: SnapshotKey(s.AuditedAt), RunID: s.RunID, Gateways: []BaselineGateway{}}
	for _, g := range s.Gateways {
		if g.Error == nil {
			b.Gateways = append(b.Gateways, baselineGateway(g, s.AuditedAt))
		}
	}
	return b
}

func baselineGateway(g GatewayReport, at time.Time) BaselineGateway {
	bg := BaselineGateway{AccountID: g.AccountID, AccountName: g.AccountName, Region: g.Region, WorkspaceID: g.WorkspaceID, WorkspaceName: g.WorkspaceName,
		GatewayID: g.GatewayID, GatewayName: g.GatewayName, AuditedAt: at, Tokens: make([]BaselineToken, 0, len(g.Tokens))}
	if k := KindOf(g.Kind); k != KindLivy {
		bg.Kind = k
	}
	for _, t := range g.Tokens {
		bt := BaselineToken{TokenID: t.TokenID, Name: t.Name, CreatedBy: t.CreatedBy, Findings: make([]BaselineFinding, 0, len(t.Findings))}
		for _, f := range t.Findings {
			bt.Findings = append(bt.Findings, BaselineFinding{Rule: f.Rule, Severity: f.Severity, Stage: f.Stage, Since: f.FirstSeen, Reopened: f.Reopened})
		}
		bg.Tokens = append(bg.Tokens, bt)
	}
	return bg
}

// NextBaseline is the baseline after cur, a real audit: each gateway cur
// audited takes its new state; a gateway that failed, or that cur could not
// look for (its region or workspace listing failed), keeps its last
// audited state; a gateway that is gone (its workspace was listed and it
// was not there) or no longer in scope is dropped. prev may be nil.
func NextBaseline(prev *Baseline, cur *Snapshot) *Baseline {
	next := nextHead(cur)
	for _, e := range nextGateways(prev, cur) {
		next.Gateways = append(next.Gateways, e.gateway(cur.AuditedAt))
	}
	return next
}

// WriteNextBaseline streams NextBaseline(prev, cur) to w, byte for byte as
// its Write writes it, but one gateway at a time: the next baseline of a
// large fleet is never held whole beside the snapshot.
func WriteNextBaseline(w io.Writer, prev *Baseline, cur *Snapshot) error {
	entries := nextGateways(prev, cur)
	return nextHead(cur).write(w, len(entries), func(i int) BaselineGateway { return entries[i].gateway(cur.AuditedAt) })
}

func nextHead(cur *Snapshot) *Baseline {
	return &Baseline{SchemaVersion: SchemaVersion, AuditedAt: cur.AuditedAt, Key: SnapshotKey(cur.AuditedAt), RunID: cur.RunID, Ledgers: true, Gateways: []BaselineGateway{}}
}

// nextEntry is one gateway of the next baseline: the state cur audited,
// or the one it keeps from prev.
type nextEntry struct {
	key string
	cur *GatewayReport
	old *BaselineGateway
}

func (e nextEntry) gateway(at time.Time) BaselineGateway {
	if e.cur != nil {
		bg := baselineGateway(*e.cur, at)
		if e.old != nil {
			remember(&bg, e.old, at)
		}
		return bg
	}
	return *e.old
}

// remember carries into bg the findings its tokens had in old and have no
// more (resolved at at), and those old still remembers (for KeepResolved),
// unless they came back.
func remember(bg *BaselineGateway, old *BaselineGateway, at time.Time) {
	prev := map[string]*BaselineToken{}
	for i := range old.Tokens {
		prev[old.Tokens[i].TokenID] = &old.Tokens[i]
	}
	for i := range bg.Tokens {
		t := &bg.Tokens[i]
		pt, ok := prev[t.TokenID]
		if !ok {
			continue
		}
		open := map[Rule]bool{}
		for _, f := range t.Findings {
			open[f.Rule] = true
		}
		for _, r := range pt.Resolved {
			if !open[r.Rule] && at.Sub(r.At) < KeepResolved {
				t.Resolved = append(t.Resolved, r)
			}
		}
		for _, f := range pt.Findings {
			if !open[f.Rule] && !slices.ContainsFunc(t.Resolved, func(r BaselineResolved) bool { return r.Rule == f.Rule }) {
				t.Resolved = append(t.Resolved, BaselineResolved{Rule: f.Rule, At: at.UTC(), Reopened: f.Reopened})
			}
		}
		slices.SortFunc(t.Resolved, func(a, b BaselineResolved) int { return cmp.Compare(a.Rule, b.Rule) })
	}
}

// nextGateways are the gateways of the next baseline (see NextBaseline),
// sorted by key.
func nextGateways(prev *Baseline, cur *Snapshot) []nextEntry {
	old := map[string]*BaselineGateway{}
	if prev != nil {
		for i := range prev.Gateways {
			old[prev.Gateways[i].key()] = &prev.Gateways[i]
		}
	}
	var out []nextEntry
	for i := range cur.Gateways {
		g := &cur.Gateways[i]
		k := g.Ref().Key()
		if g.Error == nil {
			out = append(out, nextEntry{key: k, cur: g, old: old[k]})
		} else if pg, ok := old[k]; ok {
			out = append(out, nextEntry{key: k, old: pg})
		}
		delete(old, k)
	}
	for k, pg := range old {
		if fateOf(cur, *pg) == fateUnknown {
			out = append(out, nextEntry{key: k, old: pg})
		}
	}
	slices.SortFunc(out, func(a, b nextEntry) int { return cmp.Compare(a.key, b.key) })
	return out
}

// fate is what became of a baselined gateway that a run did not list.
type fate int

const (
	fateOutOfScope fate = iota // the run did not look for it
	fateUnknown                // the run looked, but its listing failed
	fateGone                   // the run listed its workspace and it was not there
)

func fateOf(cur *Snapshot, g BaselineGateway) fate {
	for _, e := range cur.Errors {
		if e.AccountID == g.AccountID && (e.Region == "" || e.Region == g.Region && (e.WorkspaceID == "" || e.WorkspaceID == g.WorkspaceID)) {
			return fateUnknown
		}
	}
	regions, ws := cur.Scope.Regions, cur.Scope.Workspaces
	if g.AccountID != "" {
		i := slices.IndexFunc(cur.Scope.Accounts, func(a AccountScopeReport) bool { return a.ID == g.AccountID })
		if i < 0 {
			return fateOutOfScope
		}
		regions, ws = cur.Scope.Accounts[i].Regions, cur.Scope.Accounts[i].Workspaces
	}
	inRegion := slices.Contains(regions, g.Region)
	inWorkspaces := len(ws) == 0 || slices.Contains(ws, g.WorkspaceID) || g.WorkspaceName != "" && slices.Contains(ws, g.WorkspaceName)
	if inRegion && inWorkspaces {
		return fateGone
	}
	return fateOutOfScope
}

// ReadBaseline decodes baseline.json; another schema version is an error.
func ReadBaseline(b []byte) (*Baseline, error) {
	var base Baseline
	if err := json.Unmarshal(b, &base); err != nil {
		return nil, fmt.Errorf("not a baseline: %w", err)
	}
	if err := checkVersion(base.SchemaVersion); err != nil {
		return nil, err
	}
	return &base, nil
}

// ReadBaselineHeader reads only what names a baseline — its schema
// version, audit time, key and run — without its gateways: a run checks
// it just before moving the baseline, and reading the whole of a large
// fleet's again would cost as much as the first read. The fields are the
// first of the file as Write writes it; a file that is not one is an
// error.
func ReadBaselineHeader(b []byte) (*Baseline, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	bad := func(err error) (*Baseline, error) { return nil, fmt.Errorf("not a baseline: %w", err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad(fmt.Errorf("not a JSON object"))
	}
	var base Baseline
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := t.(string)
		var v any
		switch key {
		case "gateways":
			if err := checkVersion(base.SchemaVersion); err != nil {
				return nil, err
			}
			return &base, nil
		case "schemaVersion":
			v = &base.SchemaVersion
		case "auditedAt":
			v = &base.AuditedAt
		case "key":
			v = &base.Key
		case "runId":
			v = &base.RunID
		case "ledgers":
			v = &base.Ledgers
		default:
			v = new(json.RawMessage)
		}
		if err := dec.Decode(v); err != nil {
			return bad(err)
		}
	}
	return bad(fmt.Errorf("no gateways"))
}

// Write streams the baseline to w as compact JSON, one gateway at a time.
func (b *Baseline) Write(w io.Writer) error {
	return b.write(w, len(b.Gateways), func(i int) BaselineGateway { return b.Gateways[i] })
}

// write writes b's head and n gateways, gateway(i) each.
func (b *Baseline) write(w io.Writer, n int, gateway func(i int) BaselineGateway) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := json.Marshal(struct {
		SchemaVersion int       `json:"schemaVersion"`
		AuditedAt     time.Time `json:"auditedAt"`
		Key           string    `json:"key"`
		RunID         string    `json:"runId"`
		Ledgers       bool      `json:"ledgers,omitempty"`
	}{b.SchemaVersion, b.AuditedAt, b.Key, b.RunID, b.Ledgers})
	if err != nil {
		return fmt.Errorf("encode baseline: %w", err)
	}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"gateways":[`)
	for i := range n {
		if i > 0 {
			bw.WriteByte(',')
		}
		bg := gateway(i)
		g, err := json.Marshal(&bg)
		if err != nil {
			return fmt.Errorf("encode baseline: %w", err)
		}
		bw.Write(g)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// RebuildBaseline rebuilds a lost baseline from latest.json: each gateway
// it audited, and for each gateway that failed in it, its state in the
// last snapshot before it that audited it — following the snapshots that
// latest.json (then each of them) names as previous, through earlier, at
// most hops of them.
func RebuildBaseline(latest *Snapshot, earlier func(key string) (*Snapshot, bool), hops int) *Baseline {
	b := BaselineOf(latest)
	missing := map[string]bool{}
	for _, g := range latest.Gateways {
		if g.Error != nil {
			missing[g.Ref().Key()] = true
		}
	}
	prev := latest.Changes
	for ; len(missing) > 0 && hops > 0 && prev != nil && prev.Previous != nil; hops-- {
		s, ok := earlier(prev.Previous.Key)
		if !ok {
			break
		}
		for _, g := range s.Gateways {
			if k := g.Ref().Key(); g.Error == nil && missing[k] {
				b.Gateways = append(b.Gateways, baselineGateway(g, s.AuditedAt))
				delete(missing, k)
			}
		}
		prev = s.Changes
	}
	slices.SortFunc(b.Gateways, func(x, y BaselineGateway) int { return cmp.Compare(x.key(), y.key()) })
	return b
}
