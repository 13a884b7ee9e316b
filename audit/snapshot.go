package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is the version of the snapshot format written by this code.
const SchemaVersion = 1

// Snapshot is the record of one audit. Its JSON names are a contract that
// people's scripts read (see the README's snapshot schema); add fields, never
// rename them. It never holds a token's secret value.
type Snapshot struct {
	SchemaVersion int `json:"schemaVersion"`
	// Tool names the program and version that wrote the snapshot.
	Tool      Tool      `json:"tool"`
	RunID     string    `json:"runId"`
	AuditedAt time.Time `json:"auditedAt"`
	// Verdict is what coverage says of the run: complete, partial or failed
	// (nothing could be audited).
	Verdict      Verdict             `json:"verdict"`
	Trigger      Trigger             `json:"trigger"`
	Scope        ScopeReport         `json:"scope"`
	Rules        RulesReport         `json:"rules"`
	Summary      Summary             `json:"summary"`
	Gateways     []GatewayReport     `json:"gateways"`
	Errors       []ScopeError        `json:"errors"`
	Suppressions []SuppressionReport `json:"suppressions"`
	Changes      *Changes            `json:"changes"`
	// Actions are the recent actions taken from Slack, the latest last
	// (actions.enabled; absent otherwise).
	Actions []ActionReport `json:"actions,omitempty"`
	// ActionsWarnings say, in plain words, what of the record of actions
	// could not be applied: a state skipped (corrupt, too large), a record
	// of a newer release, entries the rules of who may do what refuse, a
	// snooze capped at actions.maxSnooze, a record that could not be read.
	// Absent when there is nothing to say.
	ActionsWarnings []string `json:"actionsWarnings,omitempty"`
	// Retire is what the run did with the marks for deletion
	// (actions.retire): scheduled, told, deleted, ended.
	Retire *RetireReport `json:"retire,omitempty"`
}

