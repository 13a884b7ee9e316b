// Package actionref is the contract of the buttons the reports carry,
// which both the sinks that render them (notify/slack) and the endpoint
// that serves their clicks (notify/actions) read: the verbs, the signed
// references a button's value holds, and who may do what.
//
// A button's value is the verb, "|", then a reference to the token and its
// finding as the report showed them, signed with a key derived from the
// Slack app's signing secret: an action names only what one of our messages
// showed. Every request is verified with the signing secret; the rules of
// who may do what are checked on the server for each one.
package actionref

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// ActionIDPrefix starts the action_id of every element the report carries.
const ActionIDPrefix = "lta_"

// The verbs.
const (
	Snooze7d  = "snooze:7d"
	Snooze30d = "snooze:30d"
	Snooze90d = "snooze:90d"
	Ack       = "ack"
	Delete    = "delete"
)

// SnoozeFor is how long a snooze verb lasts (0 for another verb).
func SnoozeFor(verb string) time.Duration {
	switch verb {
	case Snooze7d:
		return 7 * audit.Day
	case Snooze30d:
		return 30 * audit.Day
	case Snooze90d:
		return 90 * audit.Day
	}
	return 0
}

// Ref names a token and its finding as a report showed them.
type Ref struct {
	AccountID string `json:"a,omitempty"` // "" for the run's own account
	Region    string `json:"r"`
	Workspace string `json:"w"`
	Gateway   string `json:"g"`
	// Kind is the gateway's kind ("" for livy).
	Kind  string     `json:"k,omitempty"`
	Token string     `json:"t"`
	Name  string     `json:"n,omitempty"`
	Owner string     `json:"o,omitempty"` // the token's createdBy
	Rule  audit.Rule `json:"f"`
	// Expire is the token's expiry when the report was made (epoch ms, 0
	// for none): a delete refuses a token refreshed since.
	Expire int64  `json:"e,omitempty"`
	Run    string `json:"u"`
}

// Key names the token across runs.
func (r Ref) Key() string {
	return audit.TokenKey(r.GatewayRef(), r.Token)
}

// GatewayRef is the token's gateway.
func (r Ref) GatewayRef() audit.GatewayRef {
	return audit.GatewayRef{AccountID: r.AccountID, Region: r.Region, WorkspaceID: r.Workspace, GatewayID: r.Gateway, Kind: r.Kind}
}

// RefOf is the reference of token t's finding f on gateway g in run s.
func RefOf(s *audit.Snapshot, g *audit.GatewayReport, t *audit.TokenReport, f *audit.Finding) Ref {
	r := Ref{AccountID: g.AccountID, Region: g.Region, Workspace: g.WorkspaceID, Gateway: g.GatewayID, Kind: g.Ref().Kind, Token: t.TokenID,
		Name: audit.Truncate(t.Name, 64), Owner: audit.Truncate(t.CreatedBy, 64), Rule: f.Rule, Run: s.RunID}
	if t.ExpireTime != nil {
		r.Expire = t.ExpireTime.UnixMilli()
	}
	return r
}

// MaxValue is the most characters of an element's value Slack takes.
const MaxValue = 2000

// Signer signs and checks references with a key derived from the Slack
// app's signing secret.
type Signer struct{ key []byte }

// NewSigner derives the references' key from the signing secret.
func NewSigner(signingSecret string) Signer {
	m := hmac.New(sha256.New, []byte(signingSecret))
	m.Write([]byte("livy-token-audit action reference v1"))
	return Signer{key: m.Sum(nil)}
}

func (s Signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Value is the value of an element that does verb to ref: "verb|ref".
func (s Signer) Value(verb string, r Ref) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	v := verb + "|" + p + "." + s.mac(verb+"|"+p)
	if len(v) > MaxValue {
		return "", fmt.Errorf("actions: a value of %d characters (Slack takes %d)", len(v), MaxValue)
	}
	return v, nil
}

// ErrForged is a value our signer did not make.
var ErrForged = errors.New("the action's reference is not one of our reports'")

// Parse reads a value: its verb and reference, checked.
func (s Signer) Parse(v string) (string, Ref, error) {
	var r Ref
	verb, rest, ok := strings.Cut(v, "|")
	p, mac, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || len(v) > MaxValue {
		return "", r, ErrForged
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(verb+"|"+p))) {
		return "", r, ErrForged
	}
	if SnoozeFor(verb) == 0 && verb != Ack && verb != Delete {
		return "", r, fmt.Errorf("unknown verb %q", audit.Truncate(verb, 20))
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &r) != nil || r.Token == "" || r.Gateway == "" {
		return "", r, ErrForged
	}
	return verb, r, nil
}
