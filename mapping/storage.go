package mapping

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Storage names how the Exim data streams store their documents: the
// index mode and the _source mode of the storage component template
// (StorageComponent). The other settings (codec, ignore_malformed, ILM)
// are the same for all and live in the settings component.
type Storage string

// The storages, best first. DetectStorage picks the first one the cluster
// applies as asked.
const (
	// StorageLogsDB is index.mode: logsdb: synthetic _source that keeps
	// arrays as they were sent (index.mapping.synthetic_source_keep:
	// arrays), documents sorted by LogsDBSort. Elasticsearch 8.17 and
	// later; synthetic _source
	// needs an Enterprise licence (or trial) on a full distribution:
	// elsewhere the index is created in logsdb mode with stored _source,
	// silently, and DetectStorage moves on.
	StorageLogsDB Storage = "logsdb"
	// StorageSynthetic is a standard index with
	// index.mapping.source.mode: synthetic (Elasticsearch 8.17 and
	// later, same licence rule): one-element arrays come back as scalars,
	// leaf arrays sorted and de-duplicated.
	StorageSynthetic Storage = "synthetic"
	// StorageStored is the portable choice: a standard index with stored
	// _source, as every Elasticsearch 8 cluster and every licence allows.
	StorageStored Storage = "stored"
)

// StorageOrder is the order DetectStorage tries the storages in.
var StorageOrder = []Storage{StorageLogsDB, StorageSynthetic, StorageStored}

// StorageComponent is the component template with the storage settings
// of the logs-exim data streams (not of the dead letters, which always
// store their _source as sent).
const StorageComponent = "eximship-logs-exim-storage"

// storageVersion is the version of the storage component; the same for
// every Storage (Install also rewrites it when the installed one names
// another Storage). 2: logsdb's index sort (LogsDBSort).
const storageVersion = 2

// LogsDBSort is the index sort of the logsdb storage, field:order:
// documents of one host, then of one action (and client address) side by
// side, newest first within them. Lines alike sit together, so every
// column compresses better than in time order (logsdb's default, host.name
// and @timestamp): measured, docs/PERFORMANCE.md "Storage".
var LogsDBSort = []string{"host.name:asc", "event.action:asc", "source.address:asc", "@timestamp:desc"}

// sortSettings is an index.sort object for fields given as field:order.
func sortSettings(fields []string) (map[string]any, []string) {
	var fs, os []string
	for _, f := range fields {
		n, o, _ := strings.Cut(f, ":")
		fs, os = append(fs, n), append(os, o)
	}
	return map[string]any{"field": fs, "order": os}, fs
}

// Settings returns the index settings of s, as the "index" object of a
// template, and the Effective values the cluster must report for them.
func (s Storage) Settings() (map[string]any, Effective, error) {
	switch s {
	case StorageLogsDB:
		sort, fields := sortSettings(LogsDBSort)
		return map[string]any{"mode": "logsdb", "sort": sort}, Effective{Mode: "logsdb", SourceMode: "synthetic", Sort: fields}, nil
	case StorageSynthetic:
		return map[string]any{"mapping": map[string]any{"source": map[string]any{"mode": "synthetic"}}},
			Effective{Mode: "standard", SourceMode: "synthetic"}, nil
	case StorageStored:
		return map[string]any{}, Effective{Mode: "standard", SourceMode: "stored"}, nil
	}
	return nil, Effective{}, fmt.Errorf("mapping: unknown storage %q (want logsdb, synthetic or stored)", string(s))
}

// storageTemplate returns the storage component for s.
func storageTemplate(s Storage) (Template, error) {
	idx, _, err := s.Settings()
	if err != nil {
		return Template{}, err
	}
	body, err := json.Marshal(map[string]any{
		"version": storageVersion,
		"_meta": map[string]any{
			"managed_by": "eximship",
			"storage":    string(s),
			"description": "How eximship's Exim data streams store documents, chosen by eximship for this cluster " +
				"(logsdb, synthetic or stored _source; see mapping/README.md).",
		},
		"template": map[string]any{"settings": map[string]any{"index": idx}},
	})
	if err != nil {
		return Template{}, err
	}
	return Template{Kind: ComponentTemplate, Name: StorageComponent, Body: body}, nil
}

