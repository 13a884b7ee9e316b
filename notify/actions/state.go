package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"livy-token-audit/audit"
)

// The record of actions is a chain of create-only states beside the
// snapshots: actions/state.{n}.json, n = 1, 2, …, each the whole state
// (active snoozes, acknowledgements, the recent actions) after one more
// action. A writer reads the head and creates the next; of two writers
// racing for one n, exactly one wins, and the other reads again. Nothing is
// overwritten or deleted, so an action is never lost to a race. The head is
// found with a galloping search: about 2·log2(n) reads.

// Store is where the record lives: the run's store.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Create(ctx context.Context, key string, data []byte) error
}

// Snooze suppresses a finding until a time.
type Snooze struct {
	Ref
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// Acknowledgement records who owns a token.
type Acknowledgement struct {
	Ref
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Record is one action attempted, allowed or refused: who, when, what,
// the outcome (done, refused, failed), the token (its key, never its
// value).
type Record = audit.ActionReport

// State is the record's state after the head's action.
type State struct {
	SchemaVersion int               `json:"schemaVersion"`
	Snoozes       []Snooze          `json:"snoozes"`
	Acks          []Acknowledgement `json:"acks"`
	Recent        []Record          `json:"recent"`
}

// Bounds of a state: the recent actions kept, and how long a lapsed snooze
// stays (reported as lapsed) before it is dropped.
const (
	maxRecent  = 100
	keepLapsed = 30 * audit.Day
	maxChain   = 1 << 30
)

func stateKey(n int) string { return fmt.Sprintf("actions/state.%d.json", n) }

// Read returns the record's head state and its number (0 and an empty
// state when there is none).
func Read(ctx context.Context, st Store) (State, int, error) {
	exists := func(n int) (bool, error) {
		_, err := st.Get(ctx, stateKey(n))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		}
		return false, err
	}
	lo, hi := 0, 1 // state lo exists (0: none), state hi does not
	for {
		ok, err := exists(hi)
		if err != nil {
			return State{}, 0, fmt.Errorf("actions: read %s: %w", stateKey(hi), err)
		}
		if !ok {
			break
		}
		if lo, hi = hi, hi*2; hi > maxChain {
			return State{}, 0, errors.New("actions: the record's chain is too long")
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, err := exists(mid)
		if err != nil {
			return State{}, 0, fmt.Errorf("actions: read %s: %w", stateKey(mid), err)
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	s := State{SchemaVersion: 1, Snoozes: []Snooze{}, Acks: []Acknowledgement{}, Recent: []Record{}}
	if lo == 0 {
		return s, 0, nil
	}
	b, err := st.Get(ctx, stateKey(lo))
	if err != nil {
		return State{}, 0, fmt.Errorf("actions: read %s: %w", stateKey(lo), err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, 0, fmt.Errorf("actions: read %s: %w", stateKey(lo), err)
	}
	return s, lo, nil
}

// Update applies change to the head state and creates the next; when
// another writer created it first, it reads again and applies change to
// that (up to 8 times). The state is pruned: lapsed snoozes older than 30
// days, one acknowledgement per token, the last 100 actions.
func Update(ctx context.Context, st Store, now time.Time, change func(*State)) (State, error) {
	for range 8 {
		s, n, err := Read(ctx, st)
		if err != nil {
			return State{}, err
		}
		change(&s)
		prune(&s, now)
		b, err := json.Marshal(s)
		if err != nil {
			return State{}, err
		}
		err = st.Create(ctx, stateKey(n+1), b)
		switch {
		case err == nil:
			return s, nil
		case !errors.Is(err, fs.ErrExist):
			return State{}, fmt.Errorf("actions: write %s: %w", stateKey(n+1), err)
		}
	}
	return State{}, errors.New("actions: the record kept moving under this write (8 tries)")
}

func prune(s *State, now time.Time) {
	s.Snoozes = slices.DeleteFunc(s.Snoozes, func(z Snooze) bool { return now.Sub(z.Until) > keepLapsed })
	seen := map[string]bool{}
	for i := len(s.Acks) - 1; i >= 0; i-- { // the latest acknowledgement of a token stays
		if k := s.Acks[i].Key(); seen[k] {
			s.Acks = slices.Delete(s.Acks, i, i+1)
		} else {
			seen[k] = true
		}
	}
	if len(s.Recent) > maxRecent {
		s.Recent = s.Recent[len(s.Recent)-maxRecent:]
	}
}

// Suppressions are the state's snoozes as the audit applies them: each
// suppresses its finding on its token until its day (a lapsed one is
// reported as lapsed, as a lapsed config suppression is).
func (s State) Suppressions() []audit.Suppression {
	out := make([]audit.Suppression, 0, len(s.Snoozes))
	for _, z := range s.Snoozes {
		reason := "snoozed by <@" + z.By + "> until " + z.Until.UTC().Format(time.DateOnly)
		if z.Reason != "" {
			reason += ", " + z.Reason
		}
		until := z.Until.UTC().Truncate(audit.Day)
		out = append(out, audit.Suppression{TokenID: z.Token, Gateway: z.Gateway, Account: z.AccountID, Rules: []audit.Rule{z.Rule}, Reason: reason, Until: until, SnoozedBy: z.By})
	}
	return out
}

// Acknowledged are the state's acknowledgements, by the token's key (as
// audit.TokenKey makes it).
func (s State) Acknowledged() map[string]audit.Acknowledgement {
	out := map[string]audit.Acknowledgement{}
	for _, a := range s.Acks {
		out[a.Key()] = audit.Acknowledgement{By: a.By, At: a.At}
	}
	return out
}

// Source reads the record for the audit (run.ActionsReader).
type Source struct{ Store Store }

// ReadActions reads the record's head state as the audit applies it.
func (src Source) ReadActions(ctx context.Context) (audit.Actions, error) {
	s, _, err := Read(ctx, src.Store)
	if err != nil {
		return audit.Actions{}, err
	}
	return audit.Actions{Snoozes: s.Suppressions(), Acks: s.Acknowledged(), Recent: s.Recent}, nil
}
