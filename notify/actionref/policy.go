package actionref

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"livy-token-audit/audit"
)

// Policy says who may do what. It is checked for every request, whatever
// buttons the message showed.
type Policy struct {
	// Users may snooze and acknowledge any token.
	Users []string
	// Owners maps a token's createdBy to its owner's Slack user, who may
	// snooze and acknowledge it (slack.mentions).
	Owners    map[string]string
	MaxSnooze time.Duration
	// Delete turns deletion on, for DeleteUsers, of findings of
	// DeleteRules.
	Delete      bool
	DeleteUsers []string
	DeleteRules []audit.Rule
	// DeleteAccounts are the accounts with a delete role, by ID ("" for
	// the function's own): no other account's tokens are offered a delete.
	DeleteAccounts []string
	// Rules (and Profiles: a token's profile's) re-classify a token before
	// it is deleted.
	Rules    audit.Policy
	Profiles []audit.Profile
}

// Offers says which verbs a report offers on a finding of rule of a token
// in account ("" for the function's own).
func (p Policy) Offers(rule audit.Rule, account string) []string {
	out := []string{}
	for _, v := range []string{Snooze7d, Snooze30d, Snooze90d} {
		if SnoozeFor(v) <= p.MaxSnooze {
			out = append(out, v)
		}
	}
	out = append(out, Ack)
	if p.Delete && slices.Contains(p.DeleteRules, rule) && slices.Contains(p.DeleteAccounts, account) {
		out = append(out, Delete)
	}
	return out
}

// Allowed says why user may not do verb to ref ("" when they may). A
// user is a Slack user ID, never empty; a token's owner is the Slack user
// slack.mentions maps its creator to, when it maps it.
func (p Policy) Allowed(verb, user string, r Ref) string {
	owner := r.Owner != "" && p.Owners[r.Owner] != "" && p.Owners[r.Owner] == user
	switch {
	case !SlackID(user):
		return "the action came without a Slack user"
	case verb == Delete && !p.Delete:
		return "deleting from Slack is off (actions.delete.enabled)"
	case verb == Delete && !slices.Contains(p.DeleteUsers, user):
		return "only the users of actions.delete.users may delete tokens"
	case verb == Delete && !slices.Contains(p.DeleteRules, r.Rule):
		return fmt.Sprintf("a %s finding cannot be deleted from Slack (actions.delete.rules)", r.Rule)
	case verb == Delete && !slices.Contains(p.DeleteAccounts, r.AccountID):
		return ErrNoDeleteRole.Error()
	case verb == Delete:
		return ""
	case SnoozeFor(verb) > p.MaxSnooze:
		return "a snooze lasts at most " + audit.FormatDuration(p.MaxSnooze) + " (actions.maxSnooze)"
	case !owner && !slices.Contains(p.Users, user):
		return "only the token's owner (slack.mentions) and the users of actions.users may " + verbWords(verb)
	}
	return ""
}

// slackID is what a Slack user ID looks like: U or W, then upper-case
// letters and digits.
var slackID = regexp.MustCompile(`^[UW][A-Z0-9]{2,31}$`)

// SlackID reports whether s is a Slack user ID.
func SlackID(s string) bool { return slackID.MatchString(s) }

// slackName is a Slack user name (the handle Slack sends with an
// interaction: lower-case letters, digits, periods, hyphens and
// underscores), and nothing a reader could mistake for markup.
var slackName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,80}$`)

// SlackName is name when it is a plausible Slack user name, else "": a
// name is shown beside an ID, never trusted for anything.
func SlackName(name string) string {
	if slackName.MatchString(name) {
		return name
	}
	return ""
}

func verbWords(verb string) string {
	switch {
	case SnoozeFor(verb) > 0:
		return "snooze its findings"
	case verb == Ack:
		return "acknowledge it"
	}
	return "delete it"
}

// ErrNoDeleteRole is an account with no delete role.
var ErrNoDeleteRole = errors.New("no delete role is configured for the token's account (actions.delete.roleArn, accounts[].deleteRoleArn)")
