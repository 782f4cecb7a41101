package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// ErrNotWatching refuses an IMAP action on a node that is not the one
// watching the mailbox: only the leader talks to the server, so the
// account's session ceiling holds for the whole cluster.
var ErrNotWatching = apierr.Errorf(apierr.NotLeader, "this node does not watch the mailbox: ask the leader")

// Content fetches a message of a contact from the mailbox on demand (the
// whole message: text parts decoded, attachments listed): uid 0 the
// message the contact was made of, else that one or one of the
// customer's answers that joined it (Content.Answers lists them). It
// takes a session of the pool: it waits for a free one rather than open
// one more than the ceiling.
func (c *Channel) Content(ctx context.Context, contact string, uid uint32) (Content, error) {
	raw, msg, uid, err := c.raw(ctx, contact, uid)
	if err != nil {
		return Content{}, err
	}
	content, err := ParseContent(raw)
	if err != nil && content.Text == "" && content.HTML == "" {
		return Content{}, apierr.Wrap(apierr.Internal, fmt.Errorf("reading message %d of %s: %w", uid, contact, err))
	}
	content.UID, content.Answers = uid, msg.Answers
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
func (r ContentReader) Content(ctx context.Context, contact string, uid uint32) (Content, error) {
	if r.Channel.Store.IsLeader() {
		c, err := r.Channel.Content(ctx, contact, uid)
		if !errors.Is(err, ErrNotWatching) {
			return c, err
		}
	}
	path := "/v1/mail/contacts/" + url.PathEscape(contact) + "/content"
	if uid != 0 {
		path += "?uid=" + strconv.FormatUint(uint64(uid), 10)
	}
	var c Content
	if err := r.Leader.LeaderGet(ctx, path, &c); err != nil {
		return Content{}, err
	}
	return c, nil
}

// Raw fetches the message a contact was made of as the server keeps it
// (a forward attaches it), in a session of the pool, on the leader.
func (c *Channel) Raw(ctx context.Context, contact string) ([]byte, error) {
	raw, _, _, err := c.raw(ctx, contact, 0)
	return raw, err
}

// raw fetches message uid of a contact (0: the one it was made of) as the
// server keeps it, with the contact's record and the UID fetched.
func (c *Channel) raw(ctx context.Context, contact string, uid uint32) (_ []byte, msg cc.MailMessage, _ uint32, _ error) {
	m := c.Engine.MailSettings()
	if m == nil {
		return nil, msg, 0, apierr.Errorf(apierr.NotFound, "the e-mail channel is not configured")
	}
	if !c.Store.IsLeader() {
		return nil, msg, 0, ErrNotWatching
	}
	msg, ok := c.Engine.MailMessageOf(contact)
	if !ok {
		return nil, msg, 0, apierr.Errorf(apierr.NotFound, "no e-mail contact %s", apierr.Quote(contact))
	}
	switch {
	case uid == 0:
		uid = msg.UID
	case uid != msg.UID && !slices.Contains(msg.Answers, uid):
		return nil, msg, 0, apierr.Errorf(apierr.NotFound, "e-mail contact %s has no message of UID %d", apierr.Quote(contact), uid)
	}
	release, err := c.poolFor(*m).Acquire(ctx)
	if err != nil {
		return nil, msg, 0, err
	}
	defer release()
	cl, err := dial(*m, &imapclient.Options{})
	if err != nil {
		return nil, msg, 0, apierr.Wrap(apierr.Unavailable, err)
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	defer guard.Stop()
	sel, err := cl.Select(m.IMAP.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, msg, 0, apierr.Wrap(apierr.Unavailable, serverErr("selecting mailbox", err))
	}
	if sel.UIDValidity != msg.UIDValidity {
		return nil, msg, 0, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox (UIDVALIDITY changed)", contact)
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	bufs, err := cl.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		return nil, msg, 0, apierr.Wrap(apierr.Unavailable, serverErr("fetching the message", err))
	}
	if len(bufs) == 0 {
		return nil, msg, 0, apierr.Errorf(apierr.NotFound, "the message of %s is no longer in the mailbox", contact)
	}
	_ = cl.Logout().Wait()
	return bufs[0].FindBodySection(whole), msg, uid, nil
}