// ActionReport is one action attempted from Slack, allowed or refused: who
// (a Slack user ID), when, what (the verb), on which token (its key and
// name, never its value), and the outcome (done, refused, failed) with
// its detail.
type ActionReport struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// ByName is the user's Slack name, when Slack sent it with the action
	// (shown beside the ID; never used to decide anything).
	ByName  string `json:"byName,omitempty"`
	Verb    string `json:"verb"`
	Token   string `json:"token"`
	Name    string `json:"name,omitempty"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Tool names the program that wrote a snapshot: its name and version
// (module version and VCS revision).
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Verdict is the outcome of an audit, decided by its coverage.
type Verdict string

// The verdicts.
const (
	// VerdictComplete: every gateway and listing in scope was audited (a
	// scope with no gateway at all is complete too: "0 gateways found").
	VerdictComplete Verdict = "complete"
	// VerdictPartial: some gateways or listings could not be audited.
	VerdictPartial Verdict = "partial"
	// VerdictFailed: nothing could be audited while something failed. Such
	// a run never says "no findings" and never becomes the baseline.
	VerdictFailed Verdict = "failed"
)

// verdict decides the verdict from the counts.
func (s Summary) verdict() Verdict {
	failures := s.GatewaysFailed + s.Errors
	switch {
	case failures == 0:
		return VerdictComplete
	case s.Gateways-s.GatewaysFailed == 0:
		return VerdictFailed
	}
	return VerdictPartial
}

// FailedCoverage says how little a failed audit covered: "0/5 gateways
// audited", or "2 listings failed, no gateway audited" when not even a
// gateway was found.
func (s Summary) FailedCoverage() string {
	if s.Gateways == 0 {
		return Plural(s.Errors, "listing") + " failed, no gateway audited"
	}
	return fmt.Sprintf("%d/%d gateways audited", s.Audited(), s.Gateways)
}

// Audited is how many gateways were audited.
func (s Summary) Audited() int { return s.Gateways - s.GatewaysFailed }

// Trigger says what started the audit.
type Trigger struct {
	// Kind is cli, demo, timer or manual.
	Kind        string     `json:"kind"`
	Name        string     `json:"name,omitempty"`
	TriggerTime *time.Time `json:"triggerTime,omitempty"`
	RequestID   string     `json:"requestId,omitempty"`
	RetryCount  int        `json:"retryCount,omitempty"`
	DryRun      bool       `json:"dryRun,omitempty"`
}

// ScopeReport records what the run was asked to audit. Partial is true when
// the run was narrowed to part of the configured scope (an ad-hoc audit):
// such a run does not become the baseline for change tracking.
type ScopeReport struct {
	// Regions, Workspaces and Gateways are the run's own account's scope.
	Regions    []string `json:"regions"`
	Workspaces []string `json:"workspaces"`
	Gateways   []string `json:"gateways"`
	// Accounts are the other accounts audited, each with its scope.
	Accounts []AccountScopeReport `json:"accounts,omitempty"`
	Partial  bool                 `json:"partial"`
}

// AccountScopeReport is the scope of one account reached by a role.
type AccountScopeReport struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	RoleARN    string   `json:"roleArn"`
	Regions    []string `json:"regions"`
	Workspaces []string `json:"workspaces"`
	Gateways   []string `json:"gateways"`
}

// RulesReport records the thresholds and severities the audit used.
type RulesReport struct {
	// ExpiringWithin is a duration, or a share of each token's lifetime
	// ("20%"); then ExpiringFallback is the window of a token whose
	// lifetime is unknown.
	ExpiringWithin   string            `json:"expiringWithin"`
	ExpiringFallback string            `json:"expiringWithinFallback,omitempty"`
	ExpiryStages     []string          `json:"expiryStages,omitempty"`
	StaleAfter       string            `json:"staleAfter"`
	UnusedAfter      string            `json:"unusedAfter"`
	MaxLifetime      *string           `json:"maxLifetime"`
	MinSecretBits    int               `json:"minSecretBits"`
	Severity         map[Rule]Severity `json:"severity"`
	// Profiles are the rules profiles, in the order they are matched.
	Profiles []ProfileReport `json:"profiles,omitempty"`
}

// Summary holds the counts of a snapshot.
type Summary struct {
	// Gateways is how many gateways the run tried to audit; GatewaysFailed
	// how many of them could not be audited.
	Gateways       int          `json:"gateways"`
	GatewaysFailed int          `json:"gatewaysFailed"`
	Tokens         int          `json:"tokens"`
	Findings       map[Rule]int `json:"findings"`
	Suppressed     int          `json:"suppressed"`
	Errors         int          `json:"errors"`
	// DataErrors counts token fields the API answered with something that
	// is not a time (each is listed on its token); DuplicateTokens counts
	// token entries dropped because their tokenId was listed twice.
	DataErrors      int `json:"dataErrors"`
	DuplicateTokens int `json:"duplicateTokens"`
	// PublicGateways counts the gateways with a public endpoint;
	// DetailsErrors those whose exposure is unknown (their details could
	// not be read).
	PublicGateways int `json:"publicGateways"`
	DetailsErrors  int `json:"detailsErrors"`
	// Kinds counts the gateways of each kind (livy, kyuubi);
	// SecretNotVisible the tokens whose value the API masks (weak and
	// reused do not apply to them).
	Kinds            map[string]int `json:"kinds,omitempty"`
	SecretNotVisible int            `json:"secretNotVisible,omitempty"`
	// Profiles counts the tokens of each rules profile (with profiles).
	Profiles map[string]int `json:"profiles,omitempty"`
	// OwnersUnknown counts the tokens whose creator could not be resolved
	// (with owners.resolve): reported apart, not as a finding.
	OwnersUnknown int           `json:"ownersUnknown,omitempty"`
	Changes       *ChangeCounts `json:"changes,omitempty"`
	// Remediation is the last 30 days' figures (a full run that kept its
	// history): opened, resolved, how long to resolve.
	Remediation *Remediation `json:"remediation,omitempty"`
}

// ActiveFindings is the number of findings that are not suppressed.
func (s Summary) ActiveFindings() int {
	n := 0
	for _, c := range s.Findings {
		n += c
	}
	return n
}

// GatewayReport is one audited gateway. Tokens is empty when Error is set:
// a gateway that could not be listed is never reported as "no findings".
type GatewayReport struct {
	// AccountID and AccountName are set for an account reached by assuming
	// a role (accounts: in the config); empty for the run's own account.
	AccountID     string `json:"accountId,omitempty"`
	AccountName   string `json:"accountName,omitempty"`
	Region        string `json:"region"`
	WorkspaceID   string `json:"workspaceId"`
	WorkspaceName string `json:"workspaceName"`
	GatewayID     string `json:"gatewayId"`
	GatewayName   string `json:"gatewayName"`
	// Kind is livy or kyuubi (a snapshot of an earlier release has none:
	// livy).
	Kind string `json:"kind"`
	// Secret is SecretNotVisible on a gateway whose listing masks the
	// tokens' values (Kyuubi): weak and reused do not apply there.
	Secret string `json:"secret,omitempty"`
	Status string `json:"status,omitempty"`
	// Public says whether the gateway has a public endpoint (GetLivyCompute's
	// enablePublic), and AuthType how it authenticates; absent when its
	// details were not asked for, or could not be read (DetailsError: its
	// exposure is unknown).
	Public   *bool  `json:"public,omitempty"`
	AuthType string `json:"authType,omitempty"`
	// CreatedBy is who created the gateway (its details'), Creator them as
	// resolved, Admins the workspace's admins as resolved: the fallbacks
	// of a token whose creator cannot act.
	CreatedBy    string        `json:"createdBy,omitempty"`
	Creator      *Owner        `json:"creator,omitempty"`
	Admins       []Owner       `json:"admins,omitempty"`
	DetailsError *APIError     `json:"detailsError,omitempty"`
	Error        *APIError     `json:"error"`
	Tokens       []TokenReport `json:"tokens"`
	// DuplicateTokenIDs lists the tokenIds the listing returned more than
	// once; each is kept once.
	DuplicateTokenIDs []string `json:"duplicateTokenIds,omitempty"`
}

// Ref returns the gateway's identity.
func (g GatewayReport) Ref() GatewayRef {
	kind := g.Kind
	if kind == KindLivy {
		kind = ""
	}
	return GatewayRef{AccountID: g.AccountID, AccountName: g.AccountName, Region: g.Region, WorkspaceID: g.WorkspaceID, WorkspaceName: g.WorkspaceName,
		GatewayID: g.GatewayID, GatewayName: g.GatewayName, GatewayStatus: g.Status, Kind: kind}
}

// TokenReport is one token with its findings.
type TokenReport struct {
	TokenID   string `json:"tokenId"`
	Name      string `json:"name"`
	CreatedBy string `json:"createdBy"`
	// MemberArns and AccountNames are whom a Kyuubi token is for.
	MemberArns   []string            `json:"memberArns,omitempty"`
	AccountNames []string            `json:"accountNames,omitempty"`
	CreateTime   *time.Time          `json:"createTime"`
	ExpireTime   *time.Time          `json:"expireTime"`
	LastUsedTime *time.Time          `json:"lastUsedTime"`
	Findings     []Finding           `json:"findings"`
	Suppressed   []SuppressedFinding `json:"suppressed"`
	// DataErrors lists the fields that could not be read (their time in
	// the snapshot is null, and no rule that needs them applied).
	DataErrors []DataError `json:"dataErrors,omitempty"`
	// Acknowledged says who acknowledged owning the token (from Slack).
	Acknowledged *Acknowledgement `json:"acknowledged,omitempty"`
	// Profile is the token's rules profile (DefaultProfile when none
	// matched), and Thresholds what applied to it: both only when profiles
	// or lifetime percentages are configured.
	Profile    string      `json:"profile,omitempty"`
	Thresholds *Thresholds `json:"thresholds,omitempty"`
	// Owner is the creator as resolved (owners.resolve), OwnerError why
	// its status is unknown; Assignee who was told of the token, and why.
	Owner      *Owner    `json:"owner,omitempty"`
	OwnerError string    `json:"ownerError,omitempty"`
	Assignee   *Assignee `json:"assignee,omitempty"`
}

// Acknowledgement is a person's "I own this" on a token: a Slack user ID
// and when.
type Acknowledgement struct {
	By string `json:"by"`
	// ByName is the user's Slack name, when known.
	ByName string    `json:"byName,omitempty"`
	At     time.Time `json:"at"`
	// CreatedBy, when set, is the creator the token must still have for
	// the acknowledgement to hold (one its owner made).
	CreatedBy string `json:"-"`
}

// Actions are what people did from Slack, as an audit applies them: the
// snoozes (suppressions that come after the config's), the tokens'
// acknowledgements by TokenKey, and the recent actions.
type Actions struct {
	Snoozes []Suppression
	Acks    map[string]Acknowledgement
	Recent  []ActionReport
	// Warnings say what of the record could not be applied (the
	// snapshot's actionsWarnings).
	Warnings []string
}

// TokenKey names a token across runs: its gateway's key and its ID.
func TokenKey(g GatewayRef, tokenID string) string { return g.Key() + "/" + tokenID }

// SuppressedFinding is a finding that a suppression exempted.
type SuppressedFinding struct {
	Finding
	Reason string  `json:"reason"`
	Until  *string `json:"until"`
	// SnoozedBy is the Slack user who snoozed the finding from Slack
	// (absent for a config suppression).
	SnoozedBy string `json:"snoozedBy,omitempty"`
	// SnoozedByName is that user's Slack name, when known.
	SnoozedByName string `json:"snoozedByName,omitempty"`
}

// APIError is a failure reported by (or on the way to) the EMR Serverless
// Spark API, as recorded on a gateway. It never carries credentials.
type APIError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	// Retryable is true for throttling, 5xx and network failures.
	Retryable bool `json:"-"`
	// RetryAfter is how long the server asked to wait, if it said.
	RetryAfter time.Duration `json:"-"`
}

func (e *APIError) Error() string {
	s := e.Code + ": " + e.Message
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// Codes of failures that are not the API's own.
const (
	CodeDeadlineExceeded = "DeadlineExceeded"
	// CodeInterrupted is a call cut because the run was interrupted
	// (SIGTERM, Ctrl-C): what was audited until then is written.
	CodeInterrupted     = "Interrupted"
	CodeRequestFailed   = "RequestFailed"
	CodeInvalidResponse = "InvalidResponse"
)

// ScopeError is a failure above the gateway level: an account whose role
// could not be assumed (Region empty), a region's workspace listing, or a
// workspace's gateway listing.
type ScopeError struct {
	AccountID     string `json:"accountId,omitempty"`
	AccountName   string `json:"accountName,omitempty"`
	Region        string `json:"region"`
	WorkspaceID   string `json:"workspaceId,omitempty"`
	WorkspaceName string `json:"workspaceName,omitempty"`
	// Kind is the kind of gateway whose listing failed (a workspace's
	// Kyuubi listing: kyuubi; absent for Livy's and for the workspaces').
	Kind      string `json:"kind,omitempty"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// SuppressionReport is one configured suppression and what it did.
