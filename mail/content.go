package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tandemcc/tandem/internal/apierr"
)

// ErrNotWatching refuses an IMAP action on a node that is not the one
// watching the mailbox: only the leader talks to the server, so the
// account's session ceiling holds for the whole cluster.
var ErrNotWatching = apierr.Errorf(apierr.NotLeader, "this node does not watch the mailbox: ask the leader")

// Content fetches a contact's message from the mailbox on demand (the
// whole message: text parts decoded, attachments listed), in a session
// of the pool: it waits for a free one rather than open one more than
// the ceiling.
func (c *Channel) Content(ctx context.Context, contact string) (Content, error) {
	raw, err := c.Raw(ctx, contact)
	if err != nil {
		return Content{}, err
	}
	content, err := ParseContent(raw)
	if err != nil && content.Text == "" && content.HTML == "" {
		return Content{}, apierr.Wrap(apierr.Internal, fmt.Errorf("reading the message of %s: %w", contact, err))
	}
	return content, nil
}

// Leader reads what only the leader answers from its admin API
// (cluster.Store.LeaderGet).
type Leader interface {
	LeaderGet(ctx context.Context, path string, out any) error
}

// ContentReader serves a contact's content on any member, as a console
// connected to any of them reads it: the leader's channel fetches it
// from the mailbox, a follower asks the leader (GET
// /v1/mail/contacts/{contact}/content), so only the leader ever opens an
// IMAP session and the session ceiling holds for the cluster.
type ContentReader struct {
	Channel *Channel
	Leader  Leader
}

// Content is Channel.Content on the leader, the leader's answer on a
// follower (and on a leader that has just lost the lead).
func (r ContentReader) Content(ctx context.Context, contact string) (Content, error) {
	if r.Channel.Store.IsLeader() {
		c, err := r.Channel.Content(ctx, contact)
		if !errors.Is(err, ErrNotWatching) {
			return c, err
		}
	}
	var c Content
	if err := r.Leader.LeaderGet(ctx, "/v1/mail/contacts/"+url.PathEscape(contact)+"/content", &c); err != nil {
		return Content{}, err
	}
	return c, nil
}

// Raw fetches a contact's message as the server keeps it (a forward
// attaches it), in a session of the pool, on the leader.
func (c *Channel) Raw(ctx context.Context, contact string) ([]byte, error) {
	m := c.Engine.MailSettings()
	if m == nil {
		return nil, apierr.Errorf(apierr.NotFound, "the e-mail channel is not configured")
	}
	if !c.Store.IsLeader() {
		return nil, ErrNotWatching
	}
	msg, ok := c.Engine.MailMessageOf(contact)
	if !ok {
		return nil, apierr.Errorf(apierr.NotFound, "no e-mail contact %s", apierr.Quote(contact))
	}
	release, err := c.poolFor(*m).Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	cl, err := dial(*m, &imapclient.Options{})
	if err != nil {
		return nil, apierr.Wrap(apierr.Unavailable, err)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	defer guard.Stop()
	sel, err := cl.Select(m.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, apierr.Wrap(apierr.Unavailable, serverErr("selecting mailbox", err))
	}
	if sel.UIDValidity != msg.UIDValidity {
		return nil, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox (UIDVALIDITY changed)", contact)
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	bufs, err := cl.Fetch(imap.UIDSetNum(imap.UID(msg.UID)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		return nil, apierr.Wrap(apierr.Unavailable, serverErr("fetching the message", err))
	}
	if len(bufs) == 0 {
		return nil, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox", contact)
	}
	_ = cl.Logout().Wait()
	return bufs[0].FindBodySection(whole), nil
}
