package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

// cmdPhone runs `tandemctl phone provision EXTENSION PHONE_ID`: a secure
// phone's provisioning data (GET /v1/phones/{extension}/{phone}/provision),
// its SIP password included, printed on stdout and nowhere else.
func cmdPhone(ctx context.Context, g *globals, args []string, e env) error {
	if len(args) == 0 {
		return missingSub("phone")
	}
	sub := args[0]
	if isHelpArg(sub) {
		return helpRequest{name: "phone"}
	}
	if !slices.Contains(subcommands("phone"), sub) {
		return unknownSub("phone", sub)
	}
	pos, err := parseArgs(newFlagSet("phone provision", g), args[1:], 2, 2)
	if err != nil {
		return err
	}
	c, err := g.client(e)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	path := "/v1/phones/" + url.PathEscape(pos[0]) + "/" + url.PathEscape(pos[1]) + "/provision"
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