// Effective is what a cluster reports for an index (or would give a new
// one): the values that decide its size on disk and its _source.
type Effective struct {
	// Mode is index.mode: "standard", "logsdb", "time_series".
	Mode string
	// SourceMode is "stored", "synthetic" or "disabled".
	SourceMode string
	// Codec is index.codec ("default", "best_compression").
	Codec string
	// Sort is index.sort.field (empty: no explicit sort).
	Sort []string
}

// Storage returns the Storage these values amount to ("" when none).
func (e Effective) Storage() Storage {
	switch {
	case e.Mode == "logsdb" && e.SourceMode == "synthetic":
		return StorageLogsDB
	case e.Mode == "standard" && e.SourceMode == "synthetic":
		return StorageSynthetic
	case e.SourceMode == "stored":
		return StorageStored
	}
	return ""
}

func (e Effective) String() string {
	s := "index.mode " + e.Mode + ", _source " + e.SourceMode
	if e.Codec != "" {
		s += ", codec " + e.Codec
	}
	if len(e.Sort) > 0 {
		s += ", sort " + strings.Join(e.Sort, ",")
	}
	return s
}

// effectiveFrom reads flat settings (index.mode, index.mapping.source.mode,
// ...) as an index or a simulation reports them. An absent source mode is
// the mode's default: synthetic for logsdb and time_series, else stored.
func effectiveFrom(flat map[string]any) Effective {
	str := func(k string) string {
		v, _ := flat[k].(string)
		return strings.ToLower(v)
	}
	e := Effective{Mode: str("index.mode"), SourceMode: str("index.mapping.source.mode"), Codec: str("index.codec")}
	if e.Mode == "" {
		e.Mode = "standard"
	}
	if e.SourceMode == "" {
		e.SourceMode = "stored"
		if e.Mode == "logsdb" || e.Mode == "time_series" {
			e.SourceMode = "synthetic"
		}
	}
	switch v := flat["index.sort.field"].(type) {
	case string:
		e.Sort = []string{v}
	case []any:
		for _, f := range v {
			if s, ok := f.(string); ok {
				e.Sort = append(e.Sort, s)
			}
		}
	}
	return e
}

// flatten turns nested settings into dotted keys.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, e := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		flatten(p, e, out)
	}
}

// StorageChoice is the outcome of DetectStorage.
type StorageChoice struct {
	// Storage is the chosen storage.
	Storage Storage
	// Effective is what the cluster said a new index would get with it.
	Effective Effective
	// Refused lists the better storages the cluster did not apply, and why.
	Refused []StorageRefusal
}

// StorageRefusal is one storage the cluster did not apply as asked.
type StorageRefusal struct {
	Storage Storage
	// Reason is the cluster's error or what it would apply instead.
	Reason string
}

// DetectStorage asks the cluster which storage it applies: for each of
// order (default StorageOrder) it simulates the logs-exim index template
// with that storage (POST _index_template/_simulate: the same validation
// and index setting providers, licence checks included, as a real index
// creation) and takes the first one whose effective settings are the ones
// asked for. A licence that does not allow synthetic _source makes the
// cluster report stored _source: that storage is refused and the next one
// tried. When every one is refused, the last one of order is returned with
// an error. Needs the manage_index_templates cluster privilege, as Install.
func DetectStorage(ctx context.Context, es Performer, order []Storage) (StorageChoice, error) {
	if len(order) == 0 {
		order = StorageOrder
	}
	var c StorageChoice
	for _, s := range order {
		eff, err := SimulateStorage(ctx, es, s)
		_, want, _ := s.Settings()
		switch {
		case err != nil:
			c.Refused = append(c.Refused, StorageRefusal{Storage: s, Reason: err.Error()})
		case eff.Mode != want.Mode || eff.SourceMode != want.SourceMode:
			c.Refused = append(c.Refused, StorageRefusal{Storage: s, Reason: "the cluster would create " + eff.String()})
		default:
			c.Storage, c.Effective = s, eff
			return c, nil
		}
	}
	c.Storage = order[len(order)-1]
	return c, fmt.Errorf("mapping: no storage applies as asked: %s", c.refusals())
}

