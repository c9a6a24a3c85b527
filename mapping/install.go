package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Performer sends a request to Elasticsearch; *elasticsearch.Client
// satisfies it (its transport fills in scheme, host and authentication).
type Performer interface {
	Perform(*http.Request) (*http.Response, error)
}

// Features are the optional capabilities of a cluster that matter to
// eximship, detected from the modules and plugins every node reports.
type Features struct {
	// Version is the Elasticsearch version of the first node.
	Version string
	// Modules are the modules and plugins present on every node.
	Modules []string
	// ILM: index lifecycle management (module x-pack-ilm).
	ILM bool
	// DataStreamAPI: the _data_stream REST API (module data-streams).
	// Data streams themselves work without it.
	DataStreamAPI bool
	// Missing lists, for the record, the features of a full distribution
	// this cluster lacks (eximship needs none of them).
	Missing []string
}

// optional maps the modules a full Elasticsearch distribution has to what
// they provide.
var optional = []struct{ module, feature string }{
	{"x-pack-ilm", "ILM"},
	{"data-streams", "_data_stream API"},
	{"ingest-common", "ingest pipelines"},
	{"lang-painless", "painless"},
	{"mapper-extras", "match_only_text"},
	{"wildcard", "wildcard field"},
	{"constant-keyword", "constant_keyword field"},
	{"rest-root", "GET /"},
}

// Detect asks the cluster for its nodes' modules and plugins
// (GET _nodes/plugins; needs the monitor cluster privilege).
func Detect(ctx context.Context, es Performer) (Features, error) {
	var r struct {
		Nodes map[string]struct {
			Version string `json:"version"`
			Modules []struct {
				Name string `json:"name"`
			} `json:"modules"`
			Plugins []struct {
				Name string `json:"name"`
			} `json:"plugins"`
		} `json:"nodes"`
	}
	status, body, err := do(ctx, es, http.MethodGet, "/_nodes/plugins?filter_path=nodes.*.version,nodes.*.modules.name,nodes.*.plugins.name", nil)
	if err != nil {
		return Features{}, fmt.Errorf("mapping: detecting features: %w", err)
	}
	if status != http.StatusOK {
		return Features{}, fmt.Errorf("mapping: detecting features: GET _nodes/plugins answered %d: %s", status, snippet(body))
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Nodes) == 0 {
		return Features{}, fmt.Errorf("mapping: detecting features: unexpected _nodes/plugins answer: %s", snippet(body))
	}
	// A feature counts only when every node has it.
	count := map[string]int{}
	var f Features
	ids := make([]string, 0, len(r.Nodes))
	for id := range r.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := r.Nodes[id]
		if f.Version == "" {
			f.Version = n.Version
		}
		seen := map[string]bool{}
		for _, m := range n.Modules {
			seen[m.Name] = true
		}
		for _, p := range n.Plugins {
			seen[p.Name] = true
		}
		for m := range seen {
			count[m]++
		}
	}
	for m, c := range count {
		if c == len(r.Nodes) {
			f.Modules = append(f.Modules, m)
		}
	}
	sort.Strings(f.Modules)
	has := func(m string) bool { return count[m] == len(r.Nodes) }
	f.ILM = has("x-pack-ilm")
	f.DataStreamAPI = has("data-streams")
	for _, o := range optional {
		if !has(o.module) {
			f.Missing = append(f.Missing, o.feature)
		}
	}
	return f, nil
}

