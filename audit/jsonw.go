package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jsonWriter writes the indented JSON of a snapshot by hand on its hot paths
// (gateways, tokens, changes: the parts that grow with the fleet), byte for
// byte what encoding/json writes with SetIndent("", "  ") and
// SetEscapeHTML(false) — TestSnapshotWriteMatchesEncodingJSON and
// FuzzJSONString hold it to that — and falls back to encoding/json for the
// small values. encoding/json marshals a whole value and then re-indents it,
// which for a large fleet costs most of an audit's CPU and a copy of the
// output in memory.
type jsonWriter struct {
	w   *bufio.Writer
	buf []byte
	val bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter(w *bufio.Writer) *jsonWriter {
	jw := &jsonWriter{w: w}
	jw.enc = json.NewEncoder(&jw.val)
	jw.enc.SetEscapeHTML(false)
	return jw
}

func (jw *jsonWriter) indent(depth int) {
	jw.w.WriteByte('\n')
	for range depth {
		jw.w.WriteString("  ")
	}
}

// value writes v with encoding/json, as it appears at depth.
func (jw *jsonWriter) value(v any, depth int) error {
	jw.val.Reset()
	jw.enc.SetIndent(strings.Repeat("  ", depth), "  ")
	if err := jw.enc.Encode(v); err != nil {
		return err
	}
	jw.w.Write(bytes.TrimSuffix(jw.val.Bytes(), []byte("\n")))
	return nil
}

// object writes an object whose members are written by fields, one call of
// member per field.
func (jw *jsonWriter) object(depth int, fields func(member func(name string))) {
	n := 0
	jw.w.WriteByte('{')
	fields(func(name string) {
		if n > 0 {
			jw.w.WriteByte(',')
		}
		n++
		jw.indent(depth + 1)
		jw.str(name)
		jw.w.WriteString(": ")
	})
	if n > 0 {
		jw.indent(depth)
	}
	jw.w.WriteByte('}')
}

// array writes n elements, each written by elem at depth+1; a nil slice is
// null (isNil).
func (jw *jsonWriter) array(depth, n int, isNil bool, elem func(i int) error) error {
	if isNil {
		jw.w.WriteString("null")
		return nil
	}
	if n == 0 {
		jw.w.WriteString("[]")
		return nil
	}
	jw.w.WriteByte('[')
	for i := range n {
		if i > 0 {
			jw.w.WriteByte(',')
		}
		jw.indent(depth + 1)
		if err := elem(i); err != nil {
			return err
		}
	}
	jw.indent(depth)
	jw.w.WriteByte(']')
	return nil
}

func (jw *jsonWriter) str(s string) {
	jw.buf = appendJSONString(jw.buf[:0], s)
	jw.w.Write(jw.buf)
}

func (jw *jsonWriter) timePtr(t *time.Time) {
	if t == nil {
		jw.w.WriteString("null")
		return
	}
	jw.buf = append(jw.buf[:0], '"')
	jw.buf = t.AppendFormat(jw.buf, time.RFC3339Nano)
	jw.buf = append(jw.buf, '"')
	jw.w.Write(jw.buf)
}

func (jw *jsonWriter) strPtr(s *string) {
	if s == nil {
		jw.w.WriteString("null")
		return
	}
	jw.str(*s)
}

// gateway writes one GatewayReport at depth.
func (jw *jsonWriter) gateway(g *GatewayReport, depth int) error {
	var err error
	jw.object(depth, func(member func(string)) {
		if g.AccountID != "" {
			member("accountId")
			jw.str(g.AccountID)
		}
		if g.AccountName != "" {
			member("accountName")
			jw.str(g.AccountName)
		}
		for _, f := range [...]struct{ k, v string }{{"region", g.Region}, {"workspaceId", g.WorkspaceID}, {"workspaceName", g.WorkspaceName}, {"gatewayId", g.GatewayID}, {"gatewayName", g.GatewayName}, {"kind", g.Kind}} {
			member(f.k)
			jw.str(f.v)
		}
		if g.Secret != "" {
			member("secret")
			jw.str(g.Secret)
		}
		if g.Status != "" {
			member("status")
			jw.str(g.Status)
		}
		if g.Public != nil {
			member("public")
			jw.w.WriteString(strconv.FormatBool(*g.Public))
		}
		if g.AuthType != "" {
			member("authType")
			jw.str(g.AuthType)
		}
		if g.CreatedBy != "" {
			member("createdBy")
			jw.str(g.CreatedBy)
		}
		if g.Creator != nil {
			member("creator")
			if err = jw.value(g.Creator, depth+1); err != nil {
				return
			}
		}
		if len(g.Admins) > 0 {
			member("admins")
			if err = jw.value(g.Admins, depth+1); err != nil {
				return
			}
		}
		if g.DetailsError != nil {
			member("detailsError")
			if err = jw.value(g.DetailsError, depth+1); err != nil {
				return
			}
		}
		member("error")
		if err = jw.value(g.Error, depth+1); err != nil {
			return
		}
		member("tokens")
		if err = jw.array(depth+1, len(g.Tokens), g.Tokens == nil, func(i int) error { jw.token(&g.Tokens[i], depth+2); return nil }); err != nil {
			return
		}
		if len(g.DuplicateTokenIDs) > 0 {
			member("duplicateTokenIds")
			err = jw.array(depth+1, len(g.DuplicateTokenIDs), false, func(i int) error { jw.str(g.DuplicateTokenIDs[i]); return nil })
		}
	})
	return err
}

// token writes one TokenReport at depth.
func (jw *jsonWriter) token(t *TokenReport, depth int) {
	jw.object(depth, func(member func(string)) {
		member("tokenId")
		jw.str(t.TokenID)
		member("name")
		jw.str(t.Name)
		member("createdBy")
		jw.str(t.CreatedBy)
		for _, l := range [...]struct {
			k string
			v []string
		}{{"memberArns", t.MemberArns}, {"accountNames", t.AccountNames}} {
			if len(l.v) > 0 {
				member(l.k)
				_ = jw.array(depth+1, len(l.v), false, func(i int) error { jw.str(l.v[i]); return nil })
			}
		}
		member("createTime")
		jw.timePtr(t.CreateTime)
		member("expireTime")
		jw.timePtr(t.ExpireTime)
		member("lastUsedTime")
		jw.timePtr(t.LastUsedTime)
		member("findings")
		_ = jw.array(depth+1, len(t.Findings), t.Findings == nil, func(i int) error {
			f := &t.Findings[i]
			jw.object(depth+2, func(member func(string)) { jw.finding(member, f) })
			return nil
		})
		member("suppressed")
		_ = jw.array(depth+1, len(t.Suppressed), t.Suppressed == nil, func(i int) error {
			s := &t.Suppressed[i]
			jw.object(depth+2, func(member func(string)) {
				jw.finding(member, &s.Finding)
				member("reason")
				jw.str(s.Reason)
				member("until")
				jw.strPtr(s.Until)
				if s.SnoozedBy != "" {
					member("snoozedBy")
					jw.str(s.SnoozedBy)
				}
				if s.SnoozedByName != "" {
					member("snoozedByName")
					jw.str(s.SnoozedByName)
				}
			})
			return nil
		})
		if len(t.DataErrors) > 0 {
			member("dataErrors")
			_ = jw.array(depth+1, len(t.DataErrors), false, func(i int) error {
				e := &t.DataErrors[i]
				jw.object(depth+2, func(member func(string)) {
					member("field")
					jw.str(e.Field)
					member("message")
					jw.str(e.Message)
				})
				return nil
			})
		}
		if t.Acknowledged != nil {
			member("acknowledged")
			_ = jw.value(t.Acknowledged, depth+1)
		}
		if t.Profile != "" {
			member("profile")
			jw.str(t.Profile)
		}
		if t.Thresholds != nil {
			member("thresholds")
			_ = jw.value(t.Thresholds, depth+1)
		}
		if t.Owner != nil {
			member("owner")
			_ = jw.value(t.Owner, depth+1)
		}
		if t.OwnerError != "" {
			member("ownerError")
			jw.str(t.OwnerError)
		}
		if t.Assignee != nil {
			member("assignee")
			_ = jw.value(t.Assignee, depth+1)
		}
	})
}

func (jw *jsonWriter) finding(member func(string), f *Finding) {
	member("rule")
	jw.str(string(f.Rule))
	member("severity")
	jw.str(f.Severity.String())
	member("message")
	jw.str(f.Message)
	if f.Stage != "" {
		member("stage")
		jw.str(f.Stage)
	}
	if f.ReuseGroup != 0 {
		member("reuseGroup")
		jw.w.WriteString(strconv.Itoa(f.ReuseGroup))
	}
	if f.SharedWith != 0 {
		member("sharedWith")
		jw.w.WriteString(strconv.Itoa(f.SharedWith))
	}
	if f.FirstSeen != nil {
		member("firstSeen")
		jw.timePtr(f.FirstSeen)
	}
	if f.FirstSeenAtLeast {
		member("firstSeenAtLeast")
		jw.w.WriteString("true")
	}
	if f.Reopened != 0 {
		member("reopened")
		jw.w.WriteString(strconv.Itoa(f.Reopened))
	}
	if f.Fingerprint != "" {
		member("fingerprint")
		jw.str(f.Fingerprint)
	}
}

// changes writes Changes at depth, the lists one entry at a time.
func (jw *jsonWriter) changes(c *Changes, depth int) error {
	if c == nil {
		jw.w.WriteString("null")
		return nil
	}
	var err error
	jw.object(depth, func(member func(string)) {
		member("previous")
		if err = jw.value(c.Previous, depth+1); err != nil {
			return
		}
		if c.PreviousError != "" {
			member("previousError")
			jw.str(c.PreviousError)
		}
		if c.Overdue != nil {
			member("overdue")
			if err = jw.value(c.Overdue, depth+1); err != nil {
				return
			}
		}
		for _, l := range [...]struct {
			k string
			v []Change
		}{{"new", c.New}, {"escalated", c.Escalated}, {"resolved", c.Resolved}, {"removed", c.Removed}, {"unknown", c.Unknown}} {
			member(l.k)
			if err = jw.array(depth+1, len(l.v), l.v == nil, func(i int) error { jw.change(&l.v[i], depth+2); return nil }); err != nil {
				return
			}
		}
	})
	return err
}

// change writes one Change at depth.
func (jw *jsonWriter) change(c *Change, depth int) {
	jw.object(depth, func(member func(string)) {
		if c.AccountID != "" {
			member("accountId")
			jw.str(c.AccountID)
		}
		if c.AccountName != "" {
			member("accountName")
			jw.str(c.AccountName)
		}
		for _, f := range [...]struct{ k, v string }{{"region", c.Region}, {"workspaceId", c.WorkspaceID}, {"gatewayId", c.GatewayID},
			{"tokenId", c.TokenID}, {"name", c.Name}, {"rule", string(c.Rule)}} {
			member(f.k)
			jw.str(f.v)
		}
		if c.Severity != nil {
			member("severity")
			jw.str(c.Severity.String())
		}
		if c.From != "" {
			member("from")
			jw.str(string(c.From))
		}
		if c.FromSeverity != nil {
			member("fromSeverity")
			jw.str(c.FromSeverity.String())
		}
		if c.Suppressed != "" {
			member("suppressed")
			jw.str(c.Suppressed)
		}
		if c.Stage != "" {
			member("stage")
			jw.str(c.Stage)
		}
		if c.FromStage != "" {
			member("fromStage")
			jw.str(c.FromStage)
		}
		if c.Since != nil {
			member("since")
			jw.timePtr(c.Since)
		}
		for _, f := range [...]struct{ k, v string }{{"kind", c.Kind}, {"fingerprint", c.Fingerprint}} {
			if f.v != "" {
				member(f.k)
				jw.str(f.v)
			}
		}
		if c.FirstSeen != nil {
			member("firstSeen")
			jw.timePtr(c.FirstSeen)
		}
		if c.FirstSeenAtLeast {
			member("firstSeenAtLeast")
			jw.w.WriteString("true")
		}
		if c.Reopened != 0 {
			member("reopened")
			jw.w.WriteString(strconv.Itoa(c.Reopened))
		}
		for _, f := range [...]struct{ k, v string }{{"how", c.How}, {"createdBy", c.CreatedBy}} {
			if f.v != "" {
				member(f.k)
				jw.str(f.v)
			}
		}
	})
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// with HTML escaping off: quotes, backslashes and control characters
// escaped, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