func (c StorageChoice) refusals() string {
	var b strings.Builder
	for i, r := range c.Refused {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(r.Storage) + ": " + r.Reason)
	}
	return b.String()
}

// SimulateStorage returns what the cluster would give a new logs-exim
// backing index with storage s, eximship's settings and mappings.
func SimulateStorage(ctx context.Context, es Performer, s Storage) (Effective, error) {
	body, err := simulationBody(s)
	if err != nil {
		return Effective{}, err
	}
	status, answer, err := do(ctx, es, http.MethodPost, "/_index_template/_simulate?filter_path=template.settings,error,status", body)
	if err != nil {
		return Effective{}, fmt.Errorf("mapping: simulating storage %s: %w", s, err)
	}
	if status != http.StatusOK {
		return Effective{}, fmt.Errorf("mapping: simulating storage %s: answered %d: %s", s, status, errorReason(answer))
	}
	var r struct {
		Template struct {
			Settings map[string]any `json:"settings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(answer, &r); err != nil || r.Template.Settings == nil {
		return Effective{}, fmt.Errorf("mapping: simulating storage %s: unexpected answer: %s", s, snippet(answer))
	}
	flat := map[string]any{}
	flatten("", r.Template.Settings, flat)
	return effectiveFrom(flat), nil
}

// The simulated template: one stream name within LogsPattern, a priority
// above eximship's (600) and its scoped copies (700).
const (
	simulatedStream    = "logs-exim.main-eximshipstorageprobe"
	simulationPriority = 1000007
)

// simulationBody is the logs-exim index template with everything inline:
// the settings and mappings components merged, and the storage s.
func simulationBody(s Storage) ([]byte, error) {
	ts, err := TemplatesFor("", s)
	if err != nil {
		return nil, err
	}
	var settings, storage, mappings struct {
		Template map[string]json.RawMessage `json:"template"`
	}
	for _, t := range ts {
		var dst any
		switch t.Name {
		case SettingsComponent:
			dst = &settings
		case StorageComponent:
			dst = &storage
		case MappingsComponent:
			dst = &mappings
		default:
			continue
		}
		if err := json.Unmarshal(t.Body, dst); err != nil {
			return nil, fmt.Errorf("mapping: %s: %w", t.Name, err)
		}
	}
	merged := map[string]any{}
	for _, raw := range []json.RawMessage{settings.Template["settings"], storage.Template["settings"]} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		mergeInto(merged, m)
	}
	return json.Marshal(map[string]any{
		// a name of eximship's streams, and a priority no template has:
		// overlapping templates of equal priority are refused
		"index_patterns": []string{simulatedStream},
		"data_stream":    map[string]any{},
		"priority":       simulationPriority,
		"template": map[string]any{
			"settings": merged,
			"mappings": mappings.Template["mappings"],
		},
	})
}

// mergeInto merges src into dst, objects recursively.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// errorReason is the "reason" of an Elasticsearch error answer, or a
// snippet of the answer.
func errorReason(b []byte) string {
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Reason != "" {
		return e.Error.Type + ": " + e.Error.Reason
	}
	return snippet(b)
}

// IndexStorage is what one backing index of a data stream has.
type IndexStorage struct {
	Stream    string
	Index     string
	Effective Effective
}

// StreamStorage reads the effective storage of the newest backing index
// of every data stream matching pattern (e.g. "logs-exim.*-default"):
// index.mode and the source mode after creation, as the cluster applied
// them (a licence fallback to stored _source shows here). Streams without
// an index yet are absent. Needs view_index_metadata on the streams.
func StreamStorage(ctx context.Context, es Performer, pattern string) ([]IndexStorage, error) {
	keys := []string{"index.mode", "index.mapping.source.mode", "index.codec", "index.sort.field", "index.provided_name"}
	var fp []string
	for _, k := range keys {
		fp = append(fp, "*.settings."+k, "*.defaults."+k)
	}
	// (filter_path does not match flat_settings keys: flatten here)
	path := "/" + url.PathEscape(pattern) + "/_settings?include_defaults=true&expand_wildcards=open&allow_no_indices=true&ignore_unavailable=true&filter_path=" + strings.Join(fp, ",")
	status, body, err := do(ctx, es, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("mapping: reading the settings of %s: %w", pattern, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("mapping: reading the settings of %s: answered %d: %s", pattern, status, errorReason(body))
	}
	var r map[string]struct {
		Settings map[string]any `json:"settings"`
		Defaults map[string]any `json:"defaults"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("mapping: reading the settings of %s: %w", pattern, err)
	}
	newest := map[string]IndexStorage{}
	for idx, s := range r {
		stream, ok := backingStream(idx)
		if !ok {
			continue // a plain index matching the pattern
		}
		flat := map[string]any{}
		flatten("", s.Defaults, flat)
		flatten("", s.Settings, flat) // set values win over defaults
		if old, ok := newest[stream]; ok && generation(old.Index) > generation(idx) {
			continue
		}
		newest[stream] = IndexStorage{Stream: stream, Index: idx, Effective: effectiveFrom(flat)}
	}
	out := make([]IndexStorage, 0, len(newest))
	for _, v := range newest {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, nil
}

// backingStream returns the data stream of a backing index name
// (.ds-<stream>-<yyyy.MM.dd>-<generation>).
func backingStream(idx string) (string, bool) {
	rest, ok := strings.CutPrefix(idx, ".ds-")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(rest[:i], '-')
	if j <= 0 {
		return "", false
	}
	return rest[:j], true
}

// generation is the number at the end of a backing index name.
func generation(idx string) int {
	n := 0
	for i := strings.LastIndexByte(idx, '-') + 1; i < len(idx); i++ {
		c := idx[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// storage is the _meta.storage of a storage component ("" for others).
func (t Template) storage() Storage {
	var v struct {
		Meta struct {
			Storage Storage `json:"storage"`
		} `json:"_meta"`
	}
	_ = json.Unmarshal(t.Body, &v)
	return v.Meta.Storage
}

// installedStorage is the _meta.storage of component name in a
// GET _component_template answer.
func installedStorage(body []byte, name string) Storage {
	var r struct {
		ComponentTemplates []struct {
			Name              string          `json:"name"`
			ComponentTemplate json.RawMessage `json:"component_template"`
		} `json:"component_templates"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	for _, c := range r.ComponentTemplates {
		if c.Name == name {
			return Template{Body: c.ComponentTemplate}.storage()
		}
	}
	return ""
}

// InstalledStorage is the storage the cluster's storage component
// (StorageComponent) names; "" when it is missing.
func InstalledStorage(ctx context.Context, es Performer) (Storage, error) {
	status, body, err := do(ctx, es, http.MethodGet, "/_component_template/"+StorageComponent, nil)
	if err != nil {
		return "", fmt.Errorf("mapping: reading %s: %w", StorageComponent, err)
	}
	switch status {
	case http.StatusOK:
		return installedStorage(body, StorageComponent), nil
	case http.StatusNotFound:
		return "", nil
	}
	return "", fmt.Errorf("mapping: reading %s: answered %d: %s", StorageComponent, status, errorReason(body))
}
