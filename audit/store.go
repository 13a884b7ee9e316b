package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned (wrapped) by Store.Get for a key that does not
// exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by Store.Create for a key that exists.
var ErrExists = errors.New("already exists")

// ErrTooLarge is returned (wrapped) by Store.Get for an object larger than
// MaxObjectBytes.
var ErrTooLarge = fmt.Errorf("larger than %d MiB; not read", MaxObjectBytes>>20)

// MaxObjectBytes caps what a store reads back (latest.json, baseline.json,
// a snapshot to reuse): a larger object is an error, never read into
// memory.
const MaxObjectBytes = 32 << 20

// Store keeps snapshots under keys like 2026/11/27/20261127T090000Z.json,
// latest.json and baseline.json. Implementations: LocalStore and the OSS
// store.
type Store interface {
	// Get returns the object at key, or an error wrapping ErrNotFound. An
	// object larger than MaxObjectBytes is an error.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes the object at key whole, or not at all. content may be
	// called more than once (a retry).
	Put(ctx context.Context, key string, content Content) error
	// Create writes the object at key only if there is none, atomically:
	// of two concurrent creators exactly one succeeds, the other gets an
	// error wrapping ErrExists.
	Create(ctx context.Context, key string, data []byte) error
	// Delete removes the object at key; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// Location says where key is, for people: a path or a URL. It never
	// carries credentials.
	Location(ctx context.Context, key string) string
}

// Content writes an object's content to w. A snapshot's is streamed, so a
// large fleet is never encoded whole in memory.
type Content func(w io.Writer) error

// Bytes is the content b.
func Bytes(b []byte) Content {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
}

// LocalStore keeps snapshots in a directory.
type LocalStore struct {
	Dir string
}

var _ Store = (*LocalStore)(nil)

func (s *LocalStore) path(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fmt.Errorf("local store: invalid key %q", key)
	}
	return filepath.Join(s.Dir, filepath.FromSlash(key)), nil
}

// Get reads the file at key.
func (s *LocalStore) Get(_ context.Context, key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local store: get %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("local store: get %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxObjectBytes+1))
	if err != nil {
		return nil, fmt.Errorf("local store: get %s: %w", p, err)
	}
	if len(b) > MaxObjectBytes {
		return nil, fmt.Errorf("local store: get %s: %w", p, ErrTooLarge)
	}
	return b, nil
}

// Create writes the file only if it does not exist (O_EXCL).
func (s *LocalStore) Create(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local store: create %s: %w", p, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	return nil
}

// Delete removes the file at key.
func (s *LocalStore) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local store: delete %s: %w", p, err)
	}
	return nil
}

// Put writes the file atomically: a temporary file in the same directory,
// synced, then renamed over key.
func (s *LocalStore) Put(_ context.Context, key string, content Content) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := content(f); err != nil {
		f.Close()
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("local store: put %s: %w", p, err)
	}
	return nil
}

// Location is the file's path.
func (s *LocalStore) Location(_ context.Context, key string) string {
	p, err := s.path(key)
	if err != nil {
		return key
	}
	return p
}

// ReadSnapshot decodes a snapshot read from a store. A snapshot of another
// schema version is an error.
func ReadSnapshot(b []byte) (*Snapshot, error) {
	var probe struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not a snapshot: %w", err)
	}
	if probe.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schemaVersion %d, want %d", probe.SchemaVersion, SchemaVersion)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("not a snapshot: %w", err)
	}
	return &s, nil
}

// claimKey is where a run claims, then records, the delivery of its report
// (kind "report") or of its failure notice (kind "failure") to one
// destination: {stamp}.notified.json for the main Slack destination ("slack",
// the name earlier versions used), {stamp}.{destination}.notified.json for
// the others, with .failure before the destination for failure notices.
// Every claim ends in .notified.json, which is all the RAM policy lets the
// run delete.
func claimKey(snapshotKey, kind, dest string) string {
	base := strings.TrimSuffix(snapshotKey, ".json")
	if kind == claimFailure {
		base += ".failure"
	}
	if dest != "slack" {
		base += "." + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, dest)
	}
	return base + ".notified.json"
}
