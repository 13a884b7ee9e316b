package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func lineOrder(l int) int {
	if l == 0 {
		return math.MaxInt
	}
	return l
}

// related reports whether two dotted fields are the same, or one holds the
// other (rules and rules.staleAfter, routes[0] and routes[0].name).
func related(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	holds := func(p, f string) bool {
		return strings.HasPrefix(f, p) && (len(f) == len(p) || f[len(p)] == '.' || f[len(p)] == '[')
	}
	return holds(a, b) || holds(b, a)
}

var (
	lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)
	intoRe = regexp.MustCompile(` into ([\w.\[\]*]+)$`)
)

// wantOf says in words what a Go type of the raw config takes.
func wantOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping of keys"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return ""
}

// keyInfo is what walkKeys records of each key (by its dotted name): its
// line, and its value when that is a scalar.
type keyInfo struct {
	lines   map[string]int
	scalars map[string]string
}

// valueRe finds the offending value in a yaml type error: !!str `eight`.
var valueRe = regexp.MustCompile("cannot unmarshal !!\\w+ `(.*)` into")

// typeError rewrites a yaml type error to name its key: of the keys on
// that line (several in a flow mapping, api: {concurrency: "eight",
// ratePerSecond: 100}), the one whose value is the offending one.
func typeError(file, m string, keys keyInfo) FieldError {
	sm := lineRe.FindStringSubmatch(m)
	if sm == nil {
		return FieldError{File: file, Msg: m}
	}
	line, _ := strconv.Atoi(sm[1])
	value, hasValue := "", false
	if vm := valueRe.FindStringSubmatch(sm[2]); vm != nil {
		value, hasValue = vm[1], true
	}
	field := ""
	dup := ""
	if dm := dupRe.FindStringSubmatch(sm[2]); dm != nil {
		dup = dm[1] // the field is the key written twice
	}
	better := func(k string) bool {
		if dup != "" {
			if km, fm := lastKey(k) == dup, lastKey(field) == dup; km != fm {
				return km
			}
		}
		if field == "" {
			return true
		}
		if hasValue {
			if km, fm := keys.scalars[k] == value, keys.scalars[field] == value; km != fm {
				return km
			}
		}
		return len(k) > len(field) || len(k) == len(field) && k < field
	}
	for k, l := range keys.lines {
		if l == line && better(k) {
			field = k
		}
	}
	msg := sm[2]
	want := ""
	if m := intoRe.FindStringSubmatch(msg); m != nil {
		msg = strings.TrimSuffix(msg, m[0])
		want = wantOf(m[1])
	}
	if strings.HasPrefix(msg, "cannot unmarshal") {
		msg = "wrong type: " + strings.TrimPrefix(msg, "cannot unmarshal ")
		if want != "" {
			msg += ", want " + want
		}
	}
	return FieldError{File: file, Line: line, Field: field, Msg: msg}
}

// yamlLineRe finds the line of a YAML syntax error ("yaml: line 3: …").
var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// keyRe is a key at the start of a line of YAML, with its indentation.
var keyRe = regexp.MustCompile(`^(\s*)(?:- )?([A-Za-z_][\w.-]*)\s*:`)

// syntaxError locates a YAML syntax error by its line and names the key it
// is in: the dotted path of the keys that hold that line, by their
// indentation (a file that does not parse has no tree to ask).
func syntaxError(file string, data []byte, err error) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	m := yamlLineRe.FindStringSubmatch(msg)
	if m == nil {
		return FieldError{File: file, Msg: "not valid YAML: " + msg}
	}
	line, _ := strconv.Atoi(m[1])
	type key struct {
		indent int
		name   string
	}
	var path []key
	for i, l := range strings.Split(string(data), "\n") {
		if i >= line {
			break
		}
		km := keyRe.FindStringSubmatch(l)
		if km == nil || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		indent := len(km[1])
		for len(path) > 0 && path[len(path)-1].indent >= indent {
			path = path[:len(path)-1]
		}
		path = append(path, key{indent, km[2]})
	}
	names := make([]string, len(path))
	for i, k := range path {
		names[i] = k.name
	}
	return FieldError{File: file, Line: line, Field: strings.Join(names, "."), Msg: "not valid YAML: " + m[2]}
}

// dupRe is yaml's error for a key written twice.
var dupRe = regexp.MustCompile(`mapping key "([^"]*)" already defined`)

// walkKeys records the line of every key and reports unknown keys with their
// full dotted name.
func walkKeys(file string, n *yaml.Node, t reflect.Type, prefix string, keys keyInfo, errs *Error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			name := k.Value
			full := join(prefix, name)
			keys.lines[full] = k.Line
			if val.Kind == yaml.ScalarNode {
				keys.scalars[full] = val.Value
			}
			switch t.Kind() {
			case reflect.Struct:
				f, ok := fieldByTag(t, name)
				if !ok {
					msg := "unknown key"
					if hint, secret := secretKeys[name]; secret {
						msg += " (secrets never go in the config file: " + hint + ")"
					} else if known := tags(t); len(known) > 0 {
						msg += " (known keys: " + strings.Join(known, ", ") + ")"
					}
					*errs = append(*errs, FieldError{File: file, Line: k.Line, Field: full, Msg: msg})
					continue
				}
				walkKeys(file, val, f.Type, full, keys, errs)
			case reflect.Map:
				walkKeys(file, val, t.Elem(), full, keys, errs)
			}
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return
		}
		for i, item := range n.Content {
			full := fmt.Sprintf("%s[%d]", prefix, i)
			keys.lines[full] = item.Line
			if item.Kind == yaml.ScalarNode {
				keys.scalars[full] = item.Value
			}
			walkKeys(file, item, t.Elem(), full, keys, errs)
		}
	}
}

// lastKey is the last key of a dotted field: notify of slack.notify,
// regions of regions[0]'s parent is not it.
func lastKey(field string) string {
	if i := strings.LastIndex(field, "."); i >= 0 {
		field = field[i+1:]
	}
	return field
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// inline reports whether a field's keys are its struct's own (yaml:",inline").
func inline(f reflect.StructField) bool {
	return f.Type.Kind() == reflect.Struct && strings.Contains(f.Tag.Get("yaml"), ",inline")
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if inline(f) {
			if g, ok := fieldByTag(f.Type, name); ok {
				return g, true
			}
			continue
		}
		if f.IsExported() && strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tags(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case inline(f):
			out = append(out, tags(f.Type)...)
		case f.IsExported():
			out = append(out, strings.Split(f.Tag.Get("yaml"), ",")[0])
		}
	}
	return out
}
