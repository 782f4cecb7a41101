package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for names (and 127.0.0.1)
// and its key, PEM, into dir.
func writeCert(t *testing.T, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func TestLoadTLS(t *testing.T) {
	cert, key := writeCert(t, t.TempDir(), "callbacks.example.com")
	if _, names, mismatch, err := LoadTLS(cert, key, "callbacks.example.com"); err != nil || mismatch != "" || strings.Join(names, " ") != "callbacks.example.com 127.0.0.1" {
		t.Fatalf("%v %q %v", names, mismatch, err)
	}
	if _, _, mismatch, err := LoadTLS(cert, key, "contact.example.org"); err != nil || !strings.Contains(mismatch, "not contact.example.org") {
		t.Fatalf("mismatch %q %v", mismatch, err)
	}
	if _, _, _, err := LoadTLS(cert, cert, ""); err == nil {
		t.Fatal("a certificate as key accepted")
	}
}

// A TLS-only callback: the plain listener refuses the API (403, 1000) and
// the form (403, 1006); the TLS listener serves them.
func TestTLSOnly(t *testing.T) {
	mux := http.NewServeMux()
	(&Handler{Store: failingStore{nil}, Engine: noCallbacks{}, TLSOnly: []string{FeatureCallback}}).Routes(mux)
	plain := httptest.NewServer(mux)
	defer plain.Close()
	secure := httptest.NewTLSServer(mux)
	defer secure.Close()
	get := func(c *http.Client, url string) (int, string) {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	if code, body := get(http.DefaultClient, plain.URL+"/api/v1/callbacks/abc"); code != 403 || !strings.Contains(body, `"code":1000`) {
		t.Fatalf("plain API: %d %s", code, body)
	}
	if code, body := get(http.DefaultClient, plain.URL+"/callback/en/"); code != 403 || !strings.Contains(body, "1006") {
		t.Fatalf("plain page: %d %s", code, body)
	}
	if code, body := get(secure.Client(), secure.URL+"/api/v1/callbacks/abc"); code != 404 || !strings.Contains(body, `"code":1011`) {
		t.Fatalf("TLS API: %d %s", code, body)
	}
	if code, body := get(secure.Client(), secure.URL+"/callback/en/"); code != 200 || !strings.Contains(body, "Call me back") {
		t.Fatalf("TLS page: %d %.100s", code, body)
	}
}
