// Package cli holds what apedge's subcommands share on the command line: flag sets
// that report bad input on one line, and reading a password from a terminal without
// echo or from a pipe.
//
// Its errors are sentences for the user of the command, which prints them after its
// own name ("apedge ctl: no password on standard input"), so they carry no prefix of
// this package's.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrUsage marks bad input on the command line; its message has already been printed
// on the flag set's output. A command that returns it exits with status 2.
var ErrUsage = errors.New("cli: usage")

// OneLine returns s trimmed, with its line breaks turned into "; ", for an error
// printed on one line.
func OneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// Flags returns a flag set for the subcommand name that prints its usage, synopsis
// first, to stderr.
func Flags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args, mapping flag errors to ErrUsage and rejecting stray arguments
// beyond nargs. The usage is printed only for -h (and flag.ErrHelp returned); any
// other flag error is one line.
func Parse(fs *flag.FlagSet, args []string, nargs int) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf) // the flag package prints the error and the whole usage
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			out.Write(buf.Bytes())
			return err
		}
		fmt.Fprintf(out, "apedge %s: %s (see apedge %s -h)\n", fs.Name(), OneLine(err.Error()), fs.Name())
		return ErrUsage
	}
	if fs.NArg() > nargs {
		fmt.Fprintf(fs.Output(), "apedge %s: unexpected argument %q\n", fs.Name(), fs.Arg(nargs))
		return ErrUsage
	}
	return nil
}

// Required reports the flag name as missing, as a usage error, if value is empty.
func Required(fs *flag.FlagSet, name, value string) error {
	if value == "" {
		fmt.Fprintf(fs.Output(), "apedge %s: -%s is required\n", fs.Name(), name)
		return ErrUsage
	}
	return nil
}

// IsTerminal says whether v, a reader or writer, is a terminal: an *os.File open on one.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ReadPassword reads a password: when stdin is a terminal, from it without echo,
// once per prompt (shown on stderr; every answer must agree); otherwise as the
// first line of stdin.
func ReadPassword(ctx context.Context, stdin io.Reader, stderr io.Writer, prompts ...string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return readTerminalPassword(ctx, int(f.Fd()), stderr, prompts)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password on standard input")
	}
	return line, nil
}

// readTerminalPassword asks for a password on the terminal fd once per prompt.
func readTerminalPassword(ctx context.Context, fd int, stderr io.Writer, prompts []string) (string, error) {
	var first string
	for i, p := range prompts {
		fmt.Fprint(stderr, p)
		pw, err := readNoEcho(ctx, fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = pw
		} else if pw != first {
			return "", errors.New("the passwords do not match")
		}
		if first == "" {
			return "", errors.New("no password given")
		}
	}
	return first, nil
}

// readNoEcho reads a line from the terminal fd without echo. The command's context
// takes SIGINT, so Ctrl-C cancels ctx rather than killing the process: give up then,
// with the terminal's echo restored.
func readNoEcho(ctx context.Context, fd int) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	type answer struct {
		pw  []byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		ch <- answer{pw, err}
	}()
	select {
	case a := <-ch:
		return string(a.pw), a.err
	case <-ctx.Done():
		term.Restore(fd, state)
		return "", ctx.Err()
	}
}
