package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tandemcc/tandem/console"
)

// cmdHashPassword prints the stored form of a console/portal password for
// a user's password_hash in the configuration. The password is read from
// standard input (without echo on a terminal), never from the command
// line, where it would show in the process list and the shell's history.
func cmdHashPassword(ctx context.Context, g *globals, args []string, e env) error {
	fs := newFlagSet("hash-password", g)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	var pw string
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("hash-password: give the password on standard input")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	h, err := console.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, h)
	return nil
}
