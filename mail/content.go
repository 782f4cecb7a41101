package mail

import (
	"context"
	"fmt"
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
