//go:build pprof

// Profiling build (go build -tags pprof): with TANDEMD_PPROF_ADDR set
// (a loopback HOST:PORT) tandemd serves net/http/pprof there, for
// bench/web.sh's WEB_PROFILE. With TANDEMD_CPUPROFILE_DIR set it writes
// its CPU profile there in consecutive pieces of
// TANDEMD_CPUPROFILE_PIECE (a duration, default 1s), cpu-<pid>-<n>.pprof
// (the e2e tests end their nodes with SIGKILL: only the piece under way
// is lost), for the e2e benchmarks that start
// several nodes (bench/README.md, mail ingestion): merge the pieces of
// the interval measured with go tool pprof.
// TANDEMD_CPUPROFILE_HZ sets the sampling rate (default the runtime's
// 100 Hz; a short run needs more samples to rank anything).
// Ordinary builds have no profiling endpoint.

package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

func init() {
	if addr := os.Getenv("TANDEMD_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	if dir := os.Getenv("TANDEMD_CPUPROFILE_DIR"); dir != "" {
		piece, err := time.ParseDuration(os.Getenv("TANDEMD_CPUPROFILE_PIECE"))
		if err != nil || piece <= 0 {
			piece = time.Second
		}
		hz, _ := strconv.Atoi(os.Getenv("TANDEMD_CPUPROFILE_HZ"))
		go cpuProfiles(dir, piece, hz)
	}
}

// cpuProfiles writes the CPU profile in pieces of the given length until
// the process ends.
func cpuProfiles(dir string, piece time.Duration, hz int) {
	for n := 0; ; n++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d-%04d.pprof", os.Getpid(), n)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "tandemd: CPU profile:", err)
			return
		}
		if hz > 0 {
			// Set before StartCPUProfile, whose own 100 Hz is then
			// refused (the runtime logs that once a piece).
			runtime.SetCPUProfileRate(hz)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "tandemd: CPU profile:", err)
			f.Close()
			return
		}
		time.Sleep(piece)
		pprof.StopCPUProfile()
		f.Close()
	}
}
