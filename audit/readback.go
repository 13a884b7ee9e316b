package audit

import (
	"encoding/json"
	"fmt"
)

// ReadSnapshot decodes a snapshot read from a store. A snapshot of another
// schema version is an error.
func ReadSnapshot(b []byte) (*Snapshot, error) {
	var probe struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not a snapshot: %w", err)
	}
	if err := checkVersion(probe.SchemaVersion); err != nil {
		return nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("not a snapshot: %w", err)
	}
	return &s, nil
}

// NewerError is a file written by a newer release (a larger
// schemaVersion): it is never overwritten by this one.
type NewerError struct {
	Version int
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("written by a newer release (schemaVersion %d; this release writes %d): it is not overwritten; upgrade livy-token-audit", e.Version, SchemaVersion)
}

// checkVersion refuses another schema version: a newer one as a
// *NewerError.
func checkVersion(v int) error {
	switch {
	case v > SchemaVersion:
		return &NewerError{Version: v}
	case v != SchemaVersion:
		return fmt.Errorf("schemaVersion %d, want %d", v, SchemaVersion)
	}
	return nil
}
