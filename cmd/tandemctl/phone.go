package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemcc/tandem/contactcenter"
)

// newPhoneCmd is `tandemctl phone provision EXTENSION PHONE_ID`.
func newPhoneCmd(g *globals, e env) *cobra.Command {
	provision := &cobra.Command{
		Use:   "provision EXTENSION PHONE_ID",
		Short: "a secure phone's provisioning data, its SIP password included",
		Long: "A secure phone's provisioning data: SIP user, password, realm, servers, expiry\n" +
			"(administrators only; shown here, never logged). -o json for a provisioning system.",
		Example:           "  tandemctl phone provision 2001 desk",
		Args:              argsBetween(2, 2),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			return cmdPhoneProvision(c.Context(), g, e, args[0], args[1])
		},
	}
	return group("phone", "secure phones' provisioning", "Secure phones: their provisioning data.", provision)
}

// cmdPhoneProvision prints a secure phone's provisioning data (GET
// /v1/phones/{extension}/{phone}/provision), its SIP password included,
// on stdout and nowhere else.
func cmdPhoneProvision(ctx context.Context, g *globals, e env, extension, phone string) error {
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	path := "/v1/phones/" + url.PathEscape(extension) + "/" + url.PathEscape(phone) + "/provision"
	if err := c.do(ctx, http.MethodGet, path, "", nil, &raw); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, raw)
	}
	var p contactcenter.PhoneProvisioning
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("decoding provisioning data: %w", err)
	}
	servers := strings.Join(p.SIPServers, ", ")
	if servers == "" {
		servers = "(none configured: settings.sip_servers)"
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "extension\t%s\n", p.Extension)
	fmt.Fprintf(w, "phone\t%s\n", p.Phone)
	fmt.Fprintf(w, "sip user\t%s\n", p.SIPUser)
	fmt.Fprintf(w, "password\t%s\n", p.Password)
	fmt.Fprintf(w, "realm\t%s\n", p.Realm)
	fmt.Fprintf(w, "sip servers\t%s\n", servers)
	fmt.Fprintf(w, "transports\t%s\n", strings.Join(p.Transports, ", "))
	fmt.Fprintf(w, "rotated\t%s\n", p.RotatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "expires\t%s\n", p.ExpiresAt.UTC().Format(time.RFC3339))
	return w.Flush()
}
