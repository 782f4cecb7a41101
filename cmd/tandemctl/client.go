package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

// globals are the flags every command accepts, before or after its name
// (the root command's persistent flags).
type globals struct {
	addr      string
	token     string
	tokenFile string
	output    string
}

// client is a configured admin API client.
type client struct {
	base  string
	token string
	http  *http.Client
	json  bool
}

func (g *globals) client(e env) (*client, error) {
	switch g.output {
	case "", "text", "json":
	default:
		return nil, usagef("-o: %q is not text or json", g.output)
	}
	addr := g.addr
	if addr == "" {
		addr = e.getenv("TANDEM_ADDR")
	}
	if addr == "" {
		addr = "http://127.0.0.1:7070"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	tok, err := g.resolveToken(e)
	if err != nil {
		return nil, err
	}
	return &client{base: strings.TrimRight(addr, "/"), token: tok, json: g.output == "json",
		http: &http.Client{Timeout: 60 * time.Second}}, nil
}

func (g *globals) resolveToken(e env) (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if t := e.getenv("TANDEM_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	file := g.tokenFile
	if file == "" {
		file = "./tandem-data/admin.token"
		if _, err := os.Stat(file); err != nil {
			return "", errors.New("no admin token: pass --token, --token-file or set TANDEM_ADMIN_TOKEN")
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// do sends a request and decodes a JSON answer into out (if not nil). A
// failure is one line: the server's message, or what went wrong reaching it.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reaching %s: %w", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading answer from %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		return answerError(method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if p, ok := out.(*json.RawMessage); ok {
		*p = raw
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding answer of %s: %w", path, err)
	}
	return nil
}

// answerError is the one line a failed request prints: the API's message
// (led by the field it names, when the message does not already say it)
// and the status, or the raw answer of something that is not the API.
func answerError(method, path string, status int, raw []byte) error {
	e, ok := apierr.Decode(status, raw)
	if !ok {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, status, e.Message)
	}
	msg := e.Message
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		msg = e.Field + ": " + msg
	}
	return fmt.Errorf("%s (HTTP %d)", msg, status)
}

func (c *client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", b, out)
}

// printJSON writes raw JSON indented.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("formatting answer: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
