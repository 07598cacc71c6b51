package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/orkspace/orkestra-gateway/internal/server"
)

// The gateway build parses its two commands itself, on pflag: the same
// flags, help, errors and exit codes as the toolchain's cobra commands, but
// no help templates, so the image links no template engine (whose
// reflection keeps every exported method of every type alive). This file
// has no build tag so that its parser is tested and fuzzed in-process;
// main_gateway.go makes it the gateway build's command line.

// command is one command of the gateway build.
type command struct {
	name, short, long, example string
	flags                      func(*pflag.FlagSet)
	run                        func(fs *pflag.FlagSet, stdout io.Writer) error
}

// gatewayCommands are the commands of the gateway build.
var gatewayCommands = []command{
	{
		name: "gateway", short: gatewayShort, long: gatewayLong, example: gatewayExample,
		flags: server.AddFlags,
		run:   func(fs *pflag.FlagSet, _ io.Writer) error { return runGateway(fs) },
	},
	{
		name: "version", short: versionShort, example: versionExample,
		flags: func(fs *pflag.FlagSet) { fs.StringP("output", "o", "text", "text, json or yaml") },
		run: func(fs *pflag.FlagSet, stdout io.Writer) error {
			output, _ := fs.GetString("output")
			return printVersion(stdout, output)
		},
	},
}

// commandLine is a set of commands and the parser of their command line.
type commandLine []command

// run executes the command line and returns the process exit code.
func (commands commandLine) run(args []string, stdout, stderr io.Writer) int {
	path, err := commands.dispatch(args, stdout)
	if err == nil {
		return exitOK
	}
	code := exitUsage
	var ee exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errReported) {
		return code
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
	}
	return code
}

// dispatch runs the command args name and returns its path (for the usage
// hint) and error. Errors before a command runs are usage errors; errors of
// a running command exit 1 unless they carry their own code.
func (commands commandLine) dispatch(args []string, stdout io.Writer) (string, error) {
	if len(args) == 0 {
		return "ork", commands.writeRootHelp(stdout, true)
	}
	switch name := args[0]; {
	case strings.HasPrefix(name, "-"):
		// Flags before a command: only -h/--help, which shows the root help
		// whatever follows. So do no command, "-" and "--" (as cobra does).
		fs := newFlagSet("ork", nil)
		fs.SetInterspersed(false) // the command's own flags follow it
		if err := fs.Parse(args); err != nil {
			return "ork", usage(err)
		}
		rest := fs.Args()
		dashes := len(rest) < len(args) && args[len(args)-len(rest)-1] == "--"
		if help, _ := fs.GetBool("help"); help || dashes || len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return "ork", commands.writeRootHelp(stdout, true)
		}
		return commands.dispatch(rest, stdout)
	case name == "help":
		return "ork help", commands.help(args[1:], stdout)
	default:
		c := commands.find(name)
		if c == nil {
			return "ork", usage(errors.New(commands.unknownCommand(name)))
		}
		path := "ork " + c.name
		fs := newFlagSet(c.name, c.flags)
		if err := fs.Parse(args[1:]); err != nil {
			return path, usage(err)
		}
		if help, _ := fs.GetBool("help"); help {
			return path, writeHelp(stdout, c, fs)
		}
		if fs.NArg() > 0 {
			return path, usage(fmt.Errorf("unknown command %q for %q", fs.Arg(0), path))
		}
		err := c.run(fs, stdout)
		var ee exitError
		if err != nil && !errors.As(err, &ee) {
			err = exitError{code: exitFailure, err: err}
		}
		return path, err
	}
}

func usage(err error) error { return exitError{code: exitUsage, err: err} }

func (commands commandLine) find(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// newFlagSet returns the flags of a command with -h/--help; parse errors
// are returned, never printed.
func newFlagSet(name string, add func(*pflag.FlagSet)) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if add != nil {
		add(fs)
	}
	fs.BoolP("help", "h", false, "help for "+name)
	return fs
}

// unknownCommand is the error for a command this build does not have, with
// the commands it might mean (a prefix of one, or at most two edits away).
func (commands commandLine) unknownCommand(name string) string {
	msg := fmt.Sprintf("unknown command %q for \"ork\"", name)
	var maybe []string
	for _, c := range commands {
		if strings.HasPrefix(c.name, strings.ToLower(name)) || editDistance(strings.ToLower(name), c.name) <= 2 {
			maybe = append(maybe, c.name)
		}
	}
	if len(maybe) > 0 {
		msg += "\n\nDid you mean this?\n"
		for _, m := range maybe {
			msg += "\t" + m + "\n"
		}
	}
	return msg
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// help is `ork help [command]`.
func (commands commandLine) help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return commands.writeRootHelp(stdout, true)
	}
	if args[0] == "help" {
		_, err := io.WriteString(stdout, `Help provides help for any command in the application.
Simply type ork help [path to command] for full details.

Usage:
  ork help [command] [flags]

Flags:
  -h, --help   help for help
`)
		return err
	}
	if c := commands.find(args[0]); c != nil {
		return writeHelp(stdout, c, newFlagSet(c.name, c.flags))
	}
	if _, err := fmt.Fprintf(stdout, "Unknown help topic %#q\n", args); err != nil {
		return err
	}
	return commands.writeRootHelp(stdout, false)
}

// writeRootHelp prints the help of `ork`; full adds the description and
// the flags.
func (commands commandLine) writeRootHelp(w io.Writer, full bool) error {
	var b strings.Builder
	if full {
		b.WriteString(rootLong + "\n\n")
	}
	b.WriteString("Usage:\n  ork [command]\n\nExamples:\n" + rootExample + "\n\nAvailable Commands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.short)
	}
	if full {
		b.WriteString("\nFlags:\n" + newFlagSet("ork", nil).FlagUsages())
	}
	b.WriteString("\nUse \"ork [command] --help\" for more information about a command.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHelp prints the help of a command.
func writeHelp(w io.Writer, c *command, fs *pflag.FlagSet) error {
	text := c.long
	if text == "" {
		text = c.short
	}
	_, err := fmt.Fprintf(w, "%s\n\nUsage:\n  ork %s [flags]\n\nExamples:\n%s\n\nFlags:\n%s", text, c.name, c.example, fs.FlagUsages())
	return err
}
