package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// etcdTarget puts a fixed value to keys spread over a fixed key set.
type etcdTarget struct {
	cli  *clientv3.Client
	keys []string
	val  string
}

func newEtcdClient(endpoints []string, payload int) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        5 * time.Second,
		DialOptions:        []grpc.DialOption{grpc.WithBlock()},
		Logger:             zap.NewNop(),
		MaxCallSendMsgSize: payload + 64<<10,
	})
}

func newEtcdTarget(cli *clientv3.Client, prefix string, nkeys int, payload []byte) *etcdTarget {
	t := &etcdTarget{cli: cli, val: string(payload)}
	width := len(strconv.Itoa(nkeys - 1))
	for i := 0; i < nkeys; i++ {
		t.keys = append(t.keys, fmt.Sprintf("%s%0*d", prefix, width, i))
	}
	return t
}

// Do puts the value to key seq mod nkeys.
func (t *etcdTarget) Do(ctx context.Context, _ int, seq uint64) error {
	_, err := t.cli.Put(ctx, t.keys[seq%uint64(len(t.keys))], t.val)
	return err
}

// findEtcdLeader returns the endpoint whose member is the leader, asking
// each endpoint's Status for at most wait.
func findEtcdLeader(ctx context.Context, cli *clientv3.Client, endpoints []string, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var lastErr error
	for {
		for _, ep := range endpoints {
			sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := cli.Status(sctx, ep)
			scancel()
			if err != nil {
				lastErr = err
				continue
			}
			if st.Leader != 0 && st.Header != nil && st.Header.MemberId == st.Leader {
				return ep, nil
			}
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no member reports itself as leader")
			}
			return "", fmt.Errorf("finding the etcd leader within %s: %w", wait, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
