package analysis

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// SourcesIndexPrefix is the prefix of the per-source entity index,
// eximship-sources-<namespace> (template in mapping/).
const SourcesIndexPrefix = "eximship-sources-"

// SourcesIndex returns the entity index of a namespace.
func SourcesIndex(namespace string) string { return SourcesIndexPrefix + namespace }

// EntityDoc is one document of the entity index: a source in a window.
type EntityDoc struct {
	// ID is derived from the namespace, the window and the source, so a
	// recomputation replaces the document instead of adding one.
	ID   string
	Body []byte
}

// EntityID returns the _id of a source's document for a window.
func EntityID(namespace string, start, end time.Time, ip string) string {
	h := sha256.New()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, start.UnixMilli(), 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, end.UnixMilli(), 10))
	h.Write([]byte{0})
	h.Write([]byte(ip))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// entity is the JSON of an entity document. docs/REPORT.md lists the
// fields; mapping/ maps every one (a test checks it).
type entity struct {
	Timestamp Time `json:"@timestamp"`
	ECS       struct {
		Version string `json:"version"`
	} `json:"ecs"`
	Event struct {
		Kind     string `json:"kind"`
		Module   string `json:"module"`
		Dataset  string `json:"dataset"`
		Start    Time   `json:"start"`
		End      Time   `json:"end"`
		Ingested Time   `json:"ingested"`
	} `json:"event"`
	Source struct {
		IP      string `json:"ip"`
		Address string `json:"address"`
	} `json:"source"`
	Related struct {
		IP []string `json:"ip"`
	} `json:"related"`
	Exim struct {
		// Relay is the source's figures, as in the report's sources.
		Relay Source `json:"relay"`
	} `json:"exim"`
	Labels struct {
		Namespace string `json:"namespace"`
	} `json:"labels"`
}

// ECSVersion is the ECS version of the entity documents.
const ECSVersion = "8.17.0"

// EntityDocs returns one entity document per source of rep (all of them,
// not only the top), for the window [start, end) of namespace, computed at
// now.
func EntityDocs(rep *Report, namespace string, start, end, now time.Time) ([]EntityDoc, error) {
	out := make([]EntityDoc, 0, len(rep.AllSources))
	for _, s := range rep.AllSources {
		var e entity
		e.Timestamp = Time(start.UnixMilli())
		e.ECS.Version = ECSVersion
		e.Event.Kind, e.Event.Module, e.Event.Dataset = "state", "exim", "exim.sources"
		e.Event.Start, e.Event.End, e.Event.Ingested = Time(start.UnixMilli()), Time(end.UnixMilli()), Time(now.UnixMilli())
		e.Source.IP, e.Source.Address = s.SourceIP, s.SourceIP
		e.Related.IP = []string{s.SourceIP}
		e.Labels.Namespace = namespace
		e.Exim.Relay = s
		b, err := json.Marshal(&e)
		if err != nil {
			return nil, err
		}
		out = append(out, EntityDoc{ID: EntityID(namespace, start, end, s.SourceIP), Body: b})
	}
	return out, nil
}

// Windows returns the aligned windows of length w (multiples of w since
// the Unix epoch, UTC) that overlap [since, until).
func Windows(since, until time.Time, w time.Duration) [][2]time.Time {
	if w <= 0 || !since.Before(until) {
		return nil
	}
	wm := w.Milliseconds()
	start := SlotFloor(since.UnixMilli(), wm)
	var out [][2]time.Time
	for s := start; s < until.UnixMilli(); s += wm {
		out = append(out, [2]time.Time{time.UnixMilli(s).UTC(), time.UnixMilli(s + wm).UTC()})
	}
	return out
}

// SlotFloor rounds ms down to a multiple of width.
func SlotFloor(ms, width int64) int64 {
	s := ms - ms%width
	if ms < 0 && ms%width != 0 {
		s -= width
	}
	return s
}
