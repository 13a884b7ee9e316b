package audit

import (
	"encoding/json"
	"fmt"
)

// Severity ranks findings; a larger value is more severe.
type Severity int

// Severities from least to most severe.
const (
	SeverityLow Severity = iota + 1
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = map[Severity]string{
	SeverityLow: "low", SeverityMedium: "medium", SeverityHigh: "high", SeverityCritical: "critical",
}

func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity returns the severity named s.
func ParseSeverity(s string) (Severity, error) {
	for v, n := range severityNames {
		if n == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON reads a severity's name (a fast path for the baseline and
// snapshots read back, which hold one per finding); null leaves it as it
// is.
func (s *Severity) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("severity: %s is not a string", Truncate(string(b), 20))
	}
	for v, n := range severityNames {
		if string(b[1:len(b)-1]) == n {
			*s = v
			return nil
		}
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	return s.UnmarshalText([]byte(name))
}
