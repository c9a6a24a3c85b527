package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kibana"
)

func init() {
	register(command{
		name:     "setup",
		summary:  "install index templates (and ILM policy), Kibana dashboards and detection rules",
		synopsis: "--config FILE [--index-management] [--dashboards] [--rules]",
		help: `Installs what eximship's users need around the documents, like
"filebeat setup". Without a part flag it does all three parts; with flags,
only those.

  --index-management  Elasticsearch: the component and index templates of
                      logs-exim.*-* and eximship-deadletter-*, replacing
                      eximship's older or equal versions (so a changed
                      template is installed), and the lifecycle policy
                      eximship-logs when the cluster has ILM (detected from
                      the nodes' modules; a policy that exists is kept: you
                      may have tuned it). Needs the elasticsearch section
                      and the manage_index_templates (and manage_ilm)
                      cluster privileges.
  --dashboards        Kibana: the data views, saved searches and the four
                      dashboards (Overview, Relay attempts, Mail flow,
                      Security), imported with overwrite into kibana.space.
  --rules             Kibana: the Elastic Security detection rules, imported
                      disabled with overwrite (enable them in Security >
                      Rules). Rules imported with an API key run as that
                      key's owner; they stop if the key is deleted.

Kibana 8.9 or later (8.x, 9.x) is needed; the version is read from
/api/status first, and a Kibana that is still starting (503) is waited for.
Every object is imported with its fixed id and overwrite=true, so running
setup again is safe. Each object Kibana refuses is listed with the reason.
"eximship export" prints the same objects without installing them.

Exit status: 0 when everything was installed, 1 when something failed
(each object Kibana refused is listed), 2 for bad flags, 3 for an invalid
or missing configuration file (or a missing section), 4 when Elasticsearch
or Kibana cannot be reached, 5 when they refuse the credentials or the
privileges.`,
		examples: `  eximship setup --config /etc/eximship/eximship.yml
  eximship setup --config eximship.yml --index-management
  eximship setup --config eximship.yml --dashboards --rules`,
		run: runSetup,
	})
}

func runSetup(ctx context.Context, e *env, args []string) error {
	fs := e.flags("setup")
	configPath := fs.String("config", "eximship.yml", "configuration `file` (docs/CONFIG.md)")
	im := fs.Bool("index-management", false, "install the index templates and, with ILM, the lifecycle policy")
	dash := fs.Bool("dashboards", false, "import the Kibana data views, searches and dashboards")
	rules := fs.Bool("rules", false, "import the detection rules into Elastic Security")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("unexpected arguments %q (see 'eximship setup -h')", fs.Args())}
	}
	if !*im && !*dash && !*rules {
		*im, *dash, *rules = true, true, true
	}
	cfg, err := loadConfigEnv(*configPath, e.getenv)
	if err != nil {
		return err
	}
	var need []string
	if *im {
		need = append(need, "elasticsearch")
	}
	if *dash || *rules {
		need = append(need, "kibana")
	}
	if err := cfg.require("setup", need...); err != nil {
		if *dash || *rules {
			return &exitError{code: exitConfig, err: fmt.Errorf("%w\n(eximship setup --index-management needs only the elasticsearch section)", err)}
		}
		return err
	}
	for _, w := range cfg.warnings {
		e.log.Warn("configuration: "+w.Msg, "key", w.Key, "line", w.Line)
	}
	if *im {
		ec := cfg.elasticConfig()
		ec.Logger = e.log.With("component", "elasticsearch")
		sink, err := elastic.New(ec)
		if err != nil {
			return fmt.Errorf("elasticsearch: %w", err)
		}
		if err := setupIndexManagement(ctx, e.stdout, sink.Client()); err != nil {
			return err
		}
	}
	if *dash || *rules {
		kc := cfg.kibanaConfig()
		kc.Logger = e.log.With("component", "kibana")
		if err := setupKibana(ctx, e.stdout, kc, *dash, *rules); err != nil {
			return &exitError{code: kibanaExit(err), err: err}
		}
	}
	return nil
}

