package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/mapping"
)

func init() {
	register(command{
		name:     "export",
		summary:  "print what setup installs: template, ilm, dashboards or rules",
		synopsis: "[flags] template|ilm|dashboards|rules",
		help: `Prints to standard output exactly what "eximship setup" installs, to keep in
version control, review, or install by hand:

  template    the component and index templates, as Kibana Dev Tools
              console requests (PUT _component_template/..., then the
              index templates), in install order
  ilm         the lifecycle policy eximship-logs, as a console request
              (setup installs it only on a cluster with ILM)
  dashboards  the Kibana saved objects as the NDJSON file Kibana's
              Stack Management > Saved objects > Import takes
  rules       the detection rules as the NDJSON file Security > Rules >
              Import rules takes

Exit status: 0, or 2 for a bad argument.`,
		examples: `  eximship export dashboards > eximship-dashboards.ndjson
  eximship export rules > eximship-rules.ndjson
  eximship export template            # as setup installs it without ILM
  eximship export --ilm template      # ... and on a cluster with ILM
  eximship export ilm`,
		run: runExport,
	})
}

func runExport(_ context.Context, e *env, args []string) error {
	fs := e.flags("export")
	ilm := fs.Bool("ilm", false, "template: the variant for a cluster with ILM (the settings reference the eximship-logs policy)")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{code: exitUsage, err: errors.New("say what to export: template, ilm, dashboards or rules (see 'eximship export -h')")}
	}
	var out []byte
	var err error
	switch what := fs.Arg(0); what {
	case "template", "templates":
		policy := ""
		if *ilm {
			policy = mapping.DefaultILMPolicy
		}
		out, err = consoleRequests(policy, func(t mapping.Template) bool { return t.Kind != mapping.ILMPolicy })
	case "ilm":
		out, err = consoleRequests(mapping.DefaultILMPolicy, func(t mapping.Template) bool { return t.Kind == mapping.ILMPolicy })
	case "dashboards":
		out, err = dashboards.SavedObjectsNDJSON()
	case "rules":
		out, err = dashboards.RulesNDJSON()
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown export %q: template, ilm, dashboards or rules", what)}
	}
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

// consoleRequests renders the templates setup installs as Dev Tools
// console requests: "PUT <path>" and the body, indented.
func consoleRequests(policy string, keep func(mapping.Template) bool) ([]byte, error) {
	ts, err := mapping.Templates(policy)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, t := range ts {
		if !keep(t) {
			continue
		}
		fmt.Fprintf(&buf, "PUT %s\n", t.Path()[1:])
		if err := json.Indent(&buf, t.Body, "", "  "); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		buf.WriteString("\n\n")
	}
	return buf.Bytes(), nil
}
