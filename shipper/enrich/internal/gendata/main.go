// Command gendata writes the tables shipper/enrich embeds (data/cctld.tsv,
// data/freemail.txt) from their public sources. It reads local files only;
// scripts/update-enrich-data fetches them and runs it. data/SOURCES.md says
// where each source comes from.
//
//	go run ./shipper/enrich/internal/gendata -psl public_suffix_list.dat \
//	    -iso /usr/share/iso-codes/json/iso_3166-1.json \
//	    -freemail package/domains.json -freemail-version 1.12.6 \
//	    -out shipper/enrich/data
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/net/idna"
)

// exceptions are the ccTLDs whose code is not an ISO 3166-1 alpha-2 code
// of their country or territory: "" means no country.
var exceptions = map[string]string{
	"uk": "GB", // United Kingdom: ISO 3166-1 GB; UK is "exceptionally reserved"
	"ac": "SH", // Ascension Island, part of Saint Helena, Ascension and Tristan da Cunha (ISO 3166-2 SH-AC)
	"eu": "",   // European Union: not a country (EU is "exceptionally reserved")
	"su": "",   // Soviet Union: no country since 1991 (SU is "transitionally reserved")
}

func main() {
	psl := flag.String("psl", "", "the public suffix list (public_suffix_list.dat)")
	iso := flag.String("iso", "/usr/share/iso-codes/json/iso_3166-1.json", "ISO 3166-1 as JSON (Debian iso-codes)")
	pslVersion := flag.String("psl-version", "", "version (commit, date) of the public suffix list, for the file header")
	isoVersion := flag.String("iso-version", "", "version of iso-codes, for the file header")
	free := flag.String("freemail", "", "domains.json of the npm package free-email-domains")
	freeVersion := flag.String("freemail-version", "", "version of free-email-domains, for the file header")
	out := flag.String("out", "shipper/enrich/data", "output `directory`")
	flag.Parse()
	if err := run(*psl, *pslVersion, *iso, *isoVersion, *free, *freeVersion, *out); err != nil {
		slog.Error("gendata failed", "error", err)
		os.Exit(1)
	}
}

func run(psl, pslVersion, iso, isoVersion, free, freeVersion, out string) error {
	if psl == "" && free == "" {
		return errors.New("nothing to do: give -psl (with -iso) and/or -freemail")
	}
	if psl != "" {
		b, err := cctldTable(psl, pslVersion, iso, isoVersion)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "cctld.tsv"), b, 0o644); err != nil {
			return fmt.Errorf("write cctld.tsv: %w", err)
		}
	}
	if free != "" {
		b, err := freemailList(free, freeVersion)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "freemail.txt"), b, 0o644); err != nil {
			return fmt.Errorf("write freemail.txt: %w", err)
		}
	}
	return nil
}

// idnCCTLD matches the IDN ccTLD comments of the PSL:
// "// xn--p1ai ("rf", Russian-Cyrillic) : RU".
var idnCCTLD = regexp.MustCompile(`^// (xn--[a-z0-9-]+) \(.*\)\s*:\s*([A-Z]{2})\s*$`)