// setupIndexManagement installs the templates (overwriting eximship's own)
// and reports what it found and did.
func setupIndexManagement(ctx context.Context, w io.Writer, es mapping.Performer) error {
	f, err := mapping.Detect(ctx, es)
	if err != nil {
		return fmt.Errorf("index management: %w", err)
	}
	res, err := mapping.Install(ctx, es, mapping.Options{Overwrite: true, Features: &f})
	if err != nil {
		return fmt.Errorf("index management: %w", err)
	}
	fmt.Fprintf(w, "index management: Elasticsearch %s\n", f.Version)
	if res.ILMPolicy != "" {
		fmt.Fprintf(w, "  ILM: available; data streams use lifecycle policy %s\n", res.ILMPolicy)
	} else {
		fmt.Fprintln(w, "  ILM: not available on this cluster (no x-pack-ilm module): lifecycle policy skipped; delete old backing indices yourself or add a lifecycle later")
	}
	fmt.Fprintf(w, "  storage: %s\n", storageLine(res))
	if len(res.Native) > 0 {
		fmt.Fprintf(w, "  field types: ECS-native %s\n", strings.Join(mapping.NativeNames(res.Native), ", "))
	} else {
		fmt.Fprintln(w, "  field types: portable (text, keyword): the cluster lacks match_only_text, wildcard and constant_keyword")
	}
	for _, x := range res.Installed {
		fmt.Fprintf(w, "  installed %s\n", x)
	}
	for _, x := range res.Skipped {
		fmt.Fprintf(w, "  kept      %s (exists: lifecycle policies, and templates of a newer eximship, are not overwritten)\n", x)
	}
	return nil
}

// setupKibana imports the dashboards and/or the rules.
func setupKibana(ctx context.Context, w io.Writer, kc kibana.Config, dash, rules bool) error {
	c, err := kibana.New(kc)
	if err != nil {
		return err
	}
	var b kibana.Bundle
	if dash {
		if b.SavedObjects, err = dashboards.SavedObjectsNDJSON(); err != nil {
			return err
		}
	}
	if rules {
		if b.Rules, err = dashboards.RulesNDJSON(); err != nil {
			return err
		}
	}
	rep, err := c.Setup(ctx, dashboards.MinKibanaVersion, b)
	if rep.Status.Version != "" {
		space := kc.Space
		if space == "" {
			space = "default"
		}
		fmt.Fprintf(w, "kibana: Kibana %s, space %s\n", rep.Status.Version, space)
	}
	report := func(what string, r *kibana.ImportResult) {
		if r == nil {
			return
		}
		fmt.Fprintf(w, "  %s: %d imported\n", what, r.SuccessCount)
		for _, x := range r.Imported {
			fmt.Fprintf(w, "    %s\n", x)
		}
		for _, x := range r.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", x)
		}
	}
	report("saved objects", rep.SavedObjects)
	report("detection rules", rep.Rules)
	if err != nil {
		return err
	}
	if rep.Rules != nil {
		who := "the user " + kc.Username
		if kc.APIKey != "" || kc.APIKeyFile != "" {
			who = "the API key's owner (the rules stop if the key is deleted)"
		}
		fmt.Fprintf(w, "  the rules are disabled: enable them in Security > Rules; they will run as %s\n", strings.TrimSpace(who))
	}
	if rep.SavedObjects != nil {
		fmt.Fprintf(w, "  open Dashboards > \"[eximship] Overview\"\n")
	}
	return nil
}

// kibanaExit is the exit status of a Kibana failure: 4 unreachable, 5
// refused (credentials, privileges), else 1.
func kibanaExit(err error) int {
	var he *kibana.HTTPError
	switch {
	case kibana.Unreachable(err):
		return exitUnreachable
	case errors.As(err, &he) && (he.StatusCode == 401 || he.StatusCode == 403):
		return exitRefused
	}
	return exitFailure
}