type SuppressionReport struct {
	TokenID string  `json:"tokenId,omitempty"`
	Name    string  `json:"name,omitempty"`
	Gateway string  `json:"gateway,omitempty"`
	Account string  `json:"account,omitempty"`
	Rules   []Rule  `json:"rules"`
	Reason  string  `json:"reason"`
	Until   *string `json:"until"`
	// Matched counts the findings it matched in this audit (for a lapsed
	// suppression: the findings it would still match, now active again).
	Matched int  `json:"matched"`
	Lapsed  bool `json:"lapsed"`
	// SnoozedBy is the Slack user who snoozed from Slack (absent for a
	// config suppression).
	SnoozedBy string `json:"snoozedBy,omitempty"`
	// SnoozedByName is that user's Slack name, when known.
	SnoozedByName string `json:"snoozedByName,omitempty"`
	// Ended says, for a snooze from Slack whose token no longer has the
	// finding it snoozed but others, what the token is now ("the token is
	// now expired"): the snooze no longer holds.
	Ended string `json:"ended,omitempty"`
}

// Evaluation is what a Builder needs besides the gateways' results.
type Evaluation struct {
	Tool   Tool
	Now    time.Time
	Policy Policy
	// Profiles are classes of tokens with policies of their own
	// (rules.profiles): a token takes the first that matches, Policy when
	// none does.
	Profiles []Profile
	// Earlier is the baseline this audit compares with (nil: none), asked
	// for at the first finding to date it (firstSeen); Assignment, when
	// set, says who each flagged token is for (Assignee).
	Earlier      func() *Baseline
	Assignment   *Assignment
	Suppressions []Suppression
	Trigger      Trigger
	Scope        ScopeReport
	// Acks are the tokens' acknowledgements, by TokenKey.
	Acks map[string]Acknowledgement
	// Actions are the recent actions taken from Slack, for the snapshot;
	// ActionsWarnings what of their record could not be applied.
	Actions         []ActionReport
	ActionsWarnings []string
	// Stop, when set, says that the run's deadline has come: suppressions
	// are no longer matched (the findings stay active: more is reported,
	// never less), so that classification ends in time.
	Stop func() bool
}

