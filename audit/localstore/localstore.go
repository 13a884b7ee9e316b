// Package localstore keeps snapshots in a folder (snapshot.dir): every
// object is written whole or not at all (a temporary file, synced, then
// renamed), created exclusively (O_EXCL) for delivery claims, and copied
// as a hard link where the file system allows it.
package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"livy-token-audit/audit/store"
)

// Store keeps snapshots in a directory. It implements store.Store.
type Store struct {
	Dir string
}

var _ store.Store = (*Store)(nil)

func (s *Store) path(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fmt.Errorf("local store: invalid key %q", key)
	}
	return filepath.Join(s.Dir, filepath.FromSlash(key)), nil
}

// Get reads the file at key.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local store: get %s: %w", p, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("local store: get %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, store.MaxObjectBytes+1))
	if err != nil {
		return nil, fmt.Errorf("local store: get %s: %w", p, err)
	}
	if len(b) > store.MaxObjectBytes {
		return nil, fmt.Errorf("local store: get %s: %w", p, store.ErrTooLarge)
	}
	return b, nil
}

// Create writes the file only if it does not exist, whole: the content
// goes to a temporary file, synced, which is then hard-linked to the key
// (link fails if the key exists, as O_EXCL does). So no reader ever sees a
// created file empty or in part, not even when the process is killed
// between two writes.
func (s *Store) Create(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	if err := os.Link(f.Name(), p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("local store: create %s: %w", p, store.ErrExists)
		}
		return fmt.Errorf("local store: create %s: %w", p, err)
	}
	return nil
}

// Put writes the file atomically: a temporary file in the same directory,
// synced, then renamed over key.
func (s *Store) Put(_ context.Context, key string, content store.Content) error {
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
func (s *Store) Location(_ context.Context, key string) string {
	p, err := s.path(key)
	if err != nil {
		return key
	}
	return p
}

// Copy makes dst a copy of src, atomically: a hard link to src's file
// under a temporary name, renamed over dst (objects are never changed in
// place, only replaced, so the two names never diverge by a write). Where
// the file system has no hard links, the content is copied.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	sp, err := s.path(src)
	if err != nil {
		return err
	}
	dp, err := s.path(dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dp), 0o755); err != nil {
		return fmt.Errorf("local store: copy %s: %w", dp, err)
	}
	tmp := filepath.Join(filepath.Dir(dp), fmt.Sprintf(".tmp-link-%016x", rand.Uint64()))
	if err := os.Link(sp, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local store: copy %s: %w", sp, store.ErrNotFound)
		}
		return s.Put(ctx, dst, func(w io.Writer) error {
			f, err := os.Open(sp)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
	}
	if err := os.Rename(tmp, dp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("local store: copy %s: %w", dp, err)
	}
	return nil
}
