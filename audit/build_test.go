package audit

// Collection is what the tests of this package audit: one result per
// gateway, and the failures above the gateway level (internal/audittest
// has the same for the other packages' tests, which cannot be imported
// here).
type Collection struct {
	Gateways []GatewayResult
	Errors   []ScopeError
}

// BuildSnapshot classifies a collection whole, as a run does a gateway at
// a time.
func BuildSnapshot(c Collection, ev Evaluation) *Snapshot {
	b := NewBuilder(ev)
	for _, res := range c.Gateways {
		_ = b.Add(res)
	}
	return b.Finish(c.Errors)
}