// Builder assembles a snapshot one gateway at a time, so that a gateway's
// tokens are classified as soon as they are listed and the listing can be
// let go: the fleet is held once, as the snapshot. It is not safe for
// concurrent use.
type Builder struct {
	ev      Evaluation
	now     time.Time
	s       *Snapshot
	sups    *suppressionIndex
	cands   []int // a buffer for the suppressions a token may match
	matched []int
	// ended says, for a snooze from Slack whose token no longer has the
	// finding it snoozed but others, what the token is now.
	ended map[int]string
	// unsuppressed counts the tokens whose suppressions were not matched
	// because Stop said the deadline had come.
	unsuppressed int
	// reuse finds the tokens that share a secret; amended are the gateways
	// Finish changed for it.
	reuse   reuse
	amended []GatewayReport
	// prev is what the earlier audit knew of each finding, by
	// gateway/token and rule.
	prev map[string]map[Rule]prior
}

// Unsuppressed is how many tokens' suppressions were not matched because
// the run's deadline had come.
func (b *Builder) Unsuppressed() int { return b.unsuppressed }

// NewBuilder starts a snapshot of an evaluation.
func NewBuilder(ev Evaluation) *Builder {
	now := ev.Now.UTC()
	s := &Snapshot{
		SchemaVersion: SchemaVersion,
		Tool:          ev.Tool,
		RunID:         RunIDOf(now, ev.Scope),
		AuditedAt:     now,
		Trigger:       ev.Trigger,
		Scope:         ev.Scope,
		Rules:         rulesReportOf(ev.Policy, ev.Profiles),
		Gateways:      []GatewayReport{},
		Errors:        []ScopeError{},
		Suppressions:  []SuppressionReport{},
		Actions:       ev.Actions,

		ActionsWarnings: ev.ActionsWarnings,
	}
	s.Summary.Findings = map[Rule]int{}
	for _, r := range Rules {
		if ev.Policy.Enabled(r) {
			s.Summary.Findings[r] = 0
		}
	}
	return &Builder{ev: ev, now: now, s: s, sups: newSuppressionIndex(ev.Suppressions), matched: make([]int, len(ev.Suppressions))}
}

