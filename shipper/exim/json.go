package exim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// enc is an append-style JSON object writer. Objects are opened lazily: an
// object is written only when its first member is, so optional groups never
// show up empty.
type enc struct {
	b       []byte
	depth   int // open (written) objects below the root
	pending int // objects requested but not yet written
	names   [8]string
	first   [10]bool
	cov     *Coverage // Record.Cover: what is written as it is
}

func (e *enc) flush() {
	for e.pending > 0 {
		name := e.names[e.depth]
		e.key0(name)
		e.b = append(e.b, '{')
		e.depth++
		e.first[e.depth] = true
		e.pending--
	}
}

// key0 writes a key; k is the quoted key with its colon (`"name":`), so
// that a key costs one append.
func (e *enc) key0(k string) {
	if !e.first[e.depth] {
		e.b = append(e.b, ',')
	}
	e.first[e.depth] = false
	e.b = append(e.b, k...)
}

func (e *enc) key(k string) {
	e.flush()
	e.key0(k)
}

// open requests object k; close ends it.
func (e *enc) open(k string) {
	e.names[e.depth+e.pending] = k
	e.pending++
}

func (e *enc) close() {
	if e.pending > 0 {
		e.pending--
		return
	}
	e.b = append(e.b, '}')
	e.depth--
}

// str writes k: v unless v is empty. It is small enough to be inlined, so
// the many absent fields cost a length check, not a call.
func (e *enc) str(k string, v []byte) {
	if len(v) != 0 {
		e.strAlways(k, v)
	}
}

func (e *enc) strAlways(k string, v []byte) {
	e.key(k)
	e.bytes(v)
}

// bytes appends v as a JSON string, noting it in the coverage.
func (e *enc) bytes(v []byte) {
	start := len(e.b)
	e.b = AppendJSONBytes(e.b, v)
	if e.cov != nil {
		e.cov.wrote(v, len(e.b)-start-2)
	}
}

func (e *enc) strs(k string, v string) {
	if len(v) == 0 {
		return
	}
	e.key(k)
	e.b = AppendJSONString(e.b, v)
}

func (e *enc) int(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
	if e.cov != nil {
		e.cov.num(v)
	}
}

func (e *enc) float(k string, v float64) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return
	}
	e.key(k)
	e.b = strconv.AppendFloat(e.b, v, 'f', -1, 64)
	if e.cov != nil {
		e.cov.float(v)
	}
}

