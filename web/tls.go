package web

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
)

// TLS of the public server (web.md): a second listener (--https-addr)
// serving the same routes over TLS, and per feature "TLS only", after
// which the plain listener refuses that feature.

// Features that may be made TLS only.
const FeatureCallback = "callback"

// LoadTLS reads the certificate and key (PEM) of the TLS listener and
// returns its configuration and the certificate's names. When host (the
// name customers' web sites use; in a cluster, the cluster's name) is
// given and the certificate does not name it, mismatch says so: tandemd
// reports it at start.
func LoadTLS(certFile, keyFile, host string) (cfg *tls.Config, names []string, mismatch string, err error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, "", fmt.Errorf("loading the TLS certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading the TLS certificate: %w", err)
	}
	names = append(names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if host != "" {
		if err := leaf.VerifyHostname(host); err != nil {
			mismatch = fmt.Sprintf("the TLS certificate names %s, not %s, the host name web sites use (--web-host): browsers will refuse it",
				strings.Join(names, ", "), host)
		}
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, names, mismatch, nil
}

// plainRefused reports whether feature is TLS only and r came over the
// plain listener, answering it then: the API with 403 (1000), a page
// with 403 (1006).
func (h *Handler) plainRefused(w http.ResponseWriter, r *http.Request, feature string, page bool) bool {
	if r.TLS != nil || !h.tlsOnly(feature) {
		return false
	}
	if page {
		pageHeaders(w, "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "%d: %s (this page is served over HTTPS only)\n", CodePageNotFound, Messages[CodePageNotFound])
		return true
	}
	h.fail(w, feature, newErr(CodeGeneral, "", "the "+feature+" API is served over HTTPS only").withStatus(http.StatusForbidden))
	return true
}

func (h *Handler) tlsOnly(feature string) bool {
	for _, f := range h.TLSOnly {
		if f == feature {
			return true
		}
	}
	return false
}