// Add classifies one gateway's result into the snapshot, and returns the
// gateway as the snapshot holds it. It is changed after only when its
// tokens share a secret with others (see Amended).
func (b *Builder) Add(res GatewayResult) GatewayReport {
	s := b.s
	g := GatewayReport{
		AccountID: res.Ref.AccountID, AccountName: res.Ref.AccountName,
		Region: res.Ref.Region, WorkspaceID: res.Ref.WorkspaceID, WorkspaceName: res.Ref.WorkspaceName,
		GatewayID: res.Ref.GatewayID, GatewayName: res.Ref.GatewayName, Status: res.Ref.GatewayStatus, Kind: KindOf(res.Ref.Kind),
		Error: res.Err, Tokens: []TokenReport{},
	}
	visible := SecretVisible(res.Ref.Kind)
	if !visible {
		g.Secret = SecretNotVisible
	}
	if s.Summary.Kinds == nil {
		s.Summary.Kinds = map[string]int{}
	}
	s.Summary.Kinds[g.Kind]++
	switch {
	case res.Details != nil:
		public := res.Details.Public
		g.Public, g.AuthType, g.CreatedBy = &public, res.Details.AuthType, res.Details.CreatedBy
		if public {
			s.Summary.PublicGateways++
		}
	case res.DetailsErr != nil:
		g.DetailsError = res.DetailsErr
		s.Summary.DetailsErrors++
	}
	if res.Owners != nil {
		g.Creator, _ = res.Owners.owner(g.CreatedBy)
		g.Admins = res.Owners.admins()
	}
	s.Summary.Gateways++
	if res.Err != nil {
		s.Summary.GatewaysFailed++
		s.Gateways = append(s.Gateways, g)
		return g
	}
	toks, dups := dedupeTokens(res.Tokens)
	g.DuplicateTokenIDs = dups
	s.Summary.DuplicateTokens += len(res.Tokens) - len(toks)
	g.Tokens = make([]TokenReport, 0, len(toks))
	// The tokens' times live in one block per gateway, not one allocation
	// each: a fleet has hundreds of thousands of them.
	times := make([]time.Time, 0, 3*len(toks))
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		times = append(times, t.UTC())
		return &times[len(times)-1]
	}
	var secrets map[string]Secret // by token ID, for the reuse check
	for _, t := range toks {
		t = Plausible(sanitizeTimes(t), b.now)
		if !visible {
			// Decided by the kind, not by how the value looks: a masked
			// value that looks whole is still never measured.
			t.Secret = Secret{}
			s.Summary.SecretNotVisible++
		}
		tr := TokenReport{
			TokenID: t.ID, Name: t.Name, CreatedBy: t.CreatedBy, MemberArns: t.MemberArns, AccountNames: t.AccountNames,
			CreateTime: at(t.CreateTime), ExpireTime: at(t.ExpireTime), LastUsedTime: at(t.LastUsedTime),
			Suppressed: []SuppressedFinding{}, DataErrors: t.DataErrors,
		}
		if res.Owners != nil && t.CreatedBy != "" {
			tr.Owner, tr.OwnerError = res.Owners.owner(t.CreatedBy)
			if tr.Owner == nil || tr.Owner.Status == OwnerUnknown {
				s.Summary.OwnersUnknown++
			}
		}
		b.classify(&tr, t, res.Ref, g.Public != nil && *g.Public)
		if a, ok := b.ev.Acks[TokenKey(res.Ref, t.ID)]; ok && (a.CreatedBy == "" || a.CreatedBy == t.CreatedBy) {
			tr.Acknowledged = &a
		}
		g.Tokens = append(g.Tokens, tr)
		if t.Secret.Known() {
			if secrets == nil {
				secrets = map[string]Secret{}
			}
			secrets[t.ID] = t.Secret
		}
	}
	slices.SortFunc(g.Tokens, func(a, b TokenReport) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.TokenID, b.TokenID))
	})
	for i := range g.Tokens {
		b.dateAndAssign(&g, &g.Tokens[i])
	}
	for i := range g.Tokens {
		if sec, ok := secrets[g.Tokens[i].TokenID]; ok {
			b.reuse.add(sec.digest, len(s.Gateways), i)
		}
	}
	s.Gateways = append(s.Gateways, g)
	return g
}

