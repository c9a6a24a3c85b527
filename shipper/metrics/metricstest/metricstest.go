// Package metricstest reads Prometheus metrics back for tests: the text
// exposition of a /metrics endpoint as series -> value.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse reads a text exposition into series -> value. A series is
// name{label="value",...} with the labels sorted by name; a histogram gives
// name_count and name_bucket{le="..."} series.
func Parse(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	key := func(name string, labels []*dto.LabelPair, extra ...string) string {
		var ls []string
		for _, l := range labels {
			ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
		}
		ls = append(ls, extra...)
		sort.Strings(ls)
		if len(ls) == 0 {
			return name
		}
		return name + "{" + strings.Join(ls, ",") + "}"
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[key(name, m.Label)] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key(name, m.Label)] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key(name+"_count", m.Label)] = float64(m.Histogram.GetSampleCount())
				for _, b := range m.Histogram.Bucket {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					out[key(name+"_bucket", m.Label, "le="+strconv.Quote(le))] = float64(b.GetCumulativeCount())
				}
			case m.Untyped != nil:
				out[key(name, m.Label)] = m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}

// Scrape gets url (a /metrics endpoint) and parses it.
func Scrape(url string) (map[string]float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return Parse(res.Body)
}

// Sum adds the values of the series of metric name (every label set).
func Sum(series map[string]float64, name string) float64 {
	var s float64
	for k, v := range series {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}
