package config

import (
	"fmt"

	"livy-token-audit/audit"
)

// Webhook is one generic JSON webhook (a ticketing or alerting system): it
// gets one signed POST per run with the flagged tokens of its slice. The
// URL and the signing secret are in the environment variables URLEnv and
// SecretEnv, never in the file.
type Webhook struct {
	Name      string
	URLEnv    string
	SecretEnv string
	// Match, Notify and Exclusive mean what they mean for slack.routes:
	// the webhook's slice, when it is sent (default: slack.notify), and
	// whether its slice leaves the main report.
	Match     audit.Match
	Notify    string
	Exclusive bool
}

type rawWebhook struct {
	Name      string   `yaml:"name"`
	URLEnv    string   `yaml:"urlEnv"`
	SecretEnv string   `yaml:"secretEnv"`
	Match     rawMatch `yaml:"match"`
	Notify    string   `yaml:"notify"`
	Exclusive bool     `yaml:"exclusive"`
}

// webhooks validates the webhooks section.
func (v *validator) webhooks(c *Config, r raw) {
	names := map[string]bool{}
	for i, w := range r.Webhooks {
		f := fmt.Sprintf("webhooks[%d]", i)
		v.name(f+".name", w.Name, "webhook", names)
		if w.URLEnv == "" {
			v.fail(f+".urlEnv", "missing: the environment variable that holds the webhook's URL, like TICKETS_WEBHOOK_URL")
		} else {
			v.env(f+".urlEnv", w.URLEnv, "TICKETS_WEBHOOK_URL", "the URL")
		}
		if w.SecretEnv == "" {
			v.fail(f+".secretEnv", "missing: the environment variable that holds the secret the posts are signed with, like TICKETS_WEBHOOK_SECRET")
		} else {
			v.env(f+".secretEnv", w.SecretEnv, "TICKETS_WEBHOOK_SECRET", "the secret")
		}
		c.Webhooks = append(c.Webhooks, Webhook{Name: w.Name, URLEnv: w.URLEnv, SecretEnv: w.SecretEnv, Exclusive: w.Exclusive,
			Notify: v.notify(f+".notify", w.Notify, c.Slack.Notify), Match: v.match(f+".match", w.Match)})
	}
}
