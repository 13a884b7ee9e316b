package emr

import (
	"encoding/json"
	"fmt"
	"testing"

	"livy-token-audit/audit"
	scrubpkg "livy-token-audit/internal/scrub"
)

// BenchmarkDecodeTokens decodes one ListLivyComputeToken answer of 50
// tokens: the client's largest CPU cost per call.
func BenchmarkDecodeTokens(b *testing.B) {
	var toks []map[string]any
	for k := range 50 {
		toks = append(toks, map[string]any{"tokenId": fmt.Sprintf("tk-%05d-%03d", 1, k), "name": fmt.Sprintf("job-%d", k), "token": fmt.Sprintf("lvt-SECRET-%032x", k), "createdby": "user1",
			"createTime": 1764234000000, "expireTime": 1764234000000, "lastUsedTime": 1764234000000})
	}
	body, _ := json.Marshal(map[string]any{"code": "1000000", "message": "ok", "requestId": "r", "data": map[string]any{"tokens": toks}})
	scrub := scrubber{scrubpkg.New("secret-1", "token-2", "LTAI5tAK")}
	key, _ := audit.NewSecretKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTokens(body, scrub, key); err != nil {
			b.Fatal(err)
		}
	}
}
