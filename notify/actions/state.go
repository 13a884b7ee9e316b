package actions

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
)

// The record of actions is a chain of create-only states beside the
// snapshots, actions/state.{n}.json (n = 1, 2, …), each the whole record
// after one more action, compacted: one snooze per token and rule, one
// acknowledgement per token, lapsed snoozes kept 30 days, the last 100
// actions, nothing the rules of who may do what refuse. No state ever needs
// an earlier one. A writer reads the head and creates the next state; of
// two writers racing for one n, exactly one wins and the other reads again.
// States are never overwritten or deleted, so an action is never lost to a
// race.
//
// The head is found from a pointer, actions/head.json, rewritten after each
// state is created: a reader probes forward from the state it names (a
// writer that stopped before rewriting it leaves it behind). The pointer
// is a hint and the chain is the record: without a pointer (a record of an
// earlier release, or a pointer lost), the head is found by a galloping
// search that also probes every power of two, so that a record whose first
// states are gone is still found. A head that cannot be used (not JSON, not
// a state, over the store's read limit) is skipped for the newest usable
// state before it, and the skip is reported; the next state is created
// after the head all the same. A state of a newer release is never written
// over.

// Store is where the record lives: the run's store. Get of a missing key
// wraps fs.ErrNotExist; Create is atomic and wraps fs.ErrExist for a key
// that exists.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Create(ctx context.Context, key string, data []byte) error
	Put(ctx context.Context, key string, content func(io.Writer) error) error
}

// Snooze suppresses a finding until a time.
type Snooze struct {
	actionref.Ref
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by"`
	// ByName is the user's Slack name, as Slack sent it with the click.
	ByName string    `json:"byName,omitempty"`
	At     time.Time `json:"at"`
}

// Acknowledgement records who owns a token.
type Acknowledgement struct {
	actionref.Ref
	By string `json:"by"`
	// ByName is the user's Slack name, as Slack sent it with the click.
	ByName string    `json:"byName,omitempty"`
	At     time.Time `json:"at"`
}

// Record is one action attempted, allowed or refused: who, when, what,
// the outcome (done, refused, failed), the token (its key, never its
// value).
type Record = audit.ActionReport

// StateVersion is the schema version of the states this release writes.
const StateVersion = 1

// State is the record's state after the head's action.
type State struct {
	SchemaVersion int               `json:"schemaVersion"`
	Snoozes       []Snooze          `json:"snoozes"`
	Acks          []Acknowledgement `json:"acks"`
	Recent        []Record          `json:"recent"`
	// Marks are the tokens marked for deletion (actions.retire), standing
	// and recently ended; absent when there are none (a state earlier
	// releases read as theirs).
	Marks []audit.RetireMark `json:"marks,omitempty"`
}

func emptyState() State {
	return State{SchemaVersion: StateVersion, Snoozes: []Snooze{}, Acks: []Acknowledgement{}, Recent: []Record{}}
}

// Bounds of a state: the recent actions kept; how long a lapsed snooze
// stays (reported as lapsed) before it is dropped; the most snoozes and
// acknowledgements kept (the newest); the chain's length; how many
// unusable states a reader skips before it gives up.
const (
	maxRecent  = 100
	keepLapsed = 30 * audit.Day
	maxSnoozes = 20000
	maxAcks    = 20000
	maxChain   = 1 << 30
	maxSkip    = 16
)

// HeadKey is the pointer to the record's head.
const HeadKey = "actions/head.json"

func stateKey(n int) string { return fmt.Sprintf("actions/state.%d.json", n) }

// pointer is the content of HeadKey.
type pointer struct {
	SchemaVersion int       `json:"schemaVersion"`
	N             int       `json:"n"`
	At            time.Time `json:"at"`
}

// Head is the record as read: the state applied, the head's number (0:
// no record) and what was skipped to get it.
type Head struct {
	State
	// N is the head's number: the next state is N+1.
	N int
	// From is the number of the state that State is (N, unless the head
	// was skipped; 0 for none).
	From int
	// Skipped says, in plain words, which states could not be used and
	// why: the actions recorded only there are not applied.
	Skipped []string
}

// NewerError is a state written by a newer release: it is not applied as
// this release reads it, and never written over.
type NewerError struct {
	Key string
	Why string
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("the record of actions (%s) was written by a newer release (%s): upgrade livy-token-audit; it is not written over", e.Key, e.Why)
}

