// Package web is Tandem's public web interaction server (web.md): the
// endpoints a customer's web site calls on --http-addr, beginning with
// the web callback — POST /api/v1/callbacks, GET and DELETE
// /api/v1/callbacks/{id} — answered with web.md's numeric codes, and its
// bundled, translatable form page under /callback/ — and web chat:
// POST /api/v1/chats and the customer's WebSocket /api/v1/chats/{id}/ws
// (chat.go), whose messages are committed chat.message commands
// acknowledged with their sequence numbers, resumable from any node.
//
// It owns the public routes (Handler.Routes mounts them on the node's
// public mux, beside the console's), the decoding and edge checks of the
// requests, the mapping of every refusal to its code and HTTP status
// (codes.go), idempotency keys, CORS and the rate limit per client
// address (guard.go), the pages (pages.go) and the request counters in
// /metrics. It
// holds no state: a request becomes a committed engine command
// (contactcenter's callback.create / callback.cancel, through
// cluster.Store.Propose) or a read of the engine after a linearizable
// read. It must not decide a rule that needs replicated state (queue,
// routing schedule, excluded numbers, duplicates, time): the engine does,
// inside Apply, and the edge only reports its code. DESIGN.md has the
// request path and the codes.
package web
