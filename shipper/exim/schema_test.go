package exim

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFields checks docs/PARSER.md's field list as code (Fields): every
// field written for the fixtures, the fuzz seeds and the corpus is listed,
// with a JSON value of the listed kind, and every listed field is written
// at least once (no stale names).
func TestFields(t *testing.T) {
	byName := map[string]Field{}
	for _, f := range Fields() {
		if _, dup := byName[f.Name]; dup {
			t.Errorf("field %s listed twice", f.Name)
		}
		byName[f.Name] = f
	}
	var inputs [][]byte
	metas := []Meta{}
	for _, fx := range loadFixtures(t) {
		inputs = append(inputs, fx.input)
		metas = append(metas, Meta{HostName: fx.opts["host"], FilePath: fx.opts["path"], Dataset: fx.opts["dataset"]})
	}
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, f := range seeds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// "go test fuzz v1\n[]byte(\"...\")\n"
		_, lit, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		lit = strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")
		in, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		inputs = append(inputs, []byte(in))
		metas = append(metas, Meta{})
	}
	if dir := corpusDir(t); dirExists(dir) {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
				return err
			}
			for _, e := range readEntries(t, path, strings.Contains(path, "rejectlog")) {
				inputs = append(inputs, e)
				metas = append(metas, Meta{})
			}
			return nil
		})
	}
	p := NewParser(Options{Location: time.UTC})
	var r Record
	seen := map[string]int{}
	for i, in := range inputs {
		r.Meta = metas[i]
		// set by the processor in run
		r.Meta.Created, r.Meta.Ingested = time.Unix(1e9, 0), time.Unix(1e9+1, 0)
		p.Parse(in, &r)
		// Enrichment is set by shipper/enrich after Parse; give it values
		// here so that its fields are written and checked too.
		if len(r.Sender) > 0 {
			r.Enrichment = Enrichment{SenderDomain: "xn--bcher-kva.example", SenderDomainUnicode: "bücher.example", SenderRegisteredDomain: "xn--bcher-kva.example",
				SenderTLD: "example", SenderCountry: "DE", SenderFreemail: true, SenderLocal: true, SenderAdmin: true, SenderForged: true}
		}
		if len(r.Recipient) > 0 {
			en := &r.Enrichment
			en.RecipientDomain, en.RecipientDomainUnicode, en.RecipientRegisteredDomain, en.RecipientLocal = "mx.example.net", "mx.example.net", "example.net", true
			en.RecipientTLD, en.RecipientCountry, en.RecipientFreemail, en.SameDomain = "net", "JP", true, true
			en.EmailDirection = "inbound"
		}
		if len(r.Host.IP) > 0 {
			en := &r.Enrichment
			en.HeloClass, en.HeloIP, en.SourceIPClass = "address_literal_mismatch", "192.0.2.7", "documentation"
			en.SourceRegisteredDomain, en.SourceTopLevelDomain = "example.co.uk", "co.uk"
			en.Geo = &Geo{ContinentName: "Europe", CountryISOCode: "GB", CountryName: "United Kingdom", RegionISOCode: "GB-ENG", RegionName: "England",
				CityName: "London", HasLocation: true, Lat: 51.5, Lon: -0.12, ASNumber: 64496, ASOrganization: "Example AS"}
		}
		// So is the session (shipper/session), with its summary.
		if len(r.Host.IP) > 0 {
			r.Session = Session{ID: "0123456789abcdef0123", Inferred: true, Summary: true, Transactions: 2, RcptRejected: 3, MailFroms: 2, Duration: time.Second}
		}
		var v any
		if err := json.Unmarshal(r.AppendJSON(nil), &v); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		flat := map[string]any{}
		flatten("", v, flat)
		geoPoints(flat, byName)
		for k, val := range flat {
			seen[k]++
			f, ok := byName[k]
			if !ok {
				if seen[k] == 1 {
					t.Errorf("field %s (from %q) is not in Fields()", k, in)
				}
				continue
			}
			if !kindMatches(f, val) {
				t.Errorf("field %s = %#v (from %q) does not match type %s (array %v)", k, val, in, f.Type, f.Array)
			}
		}
	}
	var never []string
	for name := range byName {
		if seen[name] == 0 {
			never = append(never, name)
		}
	}
	sort.Strings(never)
	if len(never) > 0 {
		t.Errorf("fields listed but never written by any fixture or corpus line: %v", never)
	}
}

func dirExists(d string) bool {
	st, err := os.Stat(d)
	return err == nil && st.IsDir()
}

func kindMatches(f Field, v any) bool {
	if arr, ok := v.([]any); ok {
		if !f.Array {
			return false
		}
		for _, x := range arr {
			if !scalarMatches(f.Type, x) {
				return false
			}
		}
		return true
	}
	return !f.Array && scalarMatches(f.Type, v)
}

// geoPoints folds the "lat" and "lon" leaves of geo_point fields back into
// one value.
func geoPoints(flat map[string]any, byName map[string]Field) {
	for k, v := range flat {
		p, ok := strings.CutSuffix(k, ".lat")
		if !ok || byName[p].Type != "geo_point" {
			continue
		}
		flat[p] = map[string]any{"lat": v, "lon": flat[p+".lon"]}
		delete(flat, k)
		delete(flat, p+".lon")
	}
}

func scalarMatches(typ string, v any) bool {
	switch typ {
	case "geo_point":
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		lat, ok1 := m["lat"].(float64)
		lon, ok2 := m["lon"].(float64)
		return ok1 && ok2 && len(m) == 2 && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
	case "binary":
		s, ok := v.(string)
		_, err := base64.StdEncoding.DecodeString(s)
		return ok && err == nil
	case "keyword", "wildcard", "text", "match_only_text", "ip", "date":
		_, ok := v.(string)
		return ok
	case "long":
		n, ok := v.(float64)
		return ok && n == math.Trunc(n)
	case "double":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	}
	return false
}
