package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/eximship/eximship/dashboards/lens"
)

// LensPanel is one Lens panel of a bundled dashboard.
type LensPanel struct {
	// Dashboard is the dashboard's id, ID the panel's panelIndex.
	Dashboard, ID string
	Attributes    *lens.Attributes
	// DataView is the id of the data view its layer l1 reads.
	DataView string
}

// LensPanels returns every Lens panel of the bundled dashboards, and each
// dashboard's context (time field @timestamp, its query and filters; no
// time range) by dashboard id: what a Kibana dashboard adds to each
// panel's request (lens.Translate).
func LensPanels() ([]LensPanel, map[string]lens.Context, error) {
	objs, err := Objects()
	if err != nil {
		return nil, nil, err
	}
	var out []LensPanel
	ctxs := map[string]lens.Context{}
	for _, o := range objs {
		if o.Type != "dashboard" {
			continue
		}
		b, err := json.Marshal(o.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"])
		if err != nil {
			return nil, nil, err
		}
		var src struct {
			Query   lens.Query    `json:"query"`
			Filters []lens.Filter `json:"filter"`
		}
		if err := json.Unmarshal(b, &src); err != nil {
			return nil, nil, fmt.Errorf("dashboards: %s: search source: %w", o.ID, err)
		}
		ctxs[o.ID] = lens.Context{TimeField: "@timestamp", Query: src.Query, Filters: src.Filters}
		for _, p := range o.Attributes["panelsJSON"].([]any) {
			pm := p.(map[string]any)
			if pm["type"] != "lens" {
				continue
			}
			ab, err := json.Marshal(pm["embeddableConfig"].(map[string]any)["attributes"])
			if err != nil {
				return nil, nil, err
			}
			a, err := lens.Parse(ab)
			if err != nil {
				return nil, nil, fmt.Errorf("dashboards: %s: %w", o.ID, err)
			}
			dv, err := a.DataViewID("l1")
			if err != nil {
				return nil, nil, fmt.Errorf("dashboards: %s: %w", o.ID, err)
			}
			id, _ := pm["panelIndex"].(string)
			out = append(out, LensPanel{o.ID, id, a, dv})
		}
	}
	return out, ctxs, nil
}
