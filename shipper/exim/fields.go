package exim

import (
	"bytes"
)

// fieldKey returns the key of a "KEY=" token at the start of s and the
// length up to and including '=', or a bare flag (K, L, L-, L., DS, PRDR,
// TFO) with length of the flag and value nil. ok is false if s does not
// start with a known field.
func fieldKey(s []byte) (key string, n int, bare bool, ok bool) {
	if len(s) > 0 && s[0] == 'L' {
		// pipelining: "L", then '*' (early pipelining used) or '.'
		// (advertised), then '-' (pipelining not used): L L* L. L- L*- L.-
		j := 1
		if j < len(s) && (s[j] == '*' || s[j] == '.') {
			j++
		}
		if j < len(s) && s[j] == '-' {
			j++
		}
		if j == len(s) || s[j] == ' ' {
			return "L", j, true, true
		}
	}
	i := 0
	for i < len(s) && i < 5 && (isAlnum(s[i]) || s[i] == '*') {
		i++
	}
	if i < len(s) && s[i] == '=' {
		if k := knownKey(s[:i]); k != "" {
			return k, i + 1, false, true
		}
		if i >= 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' {
			// another upper-case field (SPF=, from newer Exims or
			// local patches): skipped, not stored
			return keyOther, i + 1, false, true
		}
		return "", 0, false, false
	}
	end := i
	if end < len(s) && s[end] != ' ' {
		return "", 0, false, false
	}
	if k := knownFlag(s[:end]); k != "" {
		return k, end, true, true
	}
	return "", 0, false, false
}

// keyOther stands for an upper-case field letter the parser does not know.
const keyOther = "?"

// knownKey returns the constant string for a field key (no allocation; a
// switch on a converted []byte compiles to a search without converting).
func knownKey(b []byte) string {
	switch string(b) {
	case "H":
		return "H"
	case "P":
		return "P"
	case "S":
		return "S"
	case "R":
		return "R"
	case "T":
		return "T"
	case "C":
		return "C"
	case "I":
		return "I"
	case "F":
		return "F"
	case "U":
		return "U"
	case "X":
		return "X"
	case "A":
		return "A"
	case "D":
		return "D"
	case "Q":
		return "Q"
	case "id":
		return "id"
	case "QT":
		return "QT"
	case "DT":
		return "DT"
	case "RT":
		return "RT"
	case "Ci":
		return "Ci"
	case "CV":
		return "CV"
	case "DN":
		return "DN"
	case "PS":
		return "PS"
	case "ST":
		return "ST"
	case "id*":
		return "id*"
	case "M8S":
		return "M8S"
	case "PRX":
		return "PRX"
	case "SNI":
		return "SNI"
	case "DKIM":
		return "DKIM"
	}
	return ""
}

func knownFlag(b []byte) string {
	switch string(b) {
	case "K":
		return "K"
	case "DS":
		return "DS"
	case "PRDR":
		return "PRDR"
	case "TFO":
		return "TFO"
	}
	return ""
}

func isFieldStart(s []byte) bool {
	_, _, _, ok := fieldKey(s)
	return ok
}

// valueEnd returns the end of a plain field value: the next space.
func valueEnd(s []byte) int {
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		return i
	}
	return len(s)
}