// tooLarge is what a store's "too large" error says of itself.
type tooLarge interface{ TooLarge() bool }

// unusable reports whether err is an object that was there but cannot be
// read whole (over the store's read limit): it is skipped like a corrupt
// one. Any other failure is the store's, and passes.
func unusable(err error) bool {
	var tl tooLarge
	return errors.As(err, &tl) && tl.TooLarge()
}

// Read returns the record's head. A state that cannot be used is skipped
// for the newest usable one before it (Head.Skipped says so); a state of a
// newer release is a *NewerError; a store that fails is an error (nothing
// is skipped for it).
func Read(ctx context.Context, st Store) (*Head, error) {
	r := reader{ctx: ctx, st: st, read: &probed{}}
	n, err := r.head()
	if err != nil {
		return nil, err
	}
	h := &Head{State: emptyState(), N: n}
	for i := n; i > 0 && i > n-maxSkip; i-- {
		s, why, err := r.state(i)
		switch {
		case err != nil:
			return nil, err
		case why != "":
			h.Skipped = append(h.Skipped, stateKey(i)+" "+why)
			continue
		}
		h.State, h.From = s, i
		return h, nil
	}
	if n > 0 && len(h.Skipped) > 0 && n > maxSkip {
		h.Skipped = append(h.Skipped, fmt.Sprintf("no usable state among the newest %d: the record starts again from nothing", maxSkip))
	}
	return h, nil
}

// reader finds and reads the record's states.
type reader struct {
	ctx context.Context
	st  Store
	// read keeps the last state probed, so that the head is not read
	// twice.
	read *probed
}

type probed struct {
	n   int
	b   []byte
	err error
}

func (r reader) exists(n int) (bool, error) {
	b, err := r.st.Get(r.ctx, stateKey(n))
	switch {
	case err == nil || unusable(err):
		if n > r.read.n {
			*r.read = probed{n, b, err}
		}
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("actions: read %s: %w", stateKey(n), err)
}

// head returns the head's number (0: no record).
func (r reader) head() (int, error) {
	if n := r.pointer(); n > 0 {
		ok, err := r.exists(n)
		if err != nil {
			return 0, err
		}
		if ok {
			return r.forward(n)
		}
	}
	ok, err := r.exists(1)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return r.forward(1)
	}
	// The first state is gone (or there is no record): a state at some
	// power of two is looked for, all at once.
	p, err := r.powers()
	if err != nil || p == 0 {
		return 0, err
	}
	return r.forward(p)
}

// pointer is the state the pointer names (0: none, or unusable).
func (r reader) pointer() int {
	b, err := r.st.Get(r.ctx, HeadKey)
	if err != nil {
		return 0
	}
	var p pointer
	if json.Unmarshal(b, &p) != nil || p.N <= 0 || p.N > maxChain {
		return 0
	}
	return p.N
}

