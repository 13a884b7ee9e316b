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
	if probe.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schemaVersion %d, want %d", probe.SchemaVersion, SchemaVersion)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("not a snapshot: %w", err)
	}
	return &s, nil
}