// parseFields parses space-separated fields from the start of s until a
// token that is not a field, and returns the rest. A value that ends in ':'
// (the ":" before an error text) ends the fields; the rest then starts with
// ":".
func (r *Record) parseFields(s []byte, ctx int) []byte {
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		key, n, bare, ok := fieldKey(s)
		if !ok {
			return s
		}
		r.fieldsPresent = true
		if bare {
			switch key {
			case "K":
				r.Flags |= FlagChunking
			case "DS":
				r.Flags |= FlagDNSSEC
			case "PRDR":
				r.Flags |= FlagPRDR
			case "TFO":
				r.Flags |= FlagTFO
			default:
				r.Pipelining = s[:n]
			}
			s = s[n:]
			continue
		}
		v := s[n:]
		var m int // length of the value
		switch {
		case key == "H" || key == "I" || key == "PRX":
			h := &r.Host
			if key == "I" {
				h = &r.Interface
			} else if key == "PRX" {
				h = &r.Proxy
			}
			if len(h.IP) > 0 || len(h.Name) > 0 {
				// a second H= (e.g. in error text) is not ours
				return s
			}
			m = parseHostAt(v, h)
			if h.malformed {
				r.Err = errBadHost
			}
			if key == "H" && m < len(v) && v[m] == '*' {
				r.Flags |= FlagContinued
				m++
			}
		case key == "F" || (key == "R" && len(v) > 0 && v[0] == '<'):
			m = scanAddress(v)
			a := v[:m]
			if key == "F" {
				if len(a) > 0 && a[len(a)-1] == ':' {
					r.setSender(a[:len(a)-1])
					return v[m-1:]
				}
				r.setSender(a)
			} else {
				r.Recipient = stripAngle(a)
			}
		case key == "U":
			// U= may contain spaces: it ends before the next field.
			m = len(v)
			for i := 0; i < len(v); i++ {
				if v[i] == ' ' && i+1 < len(v) && (isFieldStart(v[i+1:]) || !looksLikeIdentPart(v[i+1:])) {
					m = i
					break
				}
				if v[i] == ':' && (i+1 == len(v) || v[i+1] == ' ') {
					// "U=CALLER: 535 ..." (the text after the fields)
					r.User = v[:i]
					return v[i:]
				}
			}
			r.User = v[:m]
		case len(v) > 0 && v[0] == '"':
			m = scanQuoted(v)
			if m < 0 {
				m = len(v)
				r.setQuoted(key, v[1:], ctx)
			} else {
				r.setQuoted(key, v[1:m-1], ctx)
			}
		default:
			m = valueEnd(v)
			val := v[:m]
			if m > 0 && val[m-1] == ':' && key != "X" && key != "A" {
				// value followed by ": error text"
				r.setPlain(key, val[:m-1], ctx)
				return v[m-1:]
			}
			r.setPlain(key, val, ctx)
		}
		if m > len(v) {
			m = len(v)
		}
		s = v[m:]
		if len(s) > 0 && s[0] != ' ' {
			// junk glued to a value (e.g. "]:" of a host before an error)
			return s
		}
	}
	return s
}

// looksLikeIdentPart reports whether the word after a space inside U= still
// belongs to the ident: it does unless it is a lowercase verb that starts
// the message text ("rejected", "temporarily", "sender", "dropped", "for").
func looksLikeIdentPart(s []byte) bool {
	for _, w := range [...]string{"rejected", "temporarily", "sender ", "dropped", "for ", "closed", "lost", "Warning", "D=", "no "} {
		if hasPrefix(s, w) {
			return false
		}
	}
	return true
}

func (r *Record) setQuoted(key string, v []byte, ctx int) {
	switch key {
	case "T":
		if ctx == ctxDelivery {
			r.Transport = v
		} else {
			r.Subject = v
		}
	case "C":
		if ctx == ctxDelivery {
			r.Confirmation = v
		} else {
			r.Commands = v
		}
	case "DN":
		r.PeerDN = v
	default:
		r.setPlain(key, v, ctx)
	}
}

func (r *Record) setPlain(key string, v []byte, ctx int) {
	switch key {
	case "A":
		// name[:id[:sender]]
		if i := bytes.IndexByte(v, ':'); i >= 0 {
			r.AuthName = v[:i]
			id := v[i+1:]
			if j := bytes.IndexByte(id, ':'); j >= 0 && ctx == ctxArrival {
				r.AuthSender = id[j+1:]
				id = id[:j]
			}
			r.AuthID = id
		} else {
			r.AuthName = v
		}
	case "C":
		if ctx == ctxDelivery {
			r.Confirmation = v
		} else {
			r.Commands = v
		}
	case "Ci":
		r.ConnID = v
	case "CV":
		r.CertVerified = v
	case "D":
		if d, ok := parseDuration(v); ok {
			r.Duration = d
			r.Flags |= FlagHasD
		}
	case "DKIM":
		r.DKIM = v
	case "DN":
		r.PeerDN = v
	case "DT":
		if d, ok := parseDuration(v); ok {
			r.DeliveryTime = d
			r.Flags |= FlagHasDT
		}
	case "id", "id*":
		r.HeaderID = v
	case "M8S":
		r.M8S = v
	case "P":
		if ctx == ctxDelivery {
			r.ReturnPath = v
		} else {
			r.Protocol = v
		}
	case "PS":
		r.ProtoSeq = v
	case "Q":
		r.Queue = v
	case "QT":
		if d, ok := parseDuration(v); ok {
			r.QueueTime = d
			r.Flags |= FlagHasQT
		}
	case "R":
		if ctx == ctxArrival {
			r.BounceRef = v
		} else {
			r.Router = v
		}
	case "RT":
		if d, ok := parseDuration(v); ok {
			r.ReceiveTime = d
			r.Flags |= FlagHasRT
		}
	case "S":
		if n, ok := atoi64(v); ok {
			r.Size = n
			r.Flags |= FlagHasSize
		}
	case "SNI":
		r.SNI = v
	case "ST":
		r.Shadow = v
	case "T":
		if ctx == ctxArrival {
			r.Subject = v
		} else {
			r.Transport = v
		}
	case "X":
		r.Cipher = v
	}
}
