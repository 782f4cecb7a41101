package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// webClient calls the public web API (package web) of one node.
type webClient struct {
	t    *testing.T
	node *node
}

type webAnswer struct {
	status int
	hdr    http.Header
	body   map[string]any
	raw    string
}

func (a webAnswer) code() int {
	c, _ := a.body["code"].(float64)
	return int(c)
}

func (c *webClient) do(method, path, body string, hdr ...string) webAnswer {
	c.t.Helper()
	req, err := http.NewRequest(method, "http://"+c.node.httpAddr+"/api/v1"+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{Timeout: 20 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s via %s: %v", method, path, c.node.name(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := webAnswer{status: resp.StatusCode, hdr: resp.Header, raw: string(b)}
	if err := json.Unmarshal(b, &a.body); err != nil {
		c.t.Fatalf("%s %s via %s: %d %q is not a JSON object", method, path, c.node.name(), resp.StatusCode, b)
	}
	return a
}

// TestWebCallbackCluster drives web callbacks through a 3-node cluster:
// created on a follower, read on another node, a duplicate refused with
// 17006 wherever it arrives, an Idempotency-Key retry answered with the
// same callback, the callback routed to an agent and dialled, and after
// the leader is killed: the retry still answered once, a cancel, the
// refusal counters in /metrics.
func TestWebCallbackCluster(t *testing.T) {
	nodes := startCluster(t, "web", 3, nil)
	leader := waitLeader(t, nodes, 3)
	if leader.httpAddr == "" {
		t.Fatal("tandemd has no --http-addr")
	}
	leader.apply(`
settings: {default_country_code: "44"}
queues:
  - {id: sales, strategy: longest-idle}
agents:
  - {id: a1, name: Ann, queues: [sales]}
excluded_numbers: ["+44 161 555 0199"]
callbacks: {time_zone: Europe/London, queues: [sales], max_attempts: 2, retry_interval_seconds: 30}
`).ok(t)
	fs := followers(nodes, leader)
	onFollower := &webClient{t: t, node: fs[0]}
	onOther := &webClient{t: t, node: fs[1]}
	onLeader := &webClient{t: t, node: leader}

	body := `{"queue":"sales","customer_name":"José Núñez","phone":"+44 161 555 0101","description":"Broken router","contact_data":{"order":"A-17"},"priority":80}`
	a := onFollower.do("POST", "/callbacks", body)
	if a.status != 201 || a.body["status"] != "queued" {
		t.Fatalf("create via a follower: %d %s", a.status, a.raw)
	}
	id := a.body["id"].(string)
	if g := onOther.do("GET", "/callbacks/"+id, ""); g.status != 200 || g.body["id"] != id || g.body["status"] != "queued" {
		t.Fatalf("read via another node: %d %s", g.status, g.raw)
	}
	// The same number written otherwise is a duplicate, on any node.
	dup := `{"queue":"sales","phone":"0161 555 0101"}`
	for _, c := range []*webClient{onLeader, onOther} {
		if d := c.do("POST", "/callbacks", dup); d.status != 409 || d.code() != 17006 || d.body["field"] != "phone" {
			t.Fatalf("duplicate via %s: %d %s", c.node.name(), d.status, d.raw)
		}
	}
	if d := onLeader.do("POST", "/callbacks", `{"queue":"sales","phone":"0161 555 0199"}`); d.code() != 17031 {
		t.Fatalf("excluded: %s", d.raw)
	}
	if d := onLeader.do("POST", "/callbacks", `{"queue":"sales","phone":"0161 555 0102","customer_name":"`+strings.Repeat("é", 76)+`"}`); d.status != 400 || d.code() != 17030 {
		t.Fatalf("name too long: %s", d.raw)
	}
	// A retry with the Idempotency-Key, to another node, is the same callback.
	retry := `{"queue":"sales","phone":"+44 161 555 0102","customer_name":"Retry"}`
	r1 := onFollower.do("POST", "/callbacks", retry, "Idempotency-Key", "form-42")
	r2 := onOther.do("POST", "/callbacks", retry, "Idempotency-Key", "form-42")
	if r1.status != 201 || r2.status != 201 || r1.body["id"] != r2.body["id"] || r2.hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("idempotent retry: %s / %s", r1.raw, r2.raw)
	}

	// The agent logs in: the callback (priority 80, before the retry's
	// default 50) is offered; answering it dials the customer, whose
	// answer completes it.
	edge := func(via *node, op, query string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		code, out, err := via.do("POST", "/v1/console/ops/"+op+query, true, b, "application/json")
		if err != nil || code != 200 {
			t.Fatalf("%s via %s: %d %s %v", op, via.name(), code, out, err)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	edge(leader, "login", "", map[string]string{"agent": "a1"})
	edge(leader, "login", "", map[string]string{"agent": "a1"})
	ans := edge(fs[0], "answer", "", map[string]string{"agent": "a1"})
	res, _ := ans["result"].(map[string]any)
	if res["state"] != "dialing" || res["call"] != id+".1" {
		t.Fatalf("answer: %v", ans)
	}
	if g := onOther.do("GET", "/callbacks/"+id, ""); g.body["status"] != "dialing" {
		t.Fatalf("after answer: %s", g.raw)
	}
	edge(leader, "remote_answer", "", map[string]string{"call": id + ".1"})
	if g := onFollower.do("GET", "/callbacks/"+id, ""); g.body["status"] != "completed" || g.body["outcome"] != "answered" {
		t.Fatalf("after the customer answered: %s", g.raw)
	}
	// Completed is not open: the same request is accepted again.
	again := onLeader.do("POST", "/callbacks", dup)
	if again.status != 201 {
		t.Fatalf("after completion: %s", again.raw)
	}

	// The leader dies. The retry is still answered once, by the new
	// leader; a cancel works on a surviving node.
	leader.kill()
	newLeader := waitLeader(t, fs, 3)
	r3 := (&webClient{t: t, node: newLeader}).do("POST", "/callbacks", retry, "Idempotency-Key", "form-42")
	if r3.status != 201 || r3.body["id"] != r1.body["id"] {
		t.Fatalf("retry after the leader change: %s (first %s)", r3.raw, r1.raw)
	}
	rid := r1.body["id"].(string)
	if d := onOther.do("DELETE", "/callbacks/"+rid, ""); d.status != 200 || d.body["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", d.status, d.raw)
	}
	if g := onFollower.do("GET", "/callbacks/"+rid, ""); g.body["status"] != "cancelled" {
		t.Fatalf("after cancel: %s", g.raw)
	}
	if d := onFollower.do("DELETE", "/callbacks/"+rid, ""); d.status != 409 || d.code() != 1011 {
		t.Fatalf("second cancel: %d %s", d.status, d.raw)
	}
	if g := onFollower.do("GET", "/callbacks/"+strings.Repeat("0", 32), ""); g.status != 404 || g.code() != 1011 {
		t.Fatalf("unknown id: %d %s", g.status, g.raw)
	}
	// Every node serves the bundled callback form.
	resp, err := http.Get("http://" + fs[1].httpAddr + "/callback/es/?queue=sales")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("<title>Le llamamos</title>")) || !bytes.Contains(page, []byte(`data-queue="sales"`)) {
		t.Fatalf("callback form: %d %.200s", resp.StatusCode, page)
	}
	// The refusals are counted by code on the node that answered them.
	_, text, err := fs[1].get("/metrics", true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(text, []byte(`tandem_web_requests_total{code="17006",op="callback_create",result="refused"} 1`)) ||
		!bytes.Contains(text, []byte(`tandem_web_requests_total{code="0",op="callback_create",result="accepted"}`)) {
		t.Fatalf("metrics of %s lack the web counters:\n%s", fs[1].name(), grepLines(string(text), "tandem_web_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWebCallbackTLSOnly: with --https-addr and --web-tls-only callback a
// node serves callbacks over TLS only, and says at start that its
// certificate does not name --web-host.
func TestWebCallbackTLSOnly(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "callbacks.example.com"},
		DNSNames: []string{"callbacks.example.com"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	httpsAddr := loopback(t)
	n := newNode(t, "tls1", withArgs("--https-addr", httpsAddr, "--tls-cert", certFile, "--tls-key", keyFile,
		"--web-host", "contact.example.org", "--web-tls-only", "callback"))
	n.start()
	waitLeader(t, []*node{n}, 1)
	n.apply("queues: [{id: sales}]\n").ok(t)
	if !strings.Contains(n.log(), "the TLS certificate names callbacks.example.com, 127.0.0.1, not contact.example.org") {
		t.Fatalf("no warning about the certificate's name in the log:\n%s", n.logTail(20))
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
	secure := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"queue":"sales","phone":"+44 161 555 0101"}`
	resp, err := secure.Post("https://"+httpsAddr+"/api/v1/callbacks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, b)
	}
	plain := (&webClient{t: t, node: n}).do("POST", "/callbacks", `{"queue":"sales","phone":"+44 161 555 0102"}`)
	if plain.status != 403 || plain.code() != 1000 {
		t.Fatalf("plain: %d %s", plain.status, plain.raw)
	}
	// The admin API is another listener, unaffected.
	if code, _, err := n.do("GET", "/healthz", false, nil, ""); err != nil || code != 200 {
		t.Fatalf("healthz: %d %v", code, err)
	}
}
