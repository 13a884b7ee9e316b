// Package store is the contract of the stores the audit keeps its state
// in (a folder, an OSS bucket): what a store does, and the errors it
// answers with, which the packages above tell with the standard library
// alone (they are also fs.ErrNotExist, fs.ErrExist, and say TooLarge).
package store

import (
	"context"
	"fmt"
	"io"
	"io/fs"
)

// Store keeps snapshots under keys like 2026/11/27/20261127T090000Z.json,
// latest.json and baseline.json. Implementations: localstore and ossstore.
type Store interface {
	// Get returns the object at key, or an error wrapping ErrNotFound. An
	// object larger than MaxObjectBytes is an error wrapping ErrTooLarge.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes the object at key whole, or not at all. content may be
	// called more than once (a retry).
	Put(ctx context.Context, key string, content Content) error
	// Create writes the object at key only if there is none, atomically:
	// of two concurrent creators exactly one succeeds, the other gets an
	// error wrapping ErrExists.
	Create(ctx context.Context, key string, data []byte) error
	// Copy writes a copy of the object at src to dst, whole or not at all,
	// without sending its content again where the store can copy in place
	// (OSS CopyObject; a hard link on disk).
	Copy(ctx context.Context, src, dst string) error
	// Location says where key is, for people: a path or a URL. It never
	// carries credentials.
	Location(ctx context.Context, key string) string
}

// Content writes an object's content to w. A snapshot's is streamed, so a
// large fleet is never encoded whole in memory.
type Content = func(w io.Writer) error

// Bytes is the content b.
func Bytes(b []byte) Content {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
}

// storeError is a sentinel error that is also its io/fs counterpart, so
// that packages that only know the standard library (notify's claims) can
// tell it.
type storeError struct {
	msg string
	fs  error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.fs }

// ErrNotFound is returned (wrapped) by Store.Get for a key that does not
// exist; it is also fs.ErrNotExist.
var ErrNotFound error = &storeError{"not found", fs.ErrNotExist}

// ErrExists is returned (wrapped) by Store.Create for a key that exists;
// it is also fs.ErrExist.
var ErrExists error = &storeError{"already exists", fs.ErrExist}

// ErrDenied is returned (wrapped) by a store that was refused the
// operation (OSS AccessDenied; a folder's permissions); it is also
// fs.ErrPermission.
var ErrDenied error = &storeError{"access denied", fs.ErrPermission}

// MaxObjectBytes caps what a store reads back (latest.json, baseline.json,
// a snapshot to reuse): a larger object is an error, never read into
// memory.
const MaxObjectBytes = 32 << 20

// ErrTooLarge is returned (wrapped) by Store.Get for an object larger than
// MaxObjectBytes. It says so of itself (TooLarge), so that packages that
// only know the standard library (notify's claims, the record of actions)
// can tell it.
var ErrTooLarge error = tooLargeError{}

type tooLargeError struct{}

func (tooLargeError) Error() string {
	return fmt.Sprintf("larger than %d MiB; not read", MaxObjectBytes>>20)
}
func (tooLargeError) TooLarge() bool { return true }