// classify finds t's findings (one step more severe on a public gateway),
// applies the suppressions, and counts them.
func (b *Builder) classify(tr *TokenReport, t Token, ref GatewayRef, public bool) {
	s, ev := b.s, b.ev
	policy := ev.Policy
	if len(ev.Profiles) > 0 {
		tr.Profile, policy = profileFor(ev.Profiles, ev.Policy, ref, t)
		if s.Summary.Profiles == nil {
			s.Summary.Profiles = map[string]int{}
		}
		s.Summary.Profiles[tr.Profile]++
	}
	resolved, lifeErr := policy.For(t)
	if lifeErr != nil {
		tr.DataErrors = append(slices.Clip(tr.DataErrors), *lifeErr)
		s.Summary.DataErrors++
	}
	if tr.Profile != "" || policy.ExpiringPercent > 0 || len(policy.StagePercents) > 0 {
		tr.Thresholds = resolved.thresholds()
	}
	s.Summary.DataErrors += len(t.DataErrors)
	tr.Findings = Subject{Token: t, Gateway: ref, Policy: resolved, Now: b.now, Owner: tr.Owner}.Findings()
	if public {
		for i := range tr.Findings {
			exposed(&tr.Findings[i])
		}
	}
	if len(ev.Suppressions) > 0 && len(tr.Findings) > 0 && ev.Stop != nil && ev.Stop() {
		b.unsuppressed++
	} else if len(ev.Suppressions) > 0 && len(tr.Findings) > 0 {
		b.cands = b.sups.candidates(ref, t, b.cands[:0])
		b.noteEnded(ref, t, tr.Findings)
		tr.Findings = slices.DeleteFunc(tr.Findings, func(f Finding) bool {
			sup, ok := b.sups.suppressionFor(b.cands, b.matched, ref, t, f.Rule, b.now)
			if ok {
				tr.Suppressed = append(tr.Suppressed, SuppressedFinding{Finding: f, Reason: sup.Reason, Until: sup.untilDate(), SnoozedBy: sup.SnoozedBy, SnoozedByName: sup.SnoozedByName})
			}
			return ok
		})
	}
	if tr.Findings == nil {
		tr.Findings = []Finding{}
	}
	s.Summary.Suppressed += len(tr.Suppressed)
	for _, f := range tr.Findings {
		s.Summary.Findings[f.Rule]++
	}
	s.Summary.Tokens++
}

// noteEnded notes the snoozes from Slack among the candidates that name t
// but none of its findings while it has some: the finding they snoozed
// changed (an expiring token that expired), and the snooze no longer
// holds — which the report says, rather than drop it without a word.
func (b *Builder) noteEnded(ref GatewayRef, t Token, findings []Finding) {
	if len(findings) == 0 {
		return
	}
	for _, i := range b.cands {
		s := b.sups.all[i]
		if s.Exact == nil || len(s.Rules) == 0 || !s.matchesToken(ref, t) || slices.ContainsFunc(findings, func(f Finding) bool { return slices.Contains(s.Rules, f.Rule) }) {
			continue
		}
		now := make([]string, len(findings))
		for k, f := range findings {
			now[k] = string(f.Rule)
		}
		if b.ended == nil {
			b.ended = map[int]string{}
		}
		b.ended[i] = "the token is now " + strings.Join(now, ", ")
	}
}

// exposed makes a finding of a token on a gateway with a public endpoint
// one step more severe, and says why.
func exposed(f *Finding) {
	if f.Severity < SeverityCritical {
		f.Severity++
	}
	f.Message += " · public endpoint"
}

// Finish flags the tokens that share a secret, adds the failures above the
// gateway level, sorts, counts and returns the snapshot. The builder is
// done with after it.
func (b *Builder) Finish(errs []ScopeError) *Snapshot {
	s := b.s
	b.markReused()
	s.Errors = append(s.Errors, errs...)
	slices.SortFunc(s.Gateways, func(a, b GatewayReport) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID), cmp.Compare(a.GatewayID, b.GatewayID))
	})
	slices.SortFunc(s.Errors, func(a, b ScopeError) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID))
	})
	s.Summary.Errors = len(s.Errors)
	s.Verdict = s.Summary.verdict()
	for i, sup := range b.ev.Suppressions {
		s.Suppressions = append(s.Suppressions, SuppressionReport{
			TokenID: sup.TokenID, Name: sup.Name, Gateway: sup.Gateway, Account: sup.Account, Rules: nonNil(sup.Rules),
			Reason: sup.Reason, Until: sup.untilDate(), Matched: b.matched[i], Lapsed: sup.Lapsed(b.now), SnoozedBy: sup.SnoozedBy, SnoozedByName: sup.SnoozedByName,
			Ended: b.ended[i],
		})
	}
	return s
}

