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
	m := c.Engine.MailSettings()
	if m == nil {
		return Content{}, apierr.Errorf(apierr.NotFound, "the e-mail channel is not configured")
	}
	if !c.Store.IsLeader() {
		return Content{}, ErrNotWatching
	}
	msg, ok := c.Engine.MailMessageOf(contact)
	if !ok {
		return Content{}, apierr.Errorf(apierr.NotFound, "no e-mail contact %s", apierr.Quote(contact))
	}
	release, err := c.poolFor(*m).Acquire(ctx)
	if err != nil {
		return Content{}, err
	}
	defer release()
	cl, err := dial(*m, &imapclient.Options{})
	if err != nil {
		return Content{}, apierr.Wrap(apierr.Unavailable, err)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	defer guard.Stop()
	sel, err := cl.Select(m.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return Content{}, apierr.Wrap(apierr.Unavailable, serverErr("selecting mailbox", err))
	}
	if sel.UIDValidity != msg.UIDValidity {
		return Content{}, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox (UIDVALIDITY changed)", contact)
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	bufs, err := cl.Fetch(imap.UIDSetNum(imap.UID(msg.UID)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		return Content{}, apierr.Wrap(apierr.Unavailable, serverErr("fetching the message", err))
	}
	if len(bufs) == 0 {
		return Content{}, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox", contact)
	}
	content, err := ParseContent(bufs[0].FindBodySection(whole))
	if err != nil && content.Text == "" && content.HTML == "" {
		return Content{}, apierr.Wrap(apierr.Internal, fmt.Errorf("reading the message of %s: %w", contact, err))
	}
	_ = cl.Logout().Wait()
	return content, nil
}
