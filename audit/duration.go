package audit

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Day is 24 hours; configs and messages count in days.
const Day = 24 * time.Hour

// maxDuration is the longest duration there is (about 292 years).
const maxDuration = time.Duration(math.MaxInt64)

// StageName names an expiry stage as configs spell it: "30d", "1d", "12h".
func StageName(d time.Duration) string {
	if d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return FormatDuration(d)
}

// StageRank orders stages: a nearer stage ranks higher ("1d" > "7d"); ""
// ranks lowest.
func StageRank(stage string) time.Duration {
	if stage == "" {
		return math.MinInt64
	}
	if pc, err := ParsePercent(stage); err == nil {
		return -time.Duration(pc) // a smaller share of the lifetime is nearer
	}
	d, err := ParseDuration(stage)
	if err != nil {
		return math.MinInt64
	}
	return -d
}

// Span renders a positive duration for people: "2d 3h", "5h 10m", "45m",
// "under a minute".
func Span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	days := int64(d / Day)
	hours := int64(d % Day / time.Hour)
	mins := int64(d % time.Hour / time.Minute)
	// strconv, not fmt: a message is made for every finding of the fleet.
	unit := func(b []byte, n int64, u byte) []byte { return append(strconv.AppendInt(b, n, 10), u) }
	var b []byte
	switch {
	case days >= 7 || days > 0 && hours == 0:
		b = unit(b, days, 'd')
	case days > 0:
		b = append(unit(b, days, 'd'), ' ')
		b = unit(b, hours, 'h')
	case hours > 0 && mins > 0:
		b = append(unit(b, hours, 'h'), ' ')
		b = unit(b, mins, 'm')
	case hours > 0:
		b = unit(b, hours, 'h')
	case mins > 0:
		b = unit(b, mins, 'm')
	default:
		return "under a minute"
	}
	return string(b)
}

// Ago renders how long ago something happened: "45d ago", "just now".
func Ago(d time.Duration) string {
	s := Span(d)
	if s == "under a minute" {
		return "just now"
	}
	return s + " ago"
}

// FormatDuration writes a threshold the way configs spell it: "7d", "24h",
// "36h", "90m", or Go's form for anything finer.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%Day == 0 && d > Day:
		return fmt.Sprintf("%dd", d/Day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// ParseDuration reads a threshold: a whole number of days ("7d"), a Go
// duration ("36h", "90m"), or days followed by a Go duration ("1d12h").
func ParseDuration(s string) (time.Duration, error) {
	in := s
	var days int64
	if i := indexDay(s); i >= 0 {
		n, err := parseDigits(s[:i])
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use 30d or 720h)", in)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use 30d or 720h)", in)
		}
		rest = d
	}
	if days > int64(maxDuration/Day) || time.Duration(days)*Day > maxDuration-rest {
		return 0, fmt.Errorf("%q is too long (at most %dd)", in, int64(maxDuration/Day))
	}
	d := time.Duration(days)*Day + rest
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", in)
	}
	return d, nil
}

func indexDay(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 'd' {
			return i
		}
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	return -1
}

func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 6 {
		return 0, fmt.Errorf("bad number")
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
