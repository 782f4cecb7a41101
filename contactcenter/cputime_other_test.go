//go:build !unix

package contactcenter

import "time"

func cpuTime() time.Duration { return 0 }
