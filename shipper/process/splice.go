package process

import (
	"bytes"

	"github.com/eximship/eximship/shipper/internal/jsonscan"
)

// spliceMeta makes sure the JSON object in dst[start:] carries event.module,
// event.dataset and data_stream.{type,dataset,namespace}, adding what the
// parser did not write. fromParser selects the fast path for documents of
// exim.Record.AppendJSON. It reports false when dst[start:] is not a JSON
// object it can read.
func (p *Exim) spliceMeta(dst []byte, start int, dataset string, fromParser bool) ([]byte, bool) {
	if fromParser {
		if out, ok := p.spliceFast(dst, start, dataset); ok {
			return out, true
		}
	}
	return p.spliceScan(dst, start, dataset)
}

// spliceFast handles the documents the parser writes: one object, ending in
// '}', with a top-level "event" object that holds event.dataset (from
// Meta.Dataset) but no event.module, and no data_stream
// (TestParserOutputShape checks this). In valid JSON a quote inside a
// string is escaped, so the byte sequence `"event":{` can only be a key
// followed by an object.
func (p *Exim) spliceFast(dst []byte, start int, dataset string) ([]byte, bool) {
	doc := dst[start:]
	if len(doc) < 2 || doc[0] != '{' || doc[len(doc)-1] != '}' {
		return dst, false
	}
	ev := bytes.Index(doc, []byte(`"event":{"`))
	if ev < 0 {
		return dst, false
	}
	const module = `"module":"exim",`
	at := start + ev + len(`"event":{`)
	n := len(dst)
	dst = append(dst, module...) // grow
	copy(dst[at+len(module):], dst[at:n])
	copy(dst[at:], module)
	if dataset != p.tailDS || p.tail == nil {
		// The data_stream tail depends on the dataset alone: encode it once.
		p.tail = append(appendDataStream(p.tail[:0], dataset, p.cfg.Namespace), '}')
		p.tailDS = dataset
	}
	return append(dst[:len(dst)-1], p.tail...), true
}

// spliceScan is the general case: it walks the top-level keys.
func (p *Exim) spliceScan(dst []byte, start int, dataset string) ([]byte, bool) {
	doc := dst[start:]
	i := jsonscan.SkipWS(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return dst, false
	}
	i++
	keys := 0
	eventAt := -1 // just after the '{' of the event object
	eventKeys, hasModule, hasDataset, hasStream := 0, false, false, false
	end := -1
	for {
		i = jsonscan.SkipWS(doc, i)
		if i >= len(doc) {
			return dst, false
		}
		if doc[i] == '}' && keys == 0 {
			end = i
			break
		}
		k0, k1, n := readKey(doc, i)
		if n < 0 {
			return dst, false
		}
		keys++
		key := string(doc[k0:k1])
		i = jsonscan.SkipWS(doc, n)
		if i >= len(doc) {
			return dst, false
		}
		switch {
		case key == "data_stream":
			hasStream = true
		case key == "event" && doc[i] == '{':
			eventAt = i + 1
			j := i + 1
			for {
				j = jsonscan.SkipWS(doc, j)
				if j >= len(doc) {
					return dst, false
				}
				if doc[j] == '}' {
					break
				}
				if doc[j] == ',' {
					j++
					continue
				}
				a, b, m := readKey(doc, j)
				if m < 0 {
					return dst, false
				}
				eventKeys++
				switch string(doc[a:b]) {
				case "module":
					hasModule = true
				case "dataset":
					hasDataset = true
				}
				j = jsonscan.SkipValue(doc, jsonscan.SkipWS(doc, m))
				if j < 0 {
					return dst, false
				}
			}
		}
		i = jsonscan.SkipValue(doc, i)
		if i < 0 {
			return dst, false
		}
		i = jsonscan.SkipWS(doc, i)
		if i >= len(doc) {
			return dst, false
		}
		if doc[i] == ',' {
			i++
			continue
		}
		if doc[i] != '}' {
			return dst, false
		}
		end = i
		break
	}
	if jsonscan.SkipWS(doc, end+1) != len(doc) {
		return dst, false
	}
	if hasModule && hasDataset && hasStream {
		return dst, true
	}
	t := append(p.tmp[:0], doc...)
	dst = dst[:start]
	if eventAt >= 0 {
		dst = append(dst, t[:eventAt]...)
		sep := false
		if !hasModule {
			dst = append(dst, `"module":"exim"`...)
			sep = true
		}
		if !hasDataset {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"dataset":`...)
			dst = appendString(dst, dataset)
			sep = true
		}
		if sep && eventKeys > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, t[eventAt:end]...)
	} else {
		dst = append(dst, t[:end]...)
		if keys > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"event":{"module":"exim","dataset":`...)
		dst = appendString(dst, dataset)
		dst = append(dst, '}')
		keys++
	}
	if !hasStream {
		n := len(dst)
		dst = appendDataStream(dst, dataset, p.cfg.Namespace)
		if keys == 0 { // drop the leading comma
			dst = append(dst[:n], dst[n+1:]...)
		}
	}
	dst = append(dst, t[end:]...)
	p.tmp = t
	return dst, true
}

// readKey reads `"key"` then ':' at b[i]; it returns the key's bounds and
// the index after the colon, or n < 0.
func readKey(b []byte, i int) (k0, k1, n int) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, -1
	}
	e := jsonscan.SkipString(b, i)
	if e < 0 {
		return 0, 0, -1
	}
	j := jsonscan.SkipWS(b, e)
	if j >= len(b) || b[j] != ':' {
		return 0, 0, -1
	}
	return i + 1, e - 1, j + 1
}
