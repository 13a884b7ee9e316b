// Package lookups keeps what the owner lookups learned of Slack across
// runs: for each email, the Slack user it belongs to, or why none does.
// users.lookupByEmail is one of Slack's Tier 3 methods (about 50 a
// minute): a fleet with hundreds of creators would spend minutes of every
// run asking again, and owners not reached by the deadline would stay
// unknown day after day. Emails are never stored: each is kept under its
// SHA-256.
package lookups

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Key is where the lookups are kept, beside the snapshots.
const Key = "owners/slack-lookups.json"

// How long an answer is believed: a user found for a week, an email
// with no Slack user (or a deactivated one) for a day.
const (
	FoundFor = 7 * 24 * time.Hour
	NoneFor  = 24 * time.Hour
)

// MaxEntries bounds the lookups kept (the newest).
const MaxEntries = 50000

// schemaVersion is the version this release writes; a file of a later
// one is read as empty and never written over.
const schemaVersion = 1

// Store is where the lookups are kept (the run's store): Get of a missing
// key wraps fs.ErrNotExist.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, content func(io.Writer) error) error
}

// Answer is what Slack said of one email: the user's ID, or why there is
// none ("no Slack user has their email").
type Answer struct {
	ID   string    `json:"id,omitempty"`
	None string    `json:"none,omitempty"`
	At   time.Time `json:"at"`
}

type file struct {
	SchemaVersion int               `json:"schemaVersion"`
	Answers       map[string]Answer `json:"answers"`
}

// Cache is the lookups of one run: read from the store on first use,
// written back by Keep when the run learned something. It is safe for
// concurrent use.
type Cache struct {
	Store Store
	// Now is the clock answers are dated and aged by (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex
	loaded  bool
	newer   bool // the file is a later release's: never written over
	answers map[string]Answer
	dirty   bool
}

// Get is the answer kept for email, when it is still believed (a nil
// Cache keeps none).
func (c *Cache) Get(ctx context.Context, email string) (Answer, bool) {
	if c == nil {
		return Answer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(ctx)
	a, ok := c.answers[hash(email)]
	if !ok {
		return Answer{}, false
	}
	age := c.now().Sub(a.At)
	if age < 0 || a.ID != "" && age >= FoundFor || a.ID == "" && age >= NoneFor {
		return Answer{}, false
	}
	return a, true
}

// Put keeps Slack's answer for email: its user's ID, or why there is
// none.
func (c *Cache) Put(ctx context.Context, email, id, none string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(ctx)
	c.answers[hash(email)] = Answer{ID: id, None: none, At: c.now().UTC()}
	c.dirty = true
}

// Forget drops every answer that names the Slack user id (a direct
// message to them failed: the next run asks Slack again).
func (c *Cache) Forget(ctx context.Context, id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(ctx)
	for k, a := range c.answers {
		if a.ID == id {
			delete(c.answers, k)
			c.dirty = true
		}
	}
}

// Keep writes the answers back when the run learned something: those no
// longer believed are dropped, and the newest MaxEntries kept.
func (c *Cache) Keep(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty || c.newer {
		return nil
	}
	now := c.now()
	keep := map[string]Answer{}
	for k, a := range c.answers {
		if age := now.Sub(a.At); age >= 0 && (a.ID != "" && age < FoundFor || a.ID == "" && age < NoneFor) {
			keep[k] = a
		}
	}
	if len(keep) > MaxEntries {
		keys := slices.SortedFunc(maps.Keys(keep), func(a, b string) int { return keep[b].At.Compare(keep[a].At) })
		for _, k := range keys[MaxEntries:] {
			delete(keep, k)
		}
	}
	b, err := json.MarshalIndent(file{SchemaVersion: schemaVersion, Answers: keep}, "", "  ")
	if err != nil {
		return err
	}
	if err := c.Store.Put(ctx, Key, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("lookups: put %s: %w", Key, err)
	}
	c.dirty = false
	return nil
}

// load reads the file once. One that is missing, unreadable or not a
// lookups file is an empty cache (said in the log): the lookups are asked
// again, and the next Keep writes a good one. One of a later release is
// read as empty and never written over.
func (c *Cache) load(ctx context.Context) {
	if c.loaded {
		return
	}
	c.loaded, c.answers = true, map[string]Answer{}
	b, err := c.Store.Get(ctx, Key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		c.logger().Warn("owner lookups kept from earlier runs could not be read; Slack is asked again", "key", Key, "error", err)
		return
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	switch err := dec.Decode(&f); {
	case err == nil && f.SchemaVersion > schemaVersion:
		c.newer = true
		c.logger().Warn("owner lookups kept by a newer release: read as none, never written over", "key", Key, "schemaVersion", f.SchemaVersion)
	case err != nil || f.SchemaVersion != schemaVersion:
		c.logger().Warn("owner lookups kept from earlier runs are not a lookups file; Slack is asked again", "key", Key)
	default:
		for k, a := range f.Answers {
			if len(k) == sha256.Size*2 && (a.ID == "" || userID(a.ID)) {
				c.answers[k] = a
			}
		}
	}
}

// hash is the key an email is kept under: the SHA-256 of its trimmed,
// lower-case form.
func hash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// userID reports whether id has the shape of a Slack user ID.
func userID(id string) bool {
	if len(id) < 3 || len(id) > 32 || id[0] != 'U' && id[0] != 'W' {
		return false
	}
	for _, r := range id[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (c *Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Cache) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
