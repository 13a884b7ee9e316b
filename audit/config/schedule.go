package config

import (
	"time"

	"livy-token-audit/audit"
)

// Schedule describes the expected cadence of runs.
type Schedule struct {
	// ExpectEvery turns on the dead-man's switch (0: off).
	ExpectEvery time.Duration
	// ClockSkew is how far apart the clocks of two attempts of one run
	// (two instances, a retry on another machine) may be: a delivery claim
	// is taken over that long after its holder's lease ends.
	ClockSkew time.Duration
}

// DefaultClockSkew is schedule.clockSkew's default.
const DefaultClockSkew = 30 * time.Second

type rawSchedule struct {
	ExpectEvery string `yaml:"expectEvery"`
	ClockSkew   string `yaml:"clockSkew"`
}

func (v *validator) schedule(c *Config, r raw) {
	c.Schedule.ExpectEvery = v.duration("schedule.expectEvery", r.Schedule.ExpectEvery, 0)
	c.Schedule.ClockSkew = v.duration("schedule.clockSkew", r.Schedule.ClockSkew, DefaultClockSkew)
	if d := c.Schedule.ClockSkew; d < time.Second || d > 5*time.Minute {
		v.fail("schedule.clockSkew", "%s is out of range (1s to 5m)", audit.FormatDuration(d))
	}
}
