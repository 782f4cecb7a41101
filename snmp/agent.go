package snmp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Agent is one node's SNMP agent: the UDP responder on --snmp-addr, the
// notification sender and the counters of both.
type Agent struct {
	cfg    config
	log    *slog.Logger
	now    func() time.Time
	start  time.Time
	oids   map[string]OID
	tree   *tree
	cnt    *counters
	conn   *net.UDPConn // nil when --snmp-addr is empty
	usm    *usm         // nil without --snmp-v3-user: SNMPv3 is not answered
	src    atomic.Pointer[Sources]
	traps  *trapSender // nil without --snmp-trap-to
	watch  watchState
	voice  voiceContacts // fed by ContactEvents
	queues queueCache    // tandemQueueTable between engine commands
}

// New validates the flags and claims --snmp-addr (UDP), so that a port in
// use fails the start with one line naming the flag. With SNMPv3 users it
// also reads this node's SNMP engine from dataDir (snmp-engine.json: the
// engine ID, made on the first start, and the engine boots, incremented
// and saved here). The agent answers nothing until Run.
func New(f Flags, dataDir string, logger *slog.Logger) (*Agent, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Agent{cfg: cfg, log: logger, now: time.Now, oids: mibOIDs(), cnt: newCounters()}
	a.start = a.now()
	if len(cfg.Users) > 0 {
		eng, err := loadEngine(dataDir)
		if err != nil {
			return nil, err
		}
		if a.usm, err = newUSM(cfg.Users, eng, a.start); err != nil {
			return nil, err
		}
	}
	a.tree = newTree(a.objects())
	if len(cfg.TrapTo) > 0 {
		a.traps = newTrapSender(cfg, a.usm, func() time.Time { return a.now() }, a.cnt, logger)
	}
	if cfg.Addr != "" {
		ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("--snmp-addr: %w", err)
		}
		if a.conn, err = net.ListenUDP("udp", ua); err != nil {
			return nil, fmt.Errorf("--snmp-addr: %w", err)
		}
	}
	return a, nil
}

// Addr is the agent's UDP address (nil when disabled).
func (a *Agent) Addr() net.Addr {
	if a.conn == nil {
		return nil
	}
	return a.conn.LocalAddr()
}

// Close releases the UDP port of an agent that will not Run.
func (a *Agent) Close() error {
	if a.conn == nil {
		return nil
	}
	return a.conn.Close()
}

// Register adds the agent's counters to reg (/metrics).
func (a *Agent) Register(reg prometheus.Registerer) {
	reg.MustRegister(collector{a.cnt})
}

// Run serves requests and sends notifications from src until ctx ends,
// then releases the port.
func (a *Agent) Run(ctx context.Context, src Sources) error {
	a.src.Store(&src)
	a.logStart()
	var wg sync.WaitGroup
	if a.traps != nil {
		wg.Go(func() { a.traps.run(ctx) })
		wg.Go(func() { a.watchLoop(ctx, src) })
	}
	var err error
	if a.conn != nil {
		stop := context.AfterFunc(ctx, func() { a.conn.Close() })
		err = a.serve(ctx, src)
		stop()
		a.conn.Close()
	}
	wg.Wait()
	return err
}

func (a *Agent) logStart() {
	if a.conn == nil {
		a.log.Info("SNMP agent disabled (--snmp-addr is empty)", "trap_to", strings.Join(a.cfg.TrapTo, ","))
	} else {
		allow := make([]string, len(a.cfg.Allow))
		for i, p := range a.cfg.Allow {
			allow[i] = p.String()
		}
		a.log.Info("SNMP agent listening", "snmp_addr", a.conn.LocalAddr().String(), "communities", len(a.cfg.Communities),
			"allow", strings.Join(allow, ","), "trap_to", strings.Join(a.cfg.TrapTo, ","), "trap_profile", a.cfg.TrapProfile)
		if len(a.cfg.Communities) == 0 {
			a.log.Warn("SNMP agent answers no SNMPv2c request: no community is configured; give --snmp-community NAME (not public or private) to enable it")
		}
	}
	if a.usm != nil {
		// The engine ID is no secret: trap receivers need it for the
		// notifications this node sends in SNMPv3.
		a.log.Info("SNMPv3 engine", "engine_id", hex.EncodeToString(a.usm.engineID), "engine_boots", a.usm.boots,
			"users", len(a.usm.users), "trap_v3_user", a.cfg.TrapUser)
	}
}

// serve answers datagrams one at a time until the socket is closed.
func (a *Agent) serve(ctx context.Context, src Sources) error {
	buf := make([]byte, 65535)
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("snmp: reading from %s: %w", a.conn.LocalAddr(), err)
		}
		resp := a.safeHandle(src, from.Addr(), buf[:n])
		if resp == nil {
			continue
		}
		if _, err := a.conn.WriteToUDPAddrPort(resp, from); err != nil {
			a.log.Debug("SNMP response not sent", "to", from.String(), "err", err)
		}
	}
}

// safeHandle is handle that turns a panic (a decoder bug on hostile
// input) into a dropped, counted packet: the node keeps running.
func (a *Agent) safeHandle(src Sources, from netip.Addr, pkt []byte) (resp []byte) {
	defer func() {
		if r := recover(); r != nil {
			a.cnt.drop(dropMalformed)
			a.log.Warn("SNMP packet dropped: handling it panicked", "from", from.String(), "panic", fmt.Sprint(r))
			resp = nil
		}
	}()
	return a.handle(src, from, pkt)
}