// Options control Install.
type Options struct {
	// Overwrite replaces templates that exist with the same or an older
	// version (eximship setup); a newer version, written by a newer
	// eximship, is kept. Without it, only missing templates and templates
	// with an older version are written (eximship run at start).
	// ILM policies are never overwritten: users tune them.
	Overwrite bool
	// ILMPolicy is the lifecycle policy the data streams use when the
	// cluster has ILM. Default: DefaultILMPolicy, created when missing. A
	// different name must exist already.
	ILMPolicy string
	// DisableILM leaves index.lifecycle.name out even when ILM exists.
	DisableILM bool
	// Features, when not nil, are used instead of calling Detect.
	Features *Features
	// Storage, when set, is the storage of the logs-exim data streams;
	// default: the best one the cluster applies (DetectStorage), or
	// StorageStored when detection fails.
	Storage Storage
	// Scope, when set, installs private copies of the templates for the
	// data streams of this namespace only (see Scoped), for tests and
	// benchmarks on a shared cluster.
	Scope string
	// Portable keeps the portable types of the template files even where
	// the cluster has the modules of ECS's native ones (NativeTypes).
	Portable bool
}

// Result says what Install did.
type Result struct {
	Features Features
	// DetectError is set when the features could not be detected; ILM is
	// then not used.
	DetectError error
	// ILMPolicy is the policy referenced ("" when none).
	ILMPolicy string
	// Storage is the storage chosen (or forced by Options.Storage), with
	// the better ones the cluster refused.
	Storage StorageChoice
	// StorageError is set when no storage could be detected; the portable
	// StorageStored is then used.
	StorageError error
	// Native are the ECS-native field types used (match_only_text,
	// wildcard, constant_keyword where the cluster has their modules);
	// the other fields keep the template files' portable types.
	Native    []NativeType
	Installed []string
	Skipped   []string
}

// Install writes the templates (and the ILM policy) the cluster lacks,
// in dependency order. It is idempotent.
func Install(ctx context.Context, es Performer, o Options) (Result, error) {
	var res Result
	if o.Features != nil {
		res.Features = *o.Features
	} else {
		f, err := Detect(ctx, es)
		if err != nil {
			res.DetectError = err
		}
		res.Features = f
	}
	if res.Features.ILM && !o.DisableILM {
		res.ILMPolicy = o.ILMPolicy
		if res.ILMPolicy == "" {
			res.ILMPolicy = DefaultILMPolicy
		}
	}
	if o.Storage != "" {
		if _, _, err := o.Storage.Settings(); err != nil {
			return res, err
		}
		res.Storage = StorageChoice{Storage: o.Storage}
	} else {
		res.Storage, res.StorageError = DetectStorage(ctx, es, nil)
		if res.StorageError != nil {
			res.Storage.Storage = StorageStored
		}
	}
	ts, err := TemplatesFor(res.ILMPolicy, res.Storage.Storage)
	if err != nil {
		return res, err
	}
	if !o.Portable {
		res.Native = NativeFor(res.Features)
		if ts, err = WithNativeTypes(ts, res.Native); err != nil {
			return res, err
		}
	}
	if o.Scope != "" {
		if ts, err = Scoped(ts, o.Scope); err != nil {
			return res, err
		}
	}
	if res.ILMPolicy != "" && res.ILMPolicy != DefaultILMPolicy {
		status, body, err := do(ctx, es, http.MethodGet, "/_ilm/policy/"+res.ILMPolicy, nil)
		if err != nil {
			return res, fmt.Errorf("mapping: checking ILM policy %s: %w", res.ILMPolicy, err)
		}
		if status != http.StatusOK {
			return res, fmt.Errorf("mapping: ILM policy %s not found (%d): %s", res.ILMPolicy, status, snippet(body))
		}
	}
	for _, t := range ts {
		write, err := needsWrite(ctx, es, t, o.Overwrite && t.Kind != ILMPolicy, res.StorageError == nil)
		if err != nil {
			return res, err
		}
		if !write {
			res.Skipped = append(res.Skipped, t.Kind+"/"+t.Name)
			continue
		}
		status, body, err := do(ctx, es, http.MethodPut, t.Path(), t.Body)
		if err != nil {
			return res, fmt.Errorf("mapping: installing %s %s: %w", t.Kind, t.Name, err)
		}
		if status < 200 || status > 299 {
			return res, &StatusError{Status: status, Msg: fmt.Sprintf("mapping: installing %s %s: answered %d: %s", t.Kind, t.Name, status, snippet(body))}
		}
		res.Installed = append(res.Installed, t.Kind+"/"+t.Name)
	}
	return res, nil
}

