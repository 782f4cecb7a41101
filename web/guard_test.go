package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The bucket refills at the rate, holds at most the burst, and keeps
// addresses apart; rate 0 is no limit.
func TestRateLimiter(t *testing.T) {
	l := &rateLimiter{rate: 2, burst: 3, buckets: map[string]*bucket{}}
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if !l.allow("a", t0) {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if l.allow("a", t0) {
		t.Fatal("4th request at once allowed")
	}
	if !l.allow("b", t0) {
		t.Fatal("another address refused")
	}
	if l.allow("a", t0.Add(499*time.Millisecond)) || !l.allow("a", t0.Add(500*time.Millisecond)) {
		t.Fatal("refill at 2/s wrong")
	}
	later := t0.Add(time.Hour)
	allowed := 0
	for range 5 {
		if l.allow("a", later) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("after a long pause %d allowed at once, want the burst (3)", allowed)
	}
	if len(l.buckets) != 1 { // "b" idled long enough to be swept
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
	off := &rateLimiter{}
	for range 1000 {
		if !off.allow("a", t0) {
			t.Fatal("rate 0 limited")
		}
	}
}

// Over the limit: 429 with 17021 and Retry-After; an allowed origin gets
// the CORS headers and its preflight, another origin neither.
func TestGuardOverHTTP(t *testing.T) {
	mux := http.NewServeMux()
	(&Handler{Store: failingStore{nil}, Engine: noCallbacks{}, RateLimit: 0.001, RateBurst: 2,
		CORSOrigins: []string{"https://shop.example.com"}}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, origin string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	p := do("OPTIONS", "/api/v1/callbacks", "https://shop.example.com")
	if p.StatusCode != 204 || p.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
		!strings.Contains(p.Header.Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
		t.Fatalf("preflight: %d %v", p.StatusCode, p.Header)
	}
	if p := do("OPTIONS", "/api/v1/callbacks/x", "https://evil.example.net"); p.StatusCode != 403 || p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin: %d %v", p.StatusCode, p.Header)
	}
	a := do("GET", "/api/v1/callbacks/x", "https://shop.example.com")
	if a.StatusCode != 404 || a.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("allowed origin: %d %v", a.StatusCode, a.Header)
	}
	if b := do("GET", "/api/v1/callbacks/x", "https://evil.example.net"); b.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin got CORS headers: %v", b.Header)
	}
	c := do("GET", "/api/v1/callbacks/x", "")
	if c.StatusCode != http.StatusTooManyRequests || c.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d %v", c.StatusCode, c.Header)
	}
}
