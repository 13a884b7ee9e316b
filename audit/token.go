// Package audit owns the domain of livy-token-audit: gateway tokens, the
// rule table and the rules that flag them, suppressions, the snapshot that
// records one audit, the changes between two audits, the baseline and the
// history, and the selectors that slice a fleet (Match, Slice, Narrow).
//
// It stands on the standard library alone. What uses the outside world
// lives beside it, each in a package of its own with the interfaces it
// needs defined where it uses them: the config (audit/config), the fleet
// walk (audit/fleet), one whole run (audit/run), the EMR API client
// (audit/emr), the stores (audit/store, audit/localstore, audit/ossstore).
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Token is one Livy Gateway access token as the audit sees it. It has no field
// for the token's secret value: clients measure the value as they decode a
// response (Secret: a keyed digest and a strength estimate) and drop it, so
// it cannot reach a snapshot, a log or a report.
type Token struct {
	ID        string
	Name      string
	CreatedBy string
	// MemberArns and AccountNames are who a Kyuubi token is for (the
	// workspace members and accounts it grants): owners besides its creator.
	MemberArns, AccountNames []string
	// Secret is what is kept of the value (zero when the API returned
	// none).
	Secret Secret
	// CreateTime, ExpireTime and LastUsedTime are zero when the API reported
	// none (absent, 0 or negative).
	CreateTime   time.Time
	ExpireTime   time.Time
	LastUsedTime time.Time
	// DataErrors lists the fields whose value was not a real instant (past
	// year 9999, negative, not an integer): those fields are unknown — not
	// "none" — and no rule that needs them applies.
	DataErrors []DataError
}

// DataError is one field of a token that the API answered with a value that
// cannot be a time.
type DataError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// implausible marks a time that could be read but cannot be right (see
	// Plausible): the implausible rule flags it.
	implausible bool
}

// Token field names, as the API and the snapshot spell them.
const (
	FieldCreateTime   = "createTime"
	FieldExpireTime   = "expireTime"
	FieldLastUsedTime = "lastUsedTime"
)

// Unknown reports whether field could not be read.
func (t Token) Unknown(field string) bool {
	for _, e := range t.DataErrors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// MaxText is the most characters of a name, owner, code or message that the
// audit keeps from an answer of the API; longer ones are cut with "…".
// Reports cut further.
const MaxText = 256

// BoundText cuts s to MaxText characters.
func BoundText(s string) string { return Truncate(s, MaxText) }

// Truncate cuts s to n characters (runes), the last one "…" when cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count, cut := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
		}
		if count++; count > n {
			return s[:cut] + "…"
		}
	}
	return s
}

// Workspace is an EMR Serverless Spark workspace.
type Workspace struct {
	ID   string
	Name string
}

// Gateway is one Livy Gateway (a "Livy compute") of a workspace.
type Gateway struct {
	ID     string
	Name   string
	Status string
}

// GatewayRef names one gateway to audit. Names are empty for gateways given
// explicitly in the config, which are not discovered. AccountID and
// AccountName are empty for the run's own account.
type GatewayRef struct {
	AccountID     string
	AccountName   string
	Region        string
	WorkspaceID   string
	WorkspaceName string
	GatewayID     string
	GatewayName   string
	GatewayStatus string
	// Kind is the kind of gateway ("" for a Livy Gateway, KindLivy).
	Kind string
}

// KindLivy is the kind of a Livy Gateway: the kind of every gateway whose
// kind is not said. KindKyuubi is a Kyuubi Gateway's (JDBC/ODBC SQL).
const (
	KindLivy   = "livy"
	KindKyuubi = "kyuubi"
)

// KindOf is a gateway kind as reports name it: "livy" for "".
func KindOf(kind string) string {
	if kind == "" {
		return KindLivy
	}
	return kind
}

// SecretVisible reports whether the API shows the tokens' values on
// gateways of kind: a Kyuubi listing masks them (dxj****wfg), so nothing
// is measured, hashed or compared there, whatever a value looks like.
func SecretVisible(kind string) bool { return KindOf(kind) == KindLivy }

// SecretNotVisible is what the snapshot says of such a gateway's secrets.
const SecretNotVisible = "not visible"

// Key identifies a gateway across runs: region/workspace/gateway, prefixed
// with the account ID for an account other than the run's own.
func (g GatewayRef) Key() string {
	return gatewayKey(g.AccountID, g.Region, g.WorkspaceID, g.GatewayID)
}

func gatewayKey(account, region, workspace, gateway string) string {
	k := region + "/" + workspace + "/" + gateway
	if account != "" {
		k = account + "/" + k
	}
	return k
}

// maxMillis is the last millisecond of year 9999, the last instant a
// snapshot (RFC 3339) can hold.
var maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// EpochMillis converts an API time in epoch milliseconds to a UTC time. 0
// and -1 mean "none" (the API's ways of saying never) and yield the zero
// time; any other negative value, or one past year 9999, is not a real
// instant and is an error.
func EpochMillis(ms int64) (time.Time, error) {
	switch {
	case ms == 0 || ms == -1:
		return time.Time{}, nil
	case ms < 0:
		return time.Time{}, fmt.Errorf("%d is negative, not a time", ms)
	case ms > maxMillis:
		return time.Time{}, fmt.Errorf("%d is past year 9999, not a time", ms)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Finding is one rule that a token breaks. Stage is set on an expiring
// finding when rules.expiryStages is: the nearest stage the token has
// entered ("7d").
type Finding struct {
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Stage    string   `json:"stage,omitempty"`
	// ReuseGroup numbers, on a reused finding, the group of tokens that
	// share one secret (1, 2, … in the run; never the value or a digest),
	// and SharedWith counts the other tokens of the group.
	ReuseGroup int `json:"reuseGroup,omitempty"`
	SharedWith int `json:"sharedWith,omitempty"`
	// FirstSeen is the audit time this finding was first seen on the token
	// (set by Compare, carried in the baseline).
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	// FirstSeenAtLeast says that FirstSeen is the earliest audit known to
	// have seen it (a baseline of an earlier release kept no date): the
	// finding is at least that old.
	FirstSeenAtLeast bool `json:"firstSeenAtLeast,omitempty"`
	// Reopened counts how often the finding came back after it was
	// resolved; Fingerprint names it from run to run (audit.Fingerprint).
	Reopened    int    `json:"reopened,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Fingerprint names one finding — a rule on a token of a gateway —
// stably from run to run: the first 16 bytes, in hex, of the SHA-256 of
// the account, region, workspace, gateway kind and ID, token ID and rule.
// Two findings share one only if they are the same finding.
func Fingerprint(g GatewayRef, tokenID string, r Rule) string {
	kind := g.Kind
	if kind == "" {
		kind = KindLivy
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{"livy-token-audit finding v1", g.AccountID, g.Region, g.WorkspaceID, kind, g.GatewayID, tokenID, string(r)}, "\x00")))
	return hex.EncodeToString(sum[:16])
}
