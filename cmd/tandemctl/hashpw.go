package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tandemcc/tandem/console"
)

// newHashPasswordCmd is `tandemctl hash-password < PASSWORD`.
func newHashPasswordCmd(_ *globals, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password [flags] < PASSWORD",
		Short: "a user's password_hash for the configuration",
		Long: "Print the stored form of a console/portal password, for a user's password_hash in the\n" +
			"configuration. The password is read from standard input (without echo on a terminal),\n" +
			"never from the command line, where the process list and the shell's history would show it.",
		Example: "  tandemctl hash-password              # asks for it on a terminal, without echo\n" +
			"  tandemctl hash-password < pw.txt     # the first line of a file",
		// An argument may be the password itself: never repeat it.
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("hash-password takes no argument: give the password on standard input")
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(*cobra.Command, []string) error {
			return cmdHashPassword(e)
		},
	}
}

// cmdHashPassword prints the stored form of a console/portal password for
// a user's password_hash in the configuration. The password is read from
// standard input (without echo on a terminal), never from the command
// line, where it would show in the process list and the shell's history.
func cmdHashPassword(e env) error {
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
