package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

func init() {
	register(command{
		name:     "completion",
		summary:  "print a shell completion script (bash, zsh or fish)",
		synopsis: "bash|zsh|fish",
		help: `Prints a script that completes eximship's commands and their flags (and
file names after -config and other file flags) in the given shell. The
script is built from the commands themselves, so it always matches this
binary.`,
		examples: `  source <(eximship completion bash)          # this bash session
  eximship completion bash > /etc/bash_completion.d/eximship
  eximship completion zsh > "${fpath[1]}/_eximship"
  eximship completion fish > ~/.config/fish/completions/eximship.fish`,
		run: runCompletion,
	})
}

func runCompletion(_ context.Context, e *env, args []string) error {
	fs := e.flags("completion")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("name one shell: bash, zsh or fish (see 'eximship completion -h')")}
	}
	specs := completionSpecs()
	switch fs.Arg(0) {
	case "bash":
		return writeBash(e.stdout, specs)
	case "zsh":
		return writeZsh(e.stdout, specs)
	case "fish":
		return writeFish(e.stdout, specs)
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("unknown shell %q: want bash, zsh or fish", fs.Arg(0))}
}

type flagSpec struct {
	name, usage string
	arg         string // "" for a boolean flag, else the value's name
}

func (f flagSpec) file() bool { return f.arg == "file" }

type cmdSpec struct {
	name, summary string
	flags         []flagSpec
	args          []string // fixed words as arguments (completion's shells)
	files         bool     // takes file arguments
}

func completionSpecs() []cmdSpec {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []cmdSpec
	for _, n := range names {
		c := commands[n]
		s := cmdSpec{name: n, summary: c.summary, files: strings.Contains(c.synopsis, "FILE")}
		if n == "completion" {
			s.args = []string{"bash", "zsh", "fish"}
		}
		commandFlags(c).VisitAll(func(f *flag.Flag) {
			arg, usage := flag.UnquoteUsage(f)
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				arg = ""
			} else if arg == "" {
				arg = "value"
			}
			s.flags = append(s.flags, flagSpec{name: f.Name, usage: usage, arg: arg})
		})
		out = append(out, s)
	}
	return out
}

func writeBash(w io.Writer, specs []cmdSpec) error {
	var b strings.Builder
	b.WriteString("# bash completion for eximship (eximship completion bash)\n_eximship() {\n")
	b.WriteString("    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n")
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	fmt.Fprintf(&b, "    if (( COMP_CWORD == 1 )); then\n        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n        return\n    fi\n", strings.Join(append(names, "help"), " "))
	b.WriteString("    case ${COMP_WORDS[1]} in\n")
	fmt.Fprintf(&b, "    help) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(names, " "))
	for _, s := range specs {
		var flags, fileFlags, argFlags []string
		for _, f := range s.flags {
			flags = append(flags, "-"+f.name, "--"+f.name)
			if f.file() {
				fileFlags = append(fileFlags, "-"+f.name, "--"+f.name)
			} else if f.arg != "" {
				argFlags = append(argFlags, "-"+f.name, "--"+f.name)
			}
		}
		fmt.Fprintf(&b, "    %s)\n        case $prev in\n", s.name)
		if len(fileFlags) > 0 {
			fmt.Fprintf(&b, "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", strings.Join(fileFlags, "|"))
		}
		if len(argFlags) > 0 {
			fmt.Fprintf(&b, "        %s) return ;;\n", strings.Join(argFlags, "|"))
		}
		b.WriteString("        esac\n")
		words := strings.Join(append(flags, s.args...), " ")
		if s.files {
			fmt.Fprintf(&b, "        if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); else COMPREPLY=($(compgen -f -- \"$cur\")); fi ;;\n", words)
		} else {
			fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", words)
		}
	}
	b.WriteString("    esac\n}\ncomplete -o filenames -F _eximship eximship\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote quotes s for a zsh _arguments spec inside single quotes.
func zshQuote(s string) string {
	s = strings.NewReplacer("'", `'\''`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
	return s
}

func writeZsh(w io.Writer, specs []cmdSpec) error {
	var b strings.Builder
	b.WriteString("#compdef eximship\n# zsh completion for eximship (eximship completion zsh)\n_eximship() {\n")
	b.WriteString("    local -a cmds\n    cmds=(\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "        '%s:%s'\n", s.name, zshQuote(s.summary))
	}
	b.WriteString("        'help:show the help of a command'\n    )\n")
	b.WriteString("    if (( CURRENT == 2 )); then\n        _describe -t commands 'eximship command' cmds\n        return\n    fi\n")
	b.WriteString("    local cmd=${words[2]}\n    shift 2 words\n    (( CURRENT -= 2 ))\n    case $cmd in\n")
	b.WriteString("    help) _describe -t commands 'eximship command' cmds ;;\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "    %s)\n        _arguments -s", s.name)
		for _, f := range s.flags {
			action := ""
			switch {
			case f.file():
				action = ":" + f.arg + ":_files"
			case f.arg != "":
				action = ":" + f.arg + ": "
			}
			fmt.Fprintf(&b, " \\\n            '(-%[1]s --%[1]s)'{-%[1]s,--%[1]s}'[%[2]s]%[3]s'", f.name, zshQuote(f.usage), action)
		}
		switch {
		case len(s.args) > 0:
			fmt.Fprintf(&b, " \\\n            '1:shell:(%s)'", strings.Join(s.args, " "))
		case s.files:
			b.WriteString(" \\\n            '*:file:_files'")
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString("    esac\n}\nif [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n    _eximship \"$@\"\nelse\n    compdef _eximship eximship\nfi\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fishQuote quotes s for fish inside single quotes.
func fishQuote(s string) string { return strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) }

func writeFish(w io.Writer, specs []cmdSpec) error {
	var b strings.Builder
	b.WriteString("# fish completion for eximship (eximship completion fish)\ncomplete -c eximship -f\n")
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	all := strings.Join(append(names, "help"), " ")
	for _, s := range specs {
		fmt.Fprintf(&b, "complete -c eximship -n 'not __fish_seen_subcommand_from %s' -a %s -d '%s'\n", all, s.name, fishQuote(s.summary))
	}
	fmt.Fprintf(&b, "complete -c eximship -n 'not __fish_seen_subcommand_from %s' -a help -d 'show the help of a command'\n", all)
	fmt.Fprintf(&b, "complete -c eximship -n '__fish_seen_subcommand_from help' -a '%s'\n", strings.Join(names, " "))
	for _, s := range specs {
		cond := "__fish_seen_subcommand_from " + s.name
		for _, f := range s.flags {
			opt := ""
			switch {
			case f.file():
				opt = " -r -F"
			case f.arg != "":
				opt = " -x"
			}
			fmt.Fprintf(&b, "complete -c eximship -n '%s' -o %s -l %s%s -d '%s'\n", cond, f.name, f.name, opt, fishQuote(f.usage))
		}
		if len(s.args) > 0 {
			fmt.Fprintf(&b, "complete -c eximship -n '%s' -a '%s'\n", cond, strings.Join(s.args, " "))
		}
		if s.files {
			fmt.Fprintf(&b, "complete -c eximship -n '%s' -F\n", cond)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
