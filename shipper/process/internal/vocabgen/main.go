// Command vocabgen writes vocab_gen.go of shipper/process: the words of
// Exim's own wording that the parser (shipper/exim) matches, taken from the
// string literals of its non-test sources (see internal/vocab). The
// processor skips these words when it checks that a document holds
// everything its entry said (process.Holds). Run by
// `go generate ./shipper/process`.
package main

import (
	"log"
	"os"

	"github.com/eximship/eximship/shipper/process/internal/vocab"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: vocabgen EXIM_SOURCE_DIR OUTPUT")
	}
	words, err := vocab.Words(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	src, err := vocab.Source(words)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(os.Args[2], src, 0o644); err != nil {
		log.Fatal(err)
	}
}