func cctldTable(psl, pslVersion, iso, isoVersion string) ([]byte, error) {
	codes, err := isoCodes(iso)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(psl)
	if err != nil {
		return nil, fmt.Errorf("public suffix list: %w", err)
	}
	defer f.Close()
	type entry struct{ tld, cc, note string }
	var rows []entry
	var skipped []string
	ascii := map[string]bool{}
	icann := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(l, "===BEGIN ICANN DOMAINS==="):
			icann = true
		case strings.Contains(l, "===END ICANN DOMAINS==="):
			icann = false
		}
		if !icann || l == "" {
			continue
		}
		if m := idnCCTLD.FindStringSubmatch(l); m != nil {
			cc := m[2]
			if _, ok := codes[cc]; !ok {
				skipped = append(skipped, m[1]+" ("+cc+")")
				continue
			}
			u, err := idna.ToUnicode(m[1])
			if err != nil {
				return nil, fmt.Errorf("IDN ccTLD %s: %w", m[1], err)
			}
			rows = append(rows, entry{m[1], cc, "IDN " + u})
			continue
		}
		if strings.HasPrefix(l, "//") {
			continue
		}
		// the TLD of every rule ("*.ck", "!www.ck", "ac.za", "uk"); a
		// two-letter ASCII TLD is a ccTLD (IANA: every two-letter ASCII
		// TLD is a country code)
		tld := l[strings.LastIndexByte(l, '.')+1:]
		if len(tld) == 2 && tld[0] >= 'a' && tld[0] <= 'z' && tld[1] >= 'a' && tld[1] <= 'z' {
			ascii[tld] = true
		}
	}
	for tld := range ascii {
		cc := strings.ToUpper(tld)
		if x, ok := exceptions[tld]; ok {
			if x == "" {
				skipped = append(skipped, tld)
				continue
			}
			rows = append(rows, entry{tld, x, "exception"})
			continue
		}
		if _, ok := codes[cc]; !ok {
			return nil, fmt.Errorf("ccTLD %s is not an ISO 3166-1 code and has no exception: add one", tld)
		}
		rows = append(rows, entry{tld, cc, ""})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("public suffix list: %w", err)
	}
	sort.Strings(skipped)
	if len(rows) < 250 {
		return nil, fmt.Errorf("only %d ccTLDs found: is %s the public suffix list?", len(rows), psl)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].tld < rows[j].tld })
	var b bytes.Buffer
	fmt.Fprintf(&b, "# ccTLD -> ISO 3166-1 alpha-2 country code. Generated by shipper/enrich/internal/gendata; do not edit.\n")
	fmt.Fprintf(&b, "# ccTLDs: the ICANN section of the public suffix list %s (two-letter ASCII TLDs, and the IDN ccTLDs\n", pslVersion)
	fmt.Fprintf(&b, "# with the ISO code in their comment); codes: ISO 3166-1 from iso-codes %s.\n", isoVersion)
	fmt.Fprintf(&b, "# Exceptions: uk -> GB, ac -> SH; without a country (not listed): %s.\n", strings.Join(skipped, ", "))
	for _, r := range rows {
		fmt.Fprintf(&b, "%s\t%s", r.tld, r.cc)
		if r.note != "" {
			fmt.Fprintf(&b, "\t%s", r.note)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func isoCodes(path string) (map[string]bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ISO 3166-1: %w", err)
	}
	var v struct {
		List []struct {
			Alpha2 string `json:"alpha_2"`
		} `json:"3166-1"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("ISO 3166-1 %s: %w", path, err)
	}
	codes := map[string]bool{}
	for _, c := range v.List {
		codes[c.Alpha2] = true
	}
	if len(codes) < 240 {
		return nil, fmt.Errorf("ISO 3166-1 %s: only %d codes", path, len(codes))
	}
	return codes, nil
}

func freemailList(path, version string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("free-email-domains: %w", err)
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("free-email-domains %s: %w", path, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range list {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" || seen[d] || strings.ContainsAny(d, " \t@/") || !strings.Contains(d, ".") {
			continue
		}
		if a, err := idna.Lookup.ToASCII(d); err == nil {
			d = a
		}
		seen[d] = true
		out = append(out, d)
	}
	if len(out) < 1000 {
		return nil, fmt.Errorf("free-email-domains %s: only %d domains", path, len(out))
	}
	sort.Strings(out)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Free and disposable mail provider domains: npm free-email-domains %s\n", version)
	fmt.Fprintf(&b, "# (https://github.com/Kikobeats/free-email-domains, MIT, see LICENSE-free-email-domains.md).\n")
	fmt.Fprintf(&b, "# Generated by shipper/enrich/internal/gendata; do not edit. %d domains.\n", len(out))
	for _, d := range out {
		b.WriteString(d)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
