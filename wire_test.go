package main

import (
	"strings"
	"testing"
)

// Every row of the sink and source tables is whole: a missing function
// fails here, not as a nil call in a deployed function.
func TestSinkAndSourceTablesAreComplete(t *testing.T) {
	t.Parallel()
	prefixes := map[string]bool{}
	for _, k := range sinks {
		if !strings.HasSuffix(k.prefix, ":") || k.label == "" || k.what == "" || k.routes == nil || k.sender == nil || k.needs == nil || k.secret == nil || prefixes[k.prefix] {
			t.Errorf("sink %q: a field is missing, or its prefix is another's", k.prefix)
		}
		prefixes[k.prefix] = true
	}
	kinds := map[string]bool{}
	for _, s := range sources {
		if s.kind == "" || s.on == nil || s.of == nil || s.actions.Gateways == "" || s.actions.Details == "" || s.actions.Tokens == "" || kinds[s.kind] {
			t.Errorf("source %q: a field is missing, or its kind is another's", s.kind)
		}
		kinds[s.kind] = true
	}
}
