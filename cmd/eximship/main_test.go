package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCommandHelp: -h, --help and "help NAME" print the command's
// usage, every flag and examples to stdout and exit 0.
func TestEveryCommandHelp(t *testing.T) {
	if len(commands) < 4 {
		t.Fatalf("only %d commands registered", len(commands))
	}
	for name, c := range commands {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			code, out, errOut := runCmd(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
			}
			_, examples, _ := strings.Cut(out, "\nExamples:\n")
			if !strings.HasPrefix(out, "usage: eximship "+name) || !strings.Contains(examples, "eximship "+name) {
				t.Errorf("%q: no usage line or examples:\n%s", args, out)
			}
			commandFlags(c).VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "  -"+f.Name) {
					t.Errorf("%q: flag -%s not listed:\n%s", args, f.Name, out)
				}
			})
			if strings.Contains(out, "flag: help requested") {
				t.Errorf("%q: prints flag: help requested", args)
			}
		}
	}
	code, out, _ := runCmd(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "commands:") {
		t.Errorf("eximship -h: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, nil); code != exitUsage || !strings.Contains(errOut, "usage:") {
		t.Errorf("eximship without a command: exit %d, stderr %q", code, errOut)
	}
}

func TestBadFlags(t *testing.T) {
	for name := range commands {
		code, out, errOut := runCmd(t, nil, name, "--no-such-flag")
		if code != exitUsage || out != "" || !strings.Contains(errOut, "no-such-flag") || !strings.Contains(errOut, "eximship "+name+" -h") {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
	code, _, errOut := runCmd(t, nil, "run", "--progress", "sometimes")
	if code != exitUsage || !strings.Contains(errOut, "auto, always or never") {
		t.Errorf("run --progress sometimes: exit %d, %q", code, errOut)
	}
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCmd(t, nil, "run", "--config", filepath.Join(dir, "none.yml"))
	if code != exitConfig || !strings.Contains(errOut, "no such file or directory (give the file with --config FILE") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("kafka:\n  brokerz: [x]\npipeline:\n  workers: many\n"), 0o600)
	code, _, errOut = runCmd(t, nil, "run", "--config", bad)
	for _, want := range []string{"4 problems:", "line 2: kafka.brokerz: unknown key: did you mean brokers?", `line 4: pipeline.workers: "many" is not a whole number`} {
		if code != exitConfig || !strings.Contains(errOut, want) {
			t.Errorf("bad file: exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
		t.Errorf("stack trace:\n%s", errOut)
	}
	noKafka := filepath.Join(dir, "nokafka.yml")
	os.WriteFile(noKafka, []byte("exim:\n  namespace: x\n"), 0o600)
	if code, _, errOut := runCmd(t, nil, "run", "--config", noKafka); code != exitConfig || !strings.Contains(errOut, "kafka: missing: eximship run needs a kafka section") {
		t.Errorf("no kafka section: exit %d, %q", code, errOut)
	}
}

// TestConsoleKeepsLogAndLiveLineApart: a log record written while the
// live line is shown clears the line first and redraws it after, so every
// record starts on a clean line.
func TestConsoleKeepsLogAndLiveLineApart(t *testing.T) {
	var b bytes.Buffer
	con := &console{w: &b, tty: true}
	log := newLogger(con, "info", "text")
	con.setLine("consumed 10")
	log.Info("index templates installed")
	con.setLine("consumed 20")
	con.setLine("")
	log.Info("stopped")
	want := clearLine + "consumed 10" +
		clearLine + "time=X level=INFO msg=\"index templates installed\"\n" + "consumed 10" +
		clearLine + "consumed 20" + clearLine +
		"time=X level=INFO msg=stopped\n"
	got := regexpTime.ReplaceAllString(b.String(), "time=X")
	if got != want {
		t.Errorf("console output\n%q\nwant\n%q", got, want)
	}
}

// TestCompletionBash completes in a real bash with the generated script.
func TestCompletionBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	_, script, _ := runCmd(t, nil, "completion", "bash")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "eximship.yml"), nil, 0o600)
	complete := func(words ...string) []string {
		t.Helper()
		sh := script + "\nCOMP_WORDS=(" + strings.Join(quoteAll(words), " ") + ")\nCOMP_CWORD=" + itoa(len(words)-1) + "\n_eximship\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command("bash", "--norc", "-c", sh)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		sort.Strings(got)
		return got
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"eximship", ""}, "completion help parse run version"},
		{[]string{"eximship", "r"}, "run"},
		{[]string{"eximship", "run", "--con"}, "--config"},
		{[]string{"eximship", "run", "--config", "exi"}, "eximship.yml"},
		{[]string{"eximship", "completion", "z"}, "zsh"},
		{[]string{"eximship", "parse", "exi"}, "eximship.yml"},
	} {
		got := strings.Join(complete(c.words...), " ")
		if !strings.Contains(" "+got+" ", " "+c.want+" ") && !(c.want == "completion help parse run version" && containsAll(got, strings.Fields(c.want))) {
			t.Errorf("completing %q: %q, want %q", c.words, got, c.want)
		}
	}
}

// TestCompletionZshFish: the zsh and fish scripts are valid for their
// shells (skipped where the shell is not installed).
func TestCompletionZshFish(t *testing.T) {
	for _, sh := range []string{"zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			path, err := exec.LookPath(sh)
			if err != nil {
				t.Skipf("%s not installed (scripts/install-deps installs it)", sh)
			}
			_, script, _ := runCmd(t, nil, "completion", sh)
			f := filepath.Join(t.TempDir(), "eximship."+sh)
			os.WriteFile(f, []byte(script), 0o644)
			if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, out)
			}
			for name := range commands {
				if !strings.Contains(script, name) {
					t.Errorf("%s script lacks command %s", sh, name)
				}
			}
			if sh != "fish" {
				return // zsh: checked for syntax only (completing needs a terminal)
			}
			for line, want := range map[string]string{
				"eximship run --con":   "--config\tconfiguration file",
				"eximship completion ": "bash\nfish\nzsh",
				"eximship ve":          "version\t",
			} {
				out, err := exec.Command(path, "-c", "source "+f+"; complete -C '"+line+"'").CombinedOutput()
				if err != nil || !strings.Contains(string(out), want) {
					t.Errorf("fish completing %q: %v\n%s\nwant %q", line, err, out, want)
				}
			}
		})
	}
}

var regexpTime = regexp.MustCompile(`time=\S+`)

func quoteAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(" "+s+" ", " "+w+" ") {
			return false
		}
	}
	return true
}

// TestPanicIsOneLine: a bug that panics ends with one line saying so (URL
// credentials removed), exit 1, and no stack trace unless debug logging.
func TestPanicIsOneLine(t *testing.T) {
	register(command{name: "panics", summary: "test", run: func(context.Context, *env, []string) error {
		panic("boom at https://elastic:Panic-S3cret@es:9200")
	}})
	defer delete(commands, "panics")
	code, out, errOut := runCmd(t, nil, "panics")
	if code != exitFailure || out != "" || strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "Panic-S3cret") ||
		!strings.Contains(errOut, "eximship panics: internal error: boom at https://elastic:REDACTED@es:9200") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
