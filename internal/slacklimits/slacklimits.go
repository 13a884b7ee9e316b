// Package slacklimits checks a message payload against Slack's documented
// limits, as a webhook receiver in the tests does: 50 blocks, 150-character
// headers, 3000-character sections, about 12,000 characters of blocks in
// all, 40,000 characters of text; unique block IDs of at most 255
// characters; and for the interactive parts, actions blocks of at most 25
// elements, buttons whose text is plain text of at most 75 characters,
// whose action_id is unique in its block and at most 255 characters, whose value is at
// most 2,000, whose style is primary or danger, and whose confirm dialog
// has a title of 100, a text of 300 and buttons of 30 characters at most.
// Only tests import it.
package slacklimits

import (
	"encoding/json"
	"unicode/utf8"
)

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type element struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"`
	ActionID string          `json:"action_id"`
	Value    string          `json:"value"`
	Style    string          `json:"style"`
	Confirm  *struct {
		Title   text `json:"title"`
		Text    text `json:"text"`
		Confirm text `json:"confirm"`
		Deny    text `json:"deny"`
	} `json:"confirm"`
}

type block struct {
	Type     string    `json:"type"`
	BlockID  string    `json:"block_id"`
	Text     *text     `json:"text"`
	Elements []element `json:"elements"`
}

// Check returns the error code Slack answers a payload over its limits
// with ("invalid_blocks", "msg_blocks_too_long", ...), or "" for a payload
// within them.
func Check(body []byte) string {
	var p struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
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
	blockIDs := map[string]bool{}
	for _, b := range p.Blocks {
		if b.BlockID != "" && (blockIDs[b.BlockID] || len(b.BlockID) > 255) {
			return "invalid_blocks"
		}
		blockIDs[b.BlockID] = true
		n, ok := texts(b)
		if !ok || b.Type == "header" && n > 150 || b.Type == "section" && n > 3000 {
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

// texts counts the text characters of a block, and checks its elements.
func texts(b block) (int, bool) {
	n := 0
	actionIDs := map[string]bool{}
	if b.Text != nil {
		n = utf8.RuneCountInString(b.Text.Text)
	}
	if b.Type == "actions" && (len(b.Elements) == 0 || len(b.Elements) > 25) {
		return 0, false
	}
	for _, e := range b.Elements {
		if e.Type != "button" {
			var t text // a context block's text element
			if len(e.Text) > 0 && json.Unmarshal(e.Text, &t.Text) != nil {
				return 0, false
			}
			n += utf8.RuneCountInString(t.Text)
			continue
		}
		if !button(e) || actionIDs[e.ActionID] {
			return 0, false
		}
		if e.ActionID != "" {
			actionIDs[e.ActionID] = true
		}
	}
	return n, true
}

func button(e element) bool {
	var t text
	if json.Unmarshal(e.Text, &t) != nil || t.Type != "plain_text" || t.Text == "" || utf8.RuneCountInString(t.Text) > 75 {
		return false
	}
	if len(e.ActionID) > 255 || len(e.Value) > 2000 || e.Style != "" && e.Style != "primary" && e.Style != "danger" {
		return false
	}
	if c := e.Confirm; c != nil {
		return c.Title.Type == "plain_text" && within(c.Title, 100) && within(c.Text, 300) &&
			c.Confirm.Type == "plain_text" && within(c.Confirm, 30) && c.Deny.Type == "plain_text" && within(c.Deny, 30)
	}
	return true
}

func within(t text, n int) bool {
	l := utf8.RuneCountInString(t.Text)
	return l > 0 && l <= n
}