// needsWrite reports whether t is missing or older than ours (with
// overwrite: missing, older or the same version; a newer one, written by a
// newer eximship, is never downgraded).
//
// With compareStorage, a storage component of our version that names
// another storage is rewritten too; without it (detection failed: the
// caller may not simulate templates, e.g. run with a role that lacks
// manage_index_templates) the installed one is kept.
func needsWrite(ctx context.Context, es Performer, t Template, overwrite, compareStorage bool) (bool, error) {
	status, body, err := do(ctx, es, http.MethodGet, t.Path(), nil)
	if err != nil {
		return false, fmt.Errorf("mapping: reading %s %s: %w", t.Kind, t.Name, err)
	}
	switch status {
	case http.StatusNotFound:
		return true, nil
	case http.StatusOK:
	default:
		return false, &StatusError{Status: status, Msg: fmt.Sprintf("mapping: reading %s %s: answered %d: %s", t.Kind, t.Name, status, snippet(body))}
	}
	if t.Kind == ILMPolicy {
		return false, nil
	}
	v, err := installedVersion(t.Kind, t.Name, body)
	if err != nil {
		return false, err
	}
	if overwrite {
		return v <= t.Version(), nil
	}
	if st := t.storage(); st != "" && v == t.Version() && compareStorage {
		// another storage installed (the cluster's licence changed, or
		// another eximship chose differently): ours is what applies now
		return installedStorage(body, t.Name) != st, nil
	}
	return v < t.Version(), nil
}

// installedVersion extracts the version from a GET _index_template or
// _component_template answer.
func installedVersion(kind, name string, body []byte) (int, error) {
	type versioned struct {
		Version int `json:"version"`
	}
	var r struct {
		IndexTemplates []struct {
			Name          string    `json:"name"`
			IndexTemplate versioned `json:"index_template"`
		} `json:"index_templates"`
		ComponentTemplates []struct {
			Name              string    `json:"name"`
			ComponentTemplate versioned `json:"component_template"`
		} `json:"component_templates"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("mapping: reading %s %s: %w", kind, name, err)
	}
	for _, t := range r.IndexTemplates {
		if t.Name == name {
			return t.IndexTemplate.Version, nil
		}
	}
	for _, t := range r.ComponentTemplates {
		if t.Name == name {
			return t.ComponentTemplate.Version, nil
		}
	}
	return 0, nil // listed under another name: treat as missing
}

// Missing returns the templates (kind/name) that Install would write
// without Overwrite, given the features and the storage the cluster
// applies: missing, older than eximship's, or another storage.
func Missing(ctx context.Context, es Performer, f Features) ([]string, error) {
	policy := ""
	if f.ILM {
		policy = DefaultILMPolicy
	}
	st, detectErr := DetectStorage(ctx, es, nil)
	if detectErr != nil {
		st.Storage = StorageStored
	}
	ts, err := TemplatesFor(policy, st.Storage)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts {
		w, err := needsWrite(ctx, es, t, false, detectErr == nil)
		if err != nil {
			return nil, err
		}
		if w {
			out = append(out, t.Kind+"/"+t.Name)
		}
	}
	return out, nil
}

// StatusError is an answer of Elasticsearch with a status that failed a
// template installation.
type StatusError struct {
	Status int
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// Temporary reports whether the answer may change by itself (429, 5xx).
func (e *StatusError) Temporary() bool { return e.Status == 429 || e.Status >= 500 }

// do sends one request and returns the status and the body.
func do(ctx context.Context, es Performer, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer to %s %s: %w", method, path, err)
	}
	return res.StatusCode, b, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}
