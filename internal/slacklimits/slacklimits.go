// Package slacklimits checks a message payload against Slack's documented
// limits, as a webhook receiver in the tests does: 50 blocks, 150-character
// headers, 3000-character sections, about 12,000 characters of blocks in
// all, 40,000 characters of text. Only tests import it.
package slacklimits

import (
	"encoding/json"
	"unicode/utf8"
)

// Check returns the error code Slack answers a payload over its limits
// with ("invalid_blocks", "msg_blocks_too_long", ...), or "" for a payload
// within them.
func Check(body []byte) string {
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string                  `json:"type"`
			Text     *struct{ Text string }  `json:"text"`
			Elements []struct{ Text string } `json:"elements"`
		} `json:"blocks"`
	}
	if json.Unmarshal(body, &p) != nil {
		return "invalid_payload"
	}
	if p.Text == "" && len(p.Blocks) == 0 {
		return "no_text"
	}
	if len(p.Blocks) > 50 {
		return "invalid_blocks"
	}
	total := 0
	for _, b := range p.Blocks {
		n := 0
		if b.Text != nil {
			n = utf8.RuneCountInString(b.Text.Text)
		}
		for _, e := range b.Elements {
			n += utf8.RuneCountInString(e.Text)
		}
		if b.Type == "header" && n > 150 || b.Type == "section" && n > 3000 {
			return "invalid_blocks"
		}
		total += n
	}
	if total > 12000 {
		return "msg_blocks_too_long"
	}
	if utf8.RuneCountInString(p.Text) > 40000 {
		return "msg_too_long"
	}
	return ""
}
