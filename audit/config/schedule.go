package config

import "time"

// Schedule describes the expected cadence of runs.
type Schedule struct {
	// ExpectEvery turns on the dead-man's switch (0: off).
	ExpectEvery time.Duration
}

type rawSchedule struct {
	ExpectEvery string `yaml:"expectEvery"`
}

func (v *validator) schedule(c *Config, r raw) {
	c.Schedule.ExpectEvery = v.duration("schedule.expectEvery", r.Schedule.ExpectEvery, 0)
}
