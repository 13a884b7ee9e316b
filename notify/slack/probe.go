package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	slackgo "github.com/slack-go/slack"
)

// What the preflight asks of Slack: who the bot is and which scopes it was
// granted, whether it is in the channels it posts to, and — only when told
// to post — whether an incoming webhook takes a message.

// Identity is who a bot token is: its workspace and user, and the scopes
// the app was granted (auth.test's X-OAuth-Scopes header).
type Identity struct {
	Team, User string
	Scopes     []string
}

// Has reports whether the bot was granted scope.
func (id Identity) Has(scope string) bool { return slices.Contains(id.Scopes, scope) }

// Identity calls auth.test with the bot token.
func (n *Slack) Identity(ctx context.Context) (Identity, error) {
	if n.bot == nil {
		return Identity{}, errors.New("slack: an incoming webhook has no identity to test")
	}
	res, err := n.bot.AuthTestContext(ctx)
	if err != nil {
		return Identity{}, n.redact(fmt.Errorf("slack: auth.test: %w", err))
	}
	id := Identity{Team: res.Team, User: res.User}
	for _, s := range strings.Split(res.Header.Get("X-OAuth-Scopes"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			id.Scopes = append(id.Scopes, s)
		}
	}
	slices.Sort(id.Scopes)
	return id, nil
}

// Channel is the bot's destination as Slack sees it.
type Channel struct {
	ID, Name string
	// Private: a private channel (its history needs groups:history); IM:
	// a user's direct messages.
	Private, IM bool
	// Member: the bot is in it (it can post there and read its history).
	Member bool
}

// Channel finds the bot's destination (a channel ID, a #name, a user's
// direct messages) and reads what Slack says of it (conversations.info).
func (n *Slack) Channel(ctx context.Context) (Channel, error) {
	if n.bot == nil || n.channel == "" {
		return Channel{}, errors.New("slack: no bot channel")
	}
	id, err := n.channelID(ctx)
	if err != nil {
		return Channel{}, n.redact(fmt.Errorf("slack: %w", err))
	}
	if userIDRe.MatchString(n.channel) {
		return Channel{ID: id, Name: n.channel, IM: true, Member: true}, nil
	}
	ch, err := n.bot.GetConversationInfoContext(ctx, &slackgo.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		return Channel{ID: id}, n.redact(fmt.Errorf("slack: conversations.info: %w", err))
	}
	return Channel{ID: ch.ID, Name: ch.Name, Private: ch.IsPrivate, IM: ch.IsIM, Member: ch.IsMember}, nil
}

// PingText is the one message the preflight posts, when told to.
const PingText = "preflight from livy-token-audit: this destination takes its reports (nothing to do)"

// Ping posts PingText once, not retried (an incoming webhook cannot be
// probed without posting).
func (n *Slack) Ping(ctx context.Context) error {
	m := Message{Text: PingText}
	if n.webhookURL != "" {
		if err := n.postWebhook(ctx, m); err != nil {
			return n.redact(fmt.Errorf("slack: post: %w", err))
		}
		return nil
	}
	if _, err := n.post(ctx, m, ""); err != nil {
		return n.redact(fmt.Errorf("slack: chat.postMessage: %w", err))
	}
	return nil
}

// SlackCode is Slack's error code in err ("missing_scope",
// "not_in_channel", "invalid_auth"), or "".
func SlackCode(err error) string {
	var se slackgo.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// LookupEmail finds the Slack user with email (users.lookupByEmail, scope
// users:read.email): their ID, or none and why (no such user, a
// deactivated one). It retries as a post does: a 429 (the method is Tier
// 3, about 50 a minute) after its Retry-After, a 5xx or the network within
// the context's deadline. An error is a lookup that could not be made (a
// missing scope, a revoked token, Slack still busy).
func (n *Slack) LookupEmail(ctx context.Context, email string) (id, none string, err error) {
	if n.bot == nil {
		return "", "", errors.New("slack: an incoming webhook cannot look users up")
	}
	var u *slackgo.User
	err = n.retry(ctx, "users.lookupByEmail", func() (err error) {
		u, err = n.bot.GetUserByEmailContext(ctx, email)
		return err
	})
	switch code := SlackCode(err); {
	case code == "users_not_found":
		return "", "no Slack user has their email", nil
	case err != nil:
		return "", "", n.redact(err)
	case u.Deleted:
		return "", "their Slack user is deactivated", nil
	case !userIDRe.MatchString(u.ID):
		return "", "Slack answered a user ID that is not one", nil
	}
	return u.ID, "", nil
}