// sanitizeTimes turns a time a snapshot cannot hold (past year 9999) into
// an unknown field, whatever API produced it: one token must never sink the
// encoding of the whole snapshot.
func sanitizeTimes(t Token) Token {
	check := func(name string, v *time.Time) {
		if y := v.Year(); !v.IsZero() && (y < 1 || y > 9999) {
			t.DataErrors = append(slices.Clip(t.DataErrors), DataError{Field: name, Message: fmt.Sprintf("year %d is not a time a snapshot can hold", y)})
			*v = time.Time{}
		}
	}
	check(FieldCreateTime, &t.CreateTime)
	check(FieldExpireTime, &t.ExpireTime)
	check(FieldLastUsedTime, &t.LastUsedTime)
	return t
}

// dedupeTokens keeps one entry per tokenId, whatever order the listing
// came in: the most recently used, then the latest expiry, then the first
// by name. It returns the tokens kept and the IDs that were duplicated.
func dedupeTokens(toks []Token) ([]Token, []string) {
	seen := make(map[string]int, len(toks))
	for i, t := range toks {
		seen[t.ID] = i
	}
	if len(seen) == len(toks) {
		return toks, nil // no duplicate: nothing to copy
	}
	clear(seen)
	var dups []string
	out := make([]Token, 0, len(toks))
	for _, t := range toks {
		i, ok := seen[t.ID]
		if !ok {
			seen[t.ID] = len(out)
			out = append(out, t)
			continue
		}
		if i >= 0 {
			dups = append(dups, t.ID)
			seen[t.ID] = -1 - i // noted once
		} else {
			i = -1 - i
		}
		if preferToken(t, out[i]) {
			out[i] = t
		}
	}
	slices.Sort(dups)
	return out, dups
}

func preferToken(a, b Token) bool {
	return cmp.Or(
		b.LastUsedTime.Compare(a.LastUsedTime),
		b.ExpireTime.Compare(a.ExpireTime),
		b.CreateTime.Compare(a.CreateTime),
		cmp.Compare(len(a.DataErrors), len(b.DataErrors)),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.CreatedBy, b.CreatedBy),
	) < 0
}

// rulesReportOf records the top-level policy and each profile.
func rulesReportOf(p Policy, profiles []Profile) RulesReport {
	r := rulesReport(p)
	for _, pr := range profiles {
		m := pr.Match
		r.Profiles = append(r.Profiles, ProfileReport{Name: pr.Name, RulesReport: rulesReport(pr.Policy),
			Match: ProfileMatchJSON{Accounts: m.Accounts, Regions: m.Regions, Workspaces: m.Workspaces, Gateways: m.Gateways, Kinds: m.Kinds, Tokens: m.Tokens}})
	}
	return r
}

