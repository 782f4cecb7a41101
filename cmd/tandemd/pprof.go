//go:build pprof

// Profiling build (go build -tags pprof): with TANDEMD_PPROF_ADDR set
// (a loopback HOST:PORT) tandemd serves net/http/pprof there, for
// bench/web.sh's WEB_PROFILE. Ordinary builds have no profiling endpoint.

package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("TANDEMD_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