func (e *enc) boolean(k string, v bool) {
	e.key(k)
	e.b = strconv.AppendBool(e.b, v)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes that are copied as they are: printable ASCII
// except '"' and '\\'.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONBytes appends v as a JSON string, escaped as every string of
// the documents is: '"' and '\' escaped, control characters as \n, \r, \t
// or \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and
// \u2029.
func AppendJSONBytes(dst []byte, v []byte) []byte {
	dst, _ = appendJSON(dst, v)
	return dst
}

// appendJSON is AppendJSONBytes that also reports whether v held invalid
// UTF-8 (written as \ufffd).
func appendJSON(dst []byte, v []byte) ([]byte, bool) {
	invalid := false
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(v); {
		// fast path: runs of safe ASCII, 8 bytes per step
		for i+8 <= len(v) && !needsEscape(binary.LittleEndian.Uint64(v[i:])) {
			i += 8
		}
		for i < len(v) && jsonSafe[v[i]] {
			i++
		}
		if i >= len(v) {
			break
		}
		c := v[i]
		if c < utf8.RuneSelf {
			dst = append(dst, v[start:i]...)
			dst = appendEscapedByte(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, v[start:i]...)
			if r == utf8.RuneError {
				dst = append(dst, `\ufffd`...)
				invalid = true
			} else {
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, v[start:]...)
	return append(dst, '"'), invalid
}

// needsEscape reports whether a byte of the 8-byte word x may need
// escaping: < 0x20, '"', '\\' or >= 0x80 (SWAR; false positives only send
// the caller to the byte loop).
func needsEscape(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	t := (x - 0x20*lo) &^ x // bytes < 0x20
	q := x ^ ('"' * lo)
	t |= (q - lo) &^ q // bytes == '"'
	b := x ^ ('\\' * lo)
	t |= (b - lo) &^ b // bytes == '\\'
	return (t|x)&hi != 0
}

func appendEscapedByte(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// AppendJSONString is AppendJSONBytes for a string (read in place, not
// copied).
func AppendJSONString(dst []byte, v string) []byte {
	return AppendJSONBytes(dst, unsafe.Slice(unsafe.StringData(v), len(v)))
}

// unescapeExim decodes Exim's string_printing() escapes (\n, \t, \r, \\,
// \", \ooo) into dst. Other backslashes are kept.
func unescapeExim(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return append(dst, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 >= len(v) {
			dst = append(dst, c)
			continue
		}
		n := v[i+1]
		switch n {
		case 'n':
			dst = append(dst, '\n')
			i++
		case 't':
			dst = append(dst, '\t')
			i++
		case 'r':
			dst = append(dst, '\r')
			i++
		case '\\', '"':
			dst = append(dst, n)
			i++
		default:
			if i+3 < len(v)+0 && n >= '0' && n <= '3' && v[i+2] >= '0' && v[i+2] <= '7' && v[i+3] >= '0' && v[i+3] <= '7' {
				dst = append(dst, (n-'0')<<6|(v[i+2]-'0')<<3|(v[i+3]-'0'))
				i += 3
			} else {
				dst = append(dst, c)
			}
		}
	}
	return dst
}

// text writes an escaped Exim value decoded.
func (e *enc) text(k string, v []byte, scratch *[]byte) {
	if len(v) != 0 {
		e.textAlways(k, v, scratch)
	}
}

func (e *enc) textAlways(k string, v []byte, scratch *[]byte) {
	e.key(k)
	e.textValue(v, scratch)
}

// textValue appends an escaped Exim value decoded; a value without
// escapes is noted in the coverage.
func (e *enc) textValue(v []byte, scratch *[]byte) {
	if bytes.IndexByte(v, '\\') < 0 {
		e.bytes(v)
		return
	}
	e.b = appendText(e.b, v, scratch)
}

// appendText appends an escaped Exim value decoded, as a JSON string;
// scratch holds the decoded text when it has escapes.
func appendText(dst, v []byte, scratch *[]byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return AppendJSONBytes(dst, v)
	}
	*scratch = unescapeExim((*scratch)[:0], v)
	return AppendJSONBytes(dst, *scratch)
}

// AppendJSON appends r as one ECS JSON document (no trailing newline).
// Field names are documented in docs/PARSER.md.
func (r *Record) AppendJSON(dst []byte) []byte {
	e := enc{b: dst, cov: r.Cover}
	e.first[0] = true
	e.b = append(e.b, '{')
	c := r.cache
	if c == nil {
		c = new(encCache)
		r.cache = c
	}
	if !r.Time.IsZero() {
		e.key(`"@timestamp":`)
		e.b = c.appendTimestamp(e.b, r.Time)
	}
	if len(r.Body) > 0 && textActions(r.Action) {
		e.text(`"message":`, r.Body, &r.scratch)
	}

	// event: the members that depend on the action alone are one
	// constant (actionInfo.head)
	info, ok := actionInfos[r.Action]
	if !ok {
		info = actionInfos[ActionUnknown]
	}
	dataStream := r.Meta.Namespace != "" && r.Meta.Dataset != ""
	e.key(`"event":`)
	if dataStream {
		e.b = append(e.b, `{"module":"exim",`...)
	} else {
		e.b = append(e.b, '{')
	}
	e.b = append(e.b, info.head...)
	if r.Err != nil {
		// ECS: "an error occurred during the processing of the event"
		e.b = append(e.b, `,"kind":"pipeline_error"`...)
	} else {
		e.b = append(e.b, `,"kind":"event"`...)
	}
	e.depth++
	e.first[e.depth] = false
	e.strs(`"dataset":`, r.Meta.Dataset)
	switch {
	case r.Has(FlagHasD):
		e.int(`"duration":`, int64(r.Duration*1e9))
	case r.Session.Summary:
		e.int(`"duration":`, int64(r.Session.Duration))
	default:
		if d, ok := r.deliveryDuration(); ok {
			e.int(`"duration":`, int64(d*1e9))
		}
	}
	// event.reason: its JSON is copied to exim.reason (encoded once)
	var reason span
	if len(r.Reason) > 0 {
		e.key(`"reason":`)
		reason.start = len(e.b)
		e.textValue(r.Reason, &r.scratch)
		reason.end = len(e.b)
	}
	if !r.Meta.Created.IsZero() {
		e.key(`"created":`)
		e.b = appendTimestamp(e.b, r.Meta.Created)
	}
	if !r.Meta.Ingested.IsZero() {
		e.key(`"ingested":`)
		e.b = appendTimestamp(e.b, r.Meta.Ingested)
	}
	invalidUTF8 := false
	if len(r.Original) > 0 {
		e.key(`"original":`)
		e.b, invalidUTF8 = appendJSON(e.b, r.Original)
	}
	e.close()
	e.key(`"ecs":`)
	e.b = append(e.b, `{"version":"`+ECSVersion+`"}`...)

	if code := smtpCode(r.Reason); r.Err != nil || code != nil {
		e.open(`"error":`)
		e.str(`"code":`, code)
		if r.Err != nil {
			e.strs(`"message":`, r.Err.Error())
		}
		e.close()
	}

	e.key(`"process":`)
	e.b = append(e.b, `{"name":"exim"`...)
	e.depth++
	e.first[e.depth] = false
	if r.PID > 0 {
		e.int(`"pid":`, int64(r.PID))
	}
	if r.ArgsCount > 0 {
		e.int(`"args_count":`, int64(r.ArgsCount))
	}
	e.close()

	r.host = appendLower(r.host[:0], r.Meta.HostName)
	if len(r.host) > 0 {
		e.open(`"host":`)
		e.str(`"name":`, r.host)
		e.close()
	}
	if r.Meta.FilePath != "" {
		e.open(`"log":`)
		e.open(`"file":`)
		e.strs(`"path":`, r.Meta.FilePath)
		e.close()
		e.close()
	}

	// peers: on delivery lines H= is the server delivered to (destination)
	// and I= our outgoing interface (source); elsewhere H= is the client.
	remote, local := "source", "destination"
	if r.outbound() {
		remote, local = "destination", "source"
	}
	// each address is checked once; the last is a HELO literal that is
	// not the client's address (enrichment)
	heloIP := r.Enrichment.HeloIP
	ips := [4][]byte{r.Host.IP, r.Interface.IP, r.Proxy.IP, unsafe.Slice(unsafe.StringData(heloIP), len(heloIP))}
	var okIP [4]bool
	nip := 0
	for i, ip := range ips {
		if len(ip) > 0 && validIP(ip) {
			okIP[i] = true
			nip++
		}
	}
	// SNI is the name the client asked the server for: ours on reception
	// (destination is the local side), the remote server's on delivery.
	r.appendPeer(&e, remote, &r.Host, okIP[0], r.sniFor(remote))
	r.appendPeer(&e, local, &r.Interface, okIP[1], r.sniFor(local))

	// related: each value once (H= and I= are often the same loopback)
	relIP := okIP
	nrel := nip
	for i := range ips {
		for j := 0; j < i && relIP[i]; j++ {
			if relIP[j] && bytes.Equal(ips[i], ips[j]) {
				relIP[i] = false
				nrel--
			}
		}
	}
	users := r.relatedUsers()
	if nh := relatedHosts(r); nrel > 0 || nh > 0 || users[0] != nil {
		e.open(`"related":`)
		if nrel > 0 {
			e.key(`"ip":`)
			e.b = append(e.b, '[')
			n := 0
			for i, ip := range ips {
				if relIP[i] {
					if n > 0 {
						e.b = append(e.b, ',')
					}
					e.bytes(ip)
					n++
				}
			}
			e.b = append(e.b, ']')
		}
		if nh > 0 {
			e.key(`"hosts":`)
			e.b = append(e.b, '[')
			k := 0
			for i, h := range [...][]byte{r.Host.Name, r.Host.Helo} {
				if i == 0 && hostName(&r.Host) || i == 1 && len(h) > 0 && h[0] != '[' && !(hostName(&r.Host) && bytes.Equal(h, r.Host.Name)) {
					if k > 0 {
						e.b = append(e.b, ',')
					}
					e.bytes(h)
					k++
				}
			}
			e.b = append(e.b, ']')
		}
		if users[0] != nil {
			// ECS: "all the user names or other user identifiers seen"
			e.key(`"user":`)
			e.b = append(e.b, '[')
			e.bytes(users[0])
			if users[1] != nil {
				e.b = append(e.b, ',')
				e.bytes(users[1])
			}
			e.b = append(e.b, ']')
		}
		e.close()
	}

	// email
	e.open(`"email":`)
	if len(r.Sender) > 0 || len(r.EnvelopeFrom) > 0 {
		e.key(`"from":`)
		e.b = append(e.b, `{"address":[`...)
		if len(r.Sender) > 0 {
			e.bytes(r.Sender)
		} else {
			e.bytes(r.EnvelopeFrom)
		}
		e.b = append(e.b, ']', '}')
	}
	if len(r.Recipient) > 0 || len(r.Recipients) > 0 || len(r.EnvelopeTo) > 0 {
		e.key(`"to":`)
		e.b = append(e.b, `{"address":[`...)
		n := 0
		// the envelope recipient: on delivery lines the original address
		// <...> when Exim shows one (the delivered form, a local part, a
		// pipe or a file, is exim.rcpt.address)
		if len(r.Parent) > 0 {
			e.bytes(r.Parent)
			n++
		} else if len(r.Recipient) > 0 {
			e.bytes(r.Recipient)
			n++
		}
		list := r.Recipients
		if len(list) == 0 && len(r.Recipient) == 0 {
			list = r.EnvelopeTo
		}
		for len(list) > 0 {
			// separators: spaces, newlines and commas; "..." marks more
			// recipients than the reject log lists
			if c := list[0]; c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' {
				list = list[1:]
				continue
			}
			m := scanAddress(list)
			if m == 0 {
				list = list[1:]
				continue
			}
			a := stripAngle(list[:m])
			list = list[m:]
			if len(a) == 0 || string(a) == "..." {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			e.bytes(bytes.TrimSuffix(a, []byte(",")))
			n++
		}
		e.b = append(e.b, ']', '}')
	}
	h := &r.Header
	dump := len(r.Headers) > 0 // a reject-log entry's header dump
	// the reject log's header dump: Cc:, Sender: and Reply-To: have ECS
	// fields of their own; From: and To: go to exim.header.* (email.from
	// and email.to hold the envelope)
	if dump {
		appendAddrList(&e, `"cc":`, h.Cc)
		appendAddrList(&e, `"reply_to":`, h.ReplyTo)
	}
	if len(h.Sender) > 0 {
		l := addrList{h.Sender}
		if a := l.next(); len(a) > 0 {
			e.open(`"sender":`)
			e.str(`"address":`, a)
			e.close()
		}
	}
	e.str(`"local_id":`, r.MessageID)
	if len(r.HeaderID) > 0 {
		e.text(`"message_id":`, stripAngle(r.HeaderID), &r.scratch)
	} else if len(h.MessageID) > 0 {
		r.scratch = unfold(r.scratch[:0], h.MessageID)
		e.str(`"message_id":`, stripAngle(bytes.TrimSpace(r.scratch)))
	}
	if len(r.Subject) > 0 {
		// Exim's escapes, then RFC 2047 encoded-words
		r.scratch = unescapeExim(r.scratch[:0], r.Subject)
		r.scratch2 = decodeWords(r.scratch2[:0], r.scratch)
		e.str(`"subject":`, r.scratch2)
	} else if len(h.Subject) > 0 {
		// a header as received: folded lines, RFC 2047 encoded-words
		r.scratch = unfold(r.scratch[:0], h.Subject)
		r.scratch2 = decodeWords(r.scratch2[:0], r.scratch)
		e.str(`"subject":`, r.scratch2)
	}
	if len(h.Mailer) > 0 {
		r.scratch = unfold(r.scratch[:0], h.Mailer)
		r.scratch2 = decodeWords(r.scratch2[:0], r.scratch)
		e.str(`"x_mailer":`, r.scratch2)
	}
	if len(h.Date) > 0 {
		if t, ok := parseMailDate(h.Date); ok {
			e.key(`"origination_timestamp":`)
			e.b = appendTimestamp(e.b, t)
		}
	}
	if r.delivered() && !r.Time.IsZero() {
		// ECS: "when the email message was received by the service or
		// client": the arrival, or the delivery to the next hop/mailbox
		e.key(`"delivery_timestamp":`)
		e.b = c.appendTimestamp(e.b, r.Time)
	}
	e.strs(`"direction":`, r.Enrichment.EmailDirection)
	e.close()

	if len(r.Cipher) > 0 || len(r.PeerDN) > 0 || len(r.SNI) > 0 {
		e.open(`"tls":`)
		if len(r.Cipher) > 0 {
			// X= is logged for connections that used TLS
			e.boolean(`"established":`, true)
			proto, version, cipher := splitCipher(r.Cipher)
			e.str(`"cipher":`, cipher)
			if len(version) > 0 && bytes.IndexByte(version, '.') < 0 {
				// ECS: "1.0" for TLSv1 (and "3.0" for SSLv3)
				r.scratch = append(append(r.scratch[:0], version...), ".0"...)
				e.str(`"version":`, r.scratch)
			} else {
				e.str(`"version":`, version)
			}
			e.str(`"version_protocol":`, proto)
		}
		// the peer certificate is the client's on reception and the
		// server's on delivery; SNI is always what the client asked for.
		if remote == "source" {
			e.open(`"client":`)
			e.text(`"subject":`, r.PeerDN, &r.scratch)
			e.str(`"server_name":`, r.SNI)
			e.close()
		} else {
			e.open(`"client":`)
			e.str(`"server_name":`, r.SNI)
			e.close()
			e.open(`"server":`)
			e.text(`"subject":`, r.PeerDN, &r.scratch)
			e.close()
		}
		e.close()
	}

	if len(r.AuthID) > 0 {
		e.open(`"user":`)
		e.str(`"name":`, r.AuthID)
		e.close()
	} else if len(r.User) > 0 {
		e.open(`"user":`)
		e.str(`"name":`, r.User)
		e.close()
	}

	if r.smtpPeer(&info) {
		e.key(`"network":`)
		if remote == "source" {
			e.b = append(e.b, `{"protocol":"smtp","transport":"tcp","direction":"ingress"}`...)
		} else {
			e.b = append(e.b, `{"protocol":"smtp","transport":"tcp","direction":"egress"}`...)
		}
	}

	r.appendExim(&e, &info, remote, len(r.Host.IP) > 0 && !okIP[0], invalidUTF8, reason)
	if dataStream {
		e.b = c.appendDataStream(e.b, r.Meta.Dataset, r.Meta.Namespace)
	}
	e.b = append(e.b, '}')
	return e.b
}

// encCache holds what AppendJSON encodes once and reuses: the timestamp
// up to its second, the data_stream member.
type encCache struct {
	sec     int64
	secText []byte // `"2006-01-02T15:04:05.` of sec
	dsKey   [2]string
	ds      []byte // `,"data_stream":{...}` of dsKey
}

// appendTimestamp appends t in UTC as "2006-01-02T15:04:05.000Z" (quoted),
// by hand (time.AppendFormat is several times slower), reusing the text of
// the previous call's second: consecutive log lines mostly share it.
func (c *encCache) appendTimestamp(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if c.secText == nil || sec != c.sec {
		full := appendTimestamp(c.secText[:0], t)
		if len(full) != len(`"2006-01-02T15:04:05.000Z"`) {
			// a year outside 0-9999: no cache
			c.secText = nil
			return append(dst, full...)
		}
		c.secText, c.sec = full[:len(`"2006-01-02T15:04:05.`)], sec
	}
	ms := t.Nanosecond() / 1e6
	dst = append(dst, c.secText...)
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// appendDataStream is AppendDataStream, encoded once per dataset and
// namespace.
func (c *encCache) appendDataStream(dst []byte, dataset, ns string) []byte {
	if c.ds == nil || c.dsKey != [2]string{dataset, ns} {
		c.ds = AppendDataStream(c.ds[:0], dataset, ns)
		c.dsKey = [2]string{dataset, ns}
	}
	return append(dst, c.ds...)
}

// AppendDataStream appends the data_stream member of a document, with its
// leading comma: `,"data_stream":{"type":"logs","dataset":d,"namespace":ns}`.
func AppendDataStream(dst []byte, dataset, ns string) []byte {
	dst = append(dst, `,"data_stream":{"type":"logs","dataset":`...)
	dst = AppendJSONString(dst, dataset)
	dst = append(dst, `,"namespace":`...)
	dst = AppendJSONString(dst, ns)
	return append(dst, '}')
}

// outbound reports whether H= is a server Exim delivered to rather than a
// client that connected to Exim.
func (r *Record) outbound() bool {
	return r.Flag != "" && r.Flag != "<=" && r.Flag != "(=" || r.Action == ActionHostError
}

// hostName reports whether h.Name is a real name (not "[ip]" or the IP
// repeated, as Exim writes for hosts given by address).
func hostName(h *Host) bool {
	return len(h.Name) > 0 && h.Name[0] != '[' && !bytes.Equal(h.Name, h.IP)
}

func relatedHosts(r *Record) int {
	n := 0
	if hostName(&r.Host) {
		n++
	}
	if len(r.Host.Helo) > 0 && r.Host.Helo[0] != '[' {
		n++
	}
	return n
}

func (r *Record) appendPeer(e *enc, name string, h *Host, ipOK bool, sni []byte) {
	if len(h.IP) == 0 && len(h.Name) == 0 && len(sni) == 0 {
		return
	}
	if name == "source" {
		e.open(`"source":`)
	} else {
		e.open(`"destination":`)
	}
	if ipOK {
		e.str(`"ip":`, h.IP)
	}
	if h.Port > 0 {
		e.int(`"port":`, int64(h.Port))
	}
	if hostName(h) {
		e.str(`"domain":`, h.Name)
	} else {
		e.str(`"domain":`, sni)
	}
	if len(h.IP) > 0 {
		e.str(`"address":`, h.IP)
	} else {
		e.str(`"address":`, h.Name)
	}
	if name == "source" && h == &r.Host {
		r.appendSourceEnrichment(e)
	}
	e.close()
}

// validIP reports whether ip parses as an IPv4 or IPv6 address, so that an
// ip-typed mapping never rejects a document (the test suite writes
// placeholders such as "ip4.ip4.ip4.ip4").
func validIP(ip []byte) bool {
	if len(ip) == 0 || len(ip) > 45 {
		return false
	}
	if bytes.IndexByte(ip, ':') >= 0 {
		return validIPv6(ip)
	}
	return validIPv4(ip)
}

func validIPv4(s []byte) bool {
	parts, n, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n > 255 || digits > 1 && s[i-digits] == '0' {
				return false
			}
			parts++
			n, digits = 0, 0
			continue
		}
		if !isDigit(s[i]) {
			return false
		}
		n = n*10 + int(s[i]-'0')
		digits++
	}
	return parts == 4
}

func validIPv6(s []byte) bool {
	// groups of 1-4 hex digits separated by ':', at most one "::", an
	// optional trailing dotted IPv4, optional "%zone" is not accepted.
	groups, double := 0, false
	i := 0
	if hasPrefix(s, "::") {
		double = true
		i = 2
		if i == len(s) {
			return true
		}
	} else if len(s) > 0 && s[0] == ':' {
		return false
	}
	for i < len(s) {
		j := i
		for j < len(s) && j-i < 5 && isHex(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '.' {
			if !validIPv4(s[i:]) {
				return false
			}
			groups += 2
			i = len(s)
			break
		}
		if j == i || j-i > 4 {
			return false
		}
		groups++
		i = j
		if i == len(s) {
			break
		}
		if s[i] != ':' {
			return false
		}
		i++
		if i < len(s) && s[i] == ':' {
			if double {
				return false
			}
			double = true
			i++
			if i == len(s) {
				break
			}
		} else if i == len(s) {
			return false
		}
	}
	if double {
		return groups < 8
	}
	return groups == 8
}

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// splitCipher splits X= ("TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256",
// "TLS1.3:TLS_AES_256_GCM_SHA384:256") into protocol, version and cipher.
func splitCipher(x []byte) (proto, version, cipher []byte) {
	i := bytes.IndexByte(x, ':')
	if i < 0 {
		return nil, nil, x
	}
	v := x[:i]
	cipher = x[i+1:]
	if j := bytes.LastIndexByte(cipher, ':'); j >= 0 {
		if _, ok := atoi(cipher[j+1:]); ok {
			cipher = cipher[:j]
		}
	}
	k := 0
	for k < len(v) && !isDigit(v[k]) {
		k++
	}
	p := v[:k]
	p = bytes.TrimSuffix(p, []byte("v"))
	switch {
	case bytes.EqualFold(p, []byte("TLS")):
		proto = tlsProto
	case bytes.EqualFold(p, []byte("SSL")):
		proto = sslProto
	}
	return proto, v[k:], cipher
}

var (
	tlsProto = []byte("tls")
	sslProto = []byte("ssl")
)

// textActions are the actions whose text is the document's message.
func textActions(a string) bool {
	switch a {
	case ActionUnknown, ActionPanic, ActionMessageInfo, ActionDKIM, ActionFrozen, ActionUnfrozen,
		ActionACLWarning, ActionHostError, ActionDaemonStart:
		return true
	}
	return false
}

func (r *Record) appendExim(e *enc, info *actionInfo, remote string, badHostIP, invalidUTF8 bool, reason span) {
	e.open(`"exim":`)
	e.strs(`"flag":`, r.Flag)
	en := &r.Enrichment
	if r.Has(FlagNullSender) || en.SenderDomain != "" || en.SenderAdmin {
		e.open(`"sender":`)
		if r.Has(FlagNullSender) {
			e.boolean(`"null":`, true)
		}
		appendDomain(e, en.SenderMembers, en.SenderDomain, en.SenderDomainUnicode, en.SenderRegisteredDomain, en.SenderTLD, en.SenderCountry, en.SenderFreemail, en.SenderLocal)
		if en.SenderAdmin {
			e.boolean(`"admin":`, true)
		}
		if en.SenderForged {
			e.boolean(`"forged_local":`, true)
		}
		e.close()
	}
	delivery := r.Flag != "" && r.Flag != "<=" && r.Flag != "(="
	if delivery || en.RecipientDomain != "" {
		e.open(`"rcpt":`)
		if delivery {
			e.str(`"address":`, r.Recipient)
			e.str(`"parent":`, r.Parent)
		}
		appendDomain(e, en.RecipientMembers, en.RecipientDomain, en.RecipientDomainUnicode, en.RecipientRegisteredDomain, en.RecipientTLD, en.RecipientCountry, en.RecipientFreemail, en.RecipientLocal)
		e.close()
	}
	if en.SenderDomain != "" && en.RecipientDomain != "" {
		e.boolean(`"same_domain":`, en.SameDomain)
	}
	if en.SourceIPClass != "" {
		e.key(`"source":`)
		e.b = append(e.b, `{"ip_class":`...)
		e.b = AppendJSONString(e.b, en.SourceIPClass)
		e.b = append(e.b, '}')
	}
	if len(r.Host.Helo) > 0 || len(r.Command) > 0 || len(r.Commands) > 0 || len(r.ConnID) > 0 || len(r.Confirmation) > 0 || r.Has(FlagHasCount) || len(r.Input) > 0 {
		e.open(`"smtp":`)
		e.text(`"helo":`, r.Host.Helo, &r.scratch)
		e.strs(`"helo_class":`, en.HeloClass)
		e.text(`"command":`, r.Command, &r.scratch)
		e.text(`"argument":`, r.Argument, &r.scratch)
		e.text(`"input":`, r.Input, &r.scratch)
		e.str(`"commands":`, r.Commands)
		e.text(`"confirmation":`, r.Confirmation, &r.scratch)
		e.str(`"connection_id":`, r.ConnID)
		if r.Has(FlagHasCount) {
			e.int(`"connection_count":`, int64(r.ConnCount))
		}
		e.close()
	}
	if len(r.Host.Name) > 0 || r.Has(FlagContinued) || badHostIP {
		e.open(`"host":`)
		e.str(`"name":`, r.Host.Name)
		if badHostIP {
			e.str(`"address":`, r.Host.IP)
		}
		if r.Has(FlagContinued) {
			e.boolean(`"continued":`, true)
		}
		e.close()
	}
	if len(r.Proxy.IP) > 0 {
		e.open(`"proxy":`)
		e.str(`"address":`, r.Proxy.IP)
		if r.Proxy.Port > 0 {
			e.int(`"port":`, int64(r.Proxy.Port))
		}
		e.close()
	}
	e.str(`"protocol":`, r.Protocol)
	if len(r.ReturnPath) > 0 {
		// P=<> is the null return path: written as ""
		e.key(`"return_path":`)
		e.bytes(stripAngle(r.ReturnPath))
	}
	if r.Has(FlagHasSize) {
		e.int(`"size":`, r.Size)
	}
	e.str(`"bounce_ref":`, r.BounceRef)
	e.str(`"router":`, r.Router)
	e.str(`"transport":`, r.Transport)
	e.str(`"shadow_transport":`, r.Shadow)
	if len(r.AuthName) > 0 {
		e.open(`"auth":`)
		e.str(`"authenticator":`, r.AuthName)
		e.str(`"id":`, r.AuthID)
		e.str(`"sender":`, r.AuthSender)
		e.close()
	}
	e.str(`"user":`, r.User)
	if len(r.Cipher) > 0 || len(r.CertVerified) > 0 {
		e.open(`"tls":`)
		e.str(`"cipher_suite":`, r.Cipher)
		e.str(`"certificate_verified":`, r.CertVerified)
		e.close()
	}
	if r.Has(FlagHasQT) {
		e.float(`"queue_time":`, r.QueueTime)
	}
	if r.Has(FlagHasDT) {
		e.float(`"delivery_time":`, r.DeliveryTime)
	}
	if r.Has(FlagHasRT) {
		e.float(`"receive_time":`, r.ReceiveTime)
	}
	if r.Has(FlagHasD) {
		e.float(`"duration":`, r.Duration)
	}
	e.str(`"m8s":`, r.M8S)
	e.str(`"pipelining":`, r.Pipelining)
	if r.Has(FlagChunking) {
		e.boolean(`"chunking":`, true)
	}
	if r.Has(FlagPRDR) {
		e.boolean(`"prdr":`, true)
	}
	if r.Has(FlagTFO) {
		e.boolean(`"tfo":`, true)
	}
	if r.Has(FlagDNSSEC) {
		e.boolean(`"dnssec":`, true)
	}
	e.str(`"dkim":`, r.DKIM)
	e.str(`"protocol_sequence":`, r.ProtoSeq)
	e.str(`"queue":`, r.Queue)
	e.str(`"errno":`, r.Errno)
	if reason.end > reason.start {
		e.key(`"reason":`)
		e.b = append(e.b, e.b[reason.start:reason.end]...)
	}
	if r.Has(FlagTemporary) {
		e.boolean(`"temporary":`, true)
	}
	e.str(`"acl":`, r.ACL)
	if info.rejection && !r.mainOnly {
		var id [rejectionIDLen]byte
		r.rejectionID(&id)
		e.open(`"rejection":`)
		e.str(`"id":`, id[:])
		e.close()
	}
	e.str(`"version":`, r.Version)
	e.str(`"cwd":`, r.Cwd)
	e.str(`"args":`, r.Args)
	if len(r.Header.From) > 0 || len(r.Header.To) > 0 {
		e.open(`"header":`)
		appendAddrs(e, `"from":`, r.Header.From)
		appendAddrs(e, `"to":`, r.Header.To)
		e.close()
	}
	if invalidUTF8 {
		// event.original holds U+FFFD for each invalid byte: the bytes
		// themselves, as the dead letters keep them
		e.key(`"original_base64":`)
		e.b = append(e.b, '"')
		e.b = base64.StdEncoding.AppendEncode(e.b, r.Original)
		e.b = append(e.b, '"')
	}
	if len(r.EnvelopeFrom) > 0 || len(r.EnvelopeTo) > 0 || len(r.Headers) > 0 {
		e.open(`"reject":`)
		e.str(`"envelope_from":`, r.EnvelopeFrom)
		e.str(`"envelope_to":`, r.EnvelopeTo)
		e.str(`"headers":`, r.Headers)
		if r.Has(FlagTruncated) {
			e.boolean(`"truncated":`, true)
		}
		e.close()
	}
	r.appendSession(e)
	e.close()
}

// appendTimestamp appends t in UTC as "2006-01-02T15:04:05.000Z" (quoted),
// by hand: time.AppendFormat is several times slower.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	if y < 0 || y > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		return append(dst, '"')
	}
	return append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// appendAddrList writes k: {"address": [...]} with the addresses of an
// address-list header, nothing when it has none.
func appendAddrList(e *enc, k string, v []byte) {
	e.open(k)
	appendAddrs(e, `"address":`, v)
	e.close()
}

// deliveryDuration is event.duration in seconds of a line without D= (an
// SMTP connection's) or a session summary: DT= (the delivery attempt),
// else QT= (time since arrival, the whole of the message's stay on
// Completed lines).
func (r *Record) deliveryDuration() (float64, bool) {
	switch {
	case r.Has(FlagHasDT):
		return r.DeliveryTime, true
	case r.Has(FlagHasQT):
		return r.QueueTime, true
	}
	return 0, false
}

// delivered reports whether the entry records a message received
// (arrival) or delivered (=> -> >> *>): email.delivery_timestamp.
func (r *Record) delivered() bool {
	switch r.Action {
	case ActionArrival, ActionDelivery, ActionDeliveryAdditional, ActionDeliveryCutthrough, ActionDeliverySuppressed:
		return true
	}
	return false
}

// sniFor returns SNI= for the side of the connection that is the server
// (destination.domain when that side has no host name of its own).
func (r *Record) sniFor(side string) []byte {
	if side == "destination" {
		return r.SNI
	}
	return nil
}

// relatedUsers returns the user names of the entry (related.user): the
// authenticated id (A=, set_id=) and the local user or ident (U=), each
// once; nil entries are absent.
func (r *Record) relatedUsers() [2][]byte {
	var u [2][]byte
	n := 0
	if len(r.AuthID) > 0 {
		u[n] = r.AuthID
		n++
	}
	if len(r.User) > 0 && (n == 0 || !bytes.Equal(r.User, r.AuthID)) {
		u[n] = r.User
	}
	return u
}

// smtpPeer reports whether the entry is about an SMTP connection with a
// network peer (network.protocol smtp, transport tcp): the SMTP session
// events and rejections, arrivals over SMTP (P=*smtp*) and deliveries to
// a remote host.
func (r *Record) smtpPeer(info *actionInfo) bool {
	if len(r.Host.IP) == 0 {
		return false
	}
	for _, c := range info.category {
		if c == "network" {
			return true
		}
	}
	switch {
	case r.Flag == "<=" || r.Flag == "(=":
		return bytes.Contains(r.Protocol, []byte("smtp"))
	case r.Flag != "":
		return true // H= on a delivery line: the server delivered to
	}
	return false
}

// appendAddrs writes k: [addresses] of an address-list header.
func appendAddrs(e *enc, k string, v []byte) {
	l := addrList{v}
	a := l.next()
	if a == nil {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for n := 0; a != nil; n++ {
		if n > 0 {
			e.b = append(e.b, ',')
		}
		e.bytes(a)
		a = l.next()
	}
	e.b = append(e.b, ']')
}

// smtpCode returns the SMTP reply code (4xx, 5xx) in a reason text: at its
// start ("535 Incorrect authentication data") or after ": " ("SMTP error
// from remote mail server after RCPT TO:<a>: 550 5.1.1 ..."); nil when
// Exim logged none (an ACL's message, a local error).
func smtpCode(s []byte) []byte {
	for i := 0; len(s)-i >= 3; {
		if c := s[i : i+3]; (c[0] == '4' || c[0] == '5') && isDigit(c[1]) && isDigit(c[2]) && (len(s)-i == 3 || s[i+3] == ' ' || s[i+3] == '-') {
			return c
		}
		j := bytes.Index(s[i:], colonSpace)
		if j < 0 {
			return nil
		}
		i += j + 2
	}
	return nil
}

var colonSpace = []byte(": ")

// span is a range of the document being written.
type span struct{ start, end int }
