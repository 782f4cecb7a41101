package ops

import (
	"context"
	"net/http"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

// snapshot is POST /v1/cluster/snapshot (`tandemctl cluster snapshot`):
// a Raft snapshot of this node, now. It answers cluster.SnapshotInfo.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	info, err := s.Store.Snapshot(ctx)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	s.logger().Info("snapshot on demand", "id", info.ID, "index", info.Index, "taken", info.Taken)
	writeJSON(w, http.StatusOK, info)
}
