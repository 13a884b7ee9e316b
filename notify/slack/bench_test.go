package slack

import (
	"testing"

	"livy-token-audit/audit/delivery"
	"livy-token-audit/notify"
)

// BenchmarkRenderSlack10k renders the report of 10,000 findings and 500
// failed gateways: the renderer must stay fast while it trims to Slack's limits.
func BenchmarkRenderSlack10k(b *testing.B) {
	s := fleetOf(10000, 500)
	b.ResetTimer()
	for b.Loop() {
		m := Render(notify.NewDigest(s, delivery.Locations{}), RenderOptions{MaxItems: 10}) // the digest is part of the cost
		if len(m.Blocks) == 0 {
			b.Fatal("no blocks")
		}
	}
}