func rulesReport(p Policy) RulesReport {
	r := RulesReport{
		ExpiringWithin: FormatDuration(p.window()),
		StaleAfter:     FormatDuration(p.StaleAfter),
		UnusedAfter:    FormatDuration(p.UnusedAfter),
		MinSecretBits:  int(p.minSecretBits()),
		Severity:       map[Rule]Severity{},
	}
	if p.MaxLifetime > 0 {
		m := FormatDuration(p.MaxLifetime)
		r.MaxLifetime = &m
	}
	for _, s := range p.ExpiryStages {
		r.ExpiryStages = append(r.ExpiryStages, StageName(s))
	}
	for _, pc := range p.StagePercents {
		r.ExpiryStages = append(r.ExpiryStages, pc.String())
	}
	if p.ExpiringPercent > 0 {
		r.ExpiringWithin, r.ExpiringFallback = p.ExpiringPercent.String(), FormatDuration(p.ExpiringWithin)
	} else if len(p.ExpiryStages) == 0 && len(p.StagePercents) > 0 {
		r.ExpiringWithin, r.ExpiringFallback = p.StagePercents[0].String(), FormatDuration(p.ExpiringWithin)
	}
	for _, rule := range Rules {
		if p.Enabled(rule) {
			r.Severity[rule] = p.severity(rule)
		}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Stamp is the form of an audit time used in snapshot keys and run ids.
func Stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// RunID identifies the run of an audit time: a retry of the same run (same
// audit time) has the same id.
func RunID(t time.Time) string { return "audit-" + Stamp(t) }

// ID is a stable short name of a narrowed scope (the first 8 hex digits of
// the SHA-256 of its JSON): the same narrowing has the same ID, and two
// narrowings, or a narrowing and the whole scope, never share a key.
func (r ScopeReport) ID() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
}

// SnapshotKeyOf is where the snapshot of an audit at t of scope is stored:
// SnapshotKey for the whole configured scope; for a narrowed one (Partial)
// YYYY/MM/DD/{stamp}.{scope ID}.json, so that it never overwrites the whole
// run's snapshot, page or claims of the same audit time.
func SnapshotKeyOf(t time.Time, scope ScopeReport) string {
	if !scope.Partial {
		return SnapshotKey(t)
	}
	return strings.TrimSuffix(SnapshotKey(t), ".json") + "." + scope.ID() + ".json"
}

// RunIDOf identifies the run of an audit at t of scope: RunID for the
// whole scope, with the scope's ID for a narrowed one.
func RunIDOf(t time.Time, scope ScopeReport) string {
	if !scope.Partial {
		return RunID(t)
	}
	return RunID(t) + "." + scope.ID()
}

// SnapshotKey is where the snapshot of an audit at t is stored, relative to
// the store's root: YYYY/MM/DD/{stamp}.json.
func SnapshotKey(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%04d/%02d/%02d/%s.json", t.Year(), int(t.Month()), t.Day(), Stamp(t))
}

// LatestKey is the key of the copy of the newest full snapshot.
const LatestKey = "latest.json"

// Encode returns the snapshot as indented JSON with a trailing newline.
func (s *Snapshot) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write streams the snapshot to w as indented JSON with a trailing newline,
// byte for byte what encoding/json writes (two-space indent, HTML left
// unescaped so names stay readable: "<!channel>", not "\u003c…"), but one
// gateway at a time: the encoding of a large fleet is never held whole in
// memory.
func (s *Snapshot) Write(w io.Writer) error { return s.WriteWith(w, nil) }

// EncodedGateway writes the encoding of gateway g, as EncodeGateway wrote
// it, when it has one (written is false when it has none: Write encodes
// it then).
type EncodedGateway func(w *bufio.Writer, g *GatewayReport) (written bool, err error)

// EncodeGateway writes g as Write writes it in the snapshot's gateways
// array: so that a run can encode each gateway as soon as it is audited,
// and WriteWith only splice them.
func EncodeGateway(w *bufio.Writer, g *GatewayReport) error {
	return newJSONWriter(w).gateway(g, 2)
}

// WriteWith is Write, with the gateways encoded ahead taken from encoded.
func (s *Snapshot) WriteWith(w io.Writer, encoded EncodedGateway) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	jw := newJSONWriter(bw)
	var err error
	jw.object(0, func(member func(string)) {
		for _, f := range [...]struct {
			name string
			v    any
		}{
			{"schemaVersion", s.SchemaVersion}, {"tool", s.Tool}, {"runId", s.RunID}, {"auditedAt", s.AuditedAt}, {"verdict", s.Verdict},
			{"trigger", s.Trigger}, {"scope", s.Scope}, {"rules", s.Rules}, {"summary", s.Summary},
		} {
			member(f.name)
			if err = jw.value(f.v, 1); err != nil {
				return
			}
		}
		member("gateways")
		if err = jw.array(1, len(s.Gateways), s.Gateways == nil, func(i int) error {
			if encoded != nil {
				if ok, err := encoded(bw, &s.Gateways[i]); ok || err != nil {
					return err
				}
			}
			return jw.gateway(&s.Gateways[i], 2)
		}); err != nil {
			return
		}
		for _, f := range [...]struct {
			name string
			v    any
		}{{"errors", s.Errors}, {"suppressions", s.Suppressions}} {
			member(f.name)
			if err = jw.value(f.v, 1); err != nil {
				return
			}
		}
		member("changes")
		if err = jw.changes(s.Changes, 1); err != nil {
			return
		}
		if len(s.Actions) > 0 {
			member("actions")
			if err = jw.value(s.Actions, 1); err != nil {
				return
			}
		}
		if len(s.ActionsWarnings) > 0 {
			member("actionsWarnings")
			if err = jw.value(s.ActionsWarnings, 1); err != nil {
				return
			}
		}
		if s.Retire != nil {
			member("retire")
			err = jw.value(s.Retire, 1)
		}
	})
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	return nil
}

// Plural is "1 token", "3 tokens": n and word, with an s unless n is 1.
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// ErrInterrupted is the cause of a run's context cancelled because the run
// was interrupted (SIGTERM, Ctrl-C): it stops listing and writes what it
// has.
var ErrInterrupted = errors.New("the run was interrupted")

// Stopped is the record of a call cut by its context: the run's deadline,
// or an interruption (ErrInterrupted as the context's cause).
func Stopped(ctx context.Context, what string) *APIError {
	if errors.Is(context.Cause(ctx), ErrInterrupted) {
		return &APIError{Code: CodeInterrupted, Message: "not audited: the run was interrupted (SIGTERM or Ctrl-C)"}
	}
	return &APIError{Code: CodeDeadlineExceeded, Message: "not audited: the run's deadline " + what}
}
