package mail

import (
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// expunge removes from the mailbox the handled messages older than the
// retention period: recorded (at or below the engine's watermark),
// received (INTERNALDATE) before retention_days ago, and whose contact has
// ended (or never was: skipped mail). UID EXPUNGE when the server has
// UIDPLUS, so another client's \Deleted flags are left alone.
func (c *Channel) expunge(cl *imapclient.Client, m cc.Mail, validity uint32) error {
	v, last := c.Engine.MailView()
	if v != validity || last == 0 {
		return nil
	}
	before := c.now().Add(-time.Duration(m.RetentionDays) * 24 * time.Hour)
	guard := time.AfterFunc(commandTimeout, func() { cl.Close() })
	defer guard.Stop()
	found, err := cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 1, Stop: imap.UID(last)}}}, Before: before}, nil).Wait()
	if err != nil {
		return serverErr("searching handled messages", err)
	}
	var del []imap.UID
	for _, u := range found.AllUIDs() {
		if uint32(u) <= last && !c.Engine.MailContactLive(cc.MailContactID(validity, uint32(u))) {
			del = append(del, u)
		}
	}
	if len(del) == 0 {
		return nil
	}
	set := imap.UIDSetNum(del...)
	if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return serverErr("flagging handled messages deleted", err)
	}
	var xerr error
	if cl.Caps().Has(imap.CapUIDPlus) {
		xerr = cl.UIDExpunge(set).Close()
	} else {
		xerr = cl.Expunge().Close()
	}
	if xerr != nil {
		return serverErr("expunging handled messages", xerr)
	}
	c.update(func(s *Status) { s.Expunged += uint64(len(del)) })
	c.log().Info("mail: handled messages expunged after the retention period", "count", len(del), "retention_days", m.RetentionDays)
	return nil
}