// forward returns the last state of the chain from state lo, which
// exists: a galloping search forward, then a binary one.
func (r reader) forward(lo int) (int, error) {
	step, hi := 1, lo+1
	for {
		ok, err := r.exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, step = hi, step*2
		if hi = lo + step; hi > maxChain {
			return 0, errors.New("actions: the record's chain is too long")
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := r.exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// powers returns the largest power of two, from 2 to 2^30, that is a
// state (0: none).
func (r reader) powers() (int, error) {
	var wg sync.WaitGroup
	found := make([]bool, 31)
	errs := make([]error, 31)
	for k := 1; k <= 30; k++ {
		wg.Go(func() { found[k], errs[k] = reader{ctx: r.ctx, st: r.st, read: &probed{}}.exists(1 << k) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	for k := 30; k >= 1; k-- {
		if found[k] {
			return 1 << k, nil
		}
	}
	return 0, nil
}

// state reads state n: why it cannot be used ("" when it can), or the
// store's failure.
func (r reader) state(n int) (State, string, error) {
	b, err := r.read.b, r.read.err
	if r.read.n != n {
		b, err = r.st.Get(r.ctx, stateKey(n))
	}
	switch {
	case unusable(err):
		return State{}, "is too large to read", nil
	case errors.Is(err, fs.ErrNotExist):
		return State{}, "is missing", nil
	case err != nil:
		return State{}, "", fmt.Errorf("actions: read %s: %w", stateKey(n), err)
	}
	s, why := decodeState(b)
	if why == "newer" {
		var v struct {
			SchemaVersion int `json:"schemaVersion"`
		}
		_ = json.Unmarshal(b, &v)
		return State{}, "", &NewerError{Key: stateKey(n), Why: fmt.Sprintf("schemaVersion %d; this release writes %d", v.SchemaVersion, StateVersion)}
	}
	if why == "unknown" {
		return State{}, "", &NewerError{Key: stateKey(n), Why: "it has fields this release does not know"}
	}
	return s, why, nil
}

// decodeState decodes a state strictly: why it cannot be used ("" when
// it can; "newer" for a later schema version; "unknown" for fields this
// release does not know).
func decodeState(b []byte) (State, string) {
	var probe struct {
		SchemaVersion *int `json:"schemaVersion"`
	}
	if json.Unmarshal(b, &probe) != nil {
		return State{}, "is not JSON"
	}
	switch {
	case probe.SchemaVersion == nil || *probe.SchemaVersion < 1:
		return State{}, "is not a state of the record (no schemaVersion)"
	case *probe.SchemaVersion > StateVersion:
		return State{}, "newer"
	}
	s := emptyState()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return State{}, "unknown"
		}
		return State{}, "is not a state of the record (its fields have the wrong types)"
	}
	s.SchemaVersion = StateVersion
	for _, l := range []*[]Snooze{&s.Snoozes} {
		if *l == nil {
			*l = []Snooze{}
		}
	}
	if s.Acks == nil {
		s.Acks = []Acknowledgement{}
	}
	if s.Recent == nil {
		s.Recent = []Record{}
	}
	return s, ""
}

// Update applies change to the head state and creates the next; when
// another writer created it first, it reads again and applies change to
// that (up to 8 times). The state is compacted (see the package's record)
// with the policy's rules, then the pointer is moved to it (a pointer that
// cannot be moved is logged: the chain holds the record). It returns the
// head it changed.
func Update(ctx context.Context, st Store, p actionref.Policy, now time.Time, log *slog.Logger, change func(*State)) (*Head, error) {
	for range 8 {
		h, err := Read(ctx, st)
		if err != nil {
			return nil, err
		}
		s := h.State
		change(&s)
		s, _ = compact(p, s, now)
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		err = st.Create(ctx, stateKey(h.N+1), b)
		switch {
		case err == nil:
			movePointer(ctx, st, h.N+1, now, log)
			h.State, h.N, h.From = s, h.N+1, h.N+1
			return h, nil
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("actions: write %s: %w", stateKey(h.N+1), err)
		}
	}
	return nil, errors.New("actions: the record kept moving under this write (8 tries)")
}

func movePointer(ctx context.Context, st Store, n int, now time.Time, log *slog.Logger) {
	b, _ := json.Marshal(pointer{SchemaVersion: StateVersion, N: n, At: now.UTC()})
	if err := st.Put(ctx, HeadKey, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil && log != nil {
		log.Warn("the pointer to the record's head was not moved; readers find the head from the one before", "key", HeadKey, "n", n, "error", err)
	}
}

// compact returns s without what the record does not keep, and, in plain
// words, each entry the rules refuse and each snooze they cap: lapsed snoozes older than 30 days;
// all but the latest snooze of a token and rule, the latest
// acknowledgement of a token; entries the policy refuses (Policy.check);
// beyond the newest maxSnoozes and maxAcks; all but the last 100 actions.
func compact(p actionref.Policy, s State, now time.Time) (State, []string) {
	var dropped []string
	snoozes := make([]Snooze, 0, len(s.Snoozes))
	for _, z := range s.Snoozes {
		if now.Sub(z.Until) > keepLapsed {
			continue
		}
		z, why, ok := checkSnooze(p, z, now)
		if why != "" {
			dropped = append(dropped, why)
		}
		if ok {
			snoozes = append(snoozes, z)
		}
	}
	s.Snoozes = latest(snoozes, maxSnoozes, func(z Snooze) string { return z.Key() + "\x00" + string(z.Rule) }, func(z Snooze) time.Time { return z.At })
	acks := make([]Acknowledgement, 0, len(s.Acks))
	for _, a := range s.Acks {
		if why := check(p, actionref.Ack, a.By, a.Ref, a.At, now); why != "" {
			dropped = append(dropped, why)
			continue
		}
		acks = append(acks, a)
	}
	s.Acks = latest(acks, maxAcks, func(a Acknowledgement) string { return a.Key() }, func(a Acknowledgement) time.Time { return a.At })
	s.Recent = slices.DeleteFunc(slices.Clone(s.Recent), func(r Record) bool { return !actionref.SlackID(r.By) || r.At.After(now.Add(maxFuture)) })

	if len(s.Recent) > maxRecent {
		s.Recent = s.Recent[len(s.Recent)-maxRecent:]
	}
	return s, dropped
}

// latest keeps, of items in order, the last of each key, and of those the
// newest n by at (ties: the later in order), in their order.
func latest[T any](items []T, n int, key func(T) string, at func(T) time.Time) []T {
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[key(it)] = i
	}
	keep := make([]int, 0, len(last))
	for _, i := range last {
		keep = append(keep, i)
	}
	if len(keep) > n {
		slices.SortFunc(keep, func(a, b int) int { return cmp.Or(at(items[b]).Compare(at(items[a])), cmp.Compare(b, a)) })
		keep = keep[:n]
	}
	slices.Sort(keep)
	out := make([]T, 0, len(keep))
	for _, i := range keep {
		out = append(out, items[i])
	}
	return out
}

// Suppressions are the state's snoozes as the audit applies them: each
// suppresses one finding of one token, named exactly (account, region,
// workspace, gateway and token, compared as values), until its day (a
// lapsed one is reported as lapsed, as a lapsed config suppression is). A
// snooze its owner made holds only while the token is still created by
// them; one made by a user of actions.users holds whoever created it.
func (s State) suppressions(p actionref.Policy) []audit.Suppression {
	out := make([]audit.Suppression, 0, len(s.Snoozes))
	for _, z := range s.Snoozes {
		reason := "snoozed by <@" + z.By + "> until " + z.Until.UTC().Format(time.DateOnly)
		if z.Reason != "" {
			reason += ", " + z.Reason
		}
		until := z.Until.UTC().Truncate(audit.Day)
		gw := z.GatewayRef()
		sup := audit.Suppression{TokenID: z.Token, Gateway: z.Gateway, Account: z.AccountID, Rules: []audit.Rule{z.Rule}, Reason: reason, Until: until,
			SnoozedBy: z.By, SnoozedByName: actionref.SlackName(z.ByName), Exact: &gw}
		if !slices.Contains(p.Users, z.By) {
			sup.CreatedBy = z.Owner
			// An owner is known by the name the token's createdBy gives.
			sup.SnoozedByName = cmp.Or(sup.SnoozedByName, actionref.SlackName(z.Owner))
		}
		out = append(out, sup)
	}
	return out
}

// acknowledged are the state's acknowledgements, by the token's key (as
// audit.TokenKey makes it).
func (s State) acknowledged(p actionref.Policy) map[string]audit.Acknowledgement {
	out := map[string]audit.Acknowledgement{}
	for _, a := range s.Acks {
		ack := audit.Acknowledgement{By: a.By, ByName: actionref.SlackName(a.ByName), At: a.At}
		if !slices.Contains(p.Users, a.By) {
			ack.CreatedBy = a.Owner
			ack.ByName = cmp.Or(ack.ByName, actionref.SlackName(a.Owner))
		}
		out[a.Key()] = ack
	}
	return out
}

// Source reads the record for the audit (run.ActionsReader), and checks
// it again with the rules of who may do what: the record is input.
type Source struct {
	Store  Store
	Policy actionref.Policy
	// Now is the wall clock (nil: time.Now).
	Now func() time.Time
}

// ReadActions reads the record's head as the audit applies it. What could
// not be applied — states skipped, entries the rules refuse — is in
// Warnings, in plain words. A record of a newer release is not applied at
// all (it is said why); a store that fails is an error.
func (src Source) ReadActions(ctx context.Context) (audit.Actions, error) {
	now := time.Now()
	if src.Now != nil {
		now = src.Now()
	}
	h, err := Read(ctx, src.Store)
	var ne *NewerError
	switch {
	case errors.As(err, &ne):
		return audit.Actions{Warnings: []string{ne.Error() + ": its snoozes and acknowledgements are not applied"}}, nil
	case err != nil:
		return audit.Actions{}, err
	}
	var warn []string
	for _, s := range h.Skipped {
		warn = append(warn, "the record of actions' "+s+": actions recorded only there are not applied")
	}
	s, dropped := compact(src.Policy, h.State, now)
	warn = append(warn, dropped...)
	return audit.Actions{Snoozes: s.suppressions(src.Policy), Acks: s.acknowledged(src.Policy), Recent: s.Recent, Warnings: warn}, nil
}
