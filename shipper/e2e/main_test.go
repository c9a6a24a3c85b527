package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// repoRoot is the module root (this package is shipper/e2e).
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The private Elasticsearch node of TestElasticsearchDownIntegration
	// takes a minute or more to start on a small machine: start it now, in
	// the background, while the other tests run.
	if !testing.Short() && selected("TestElasticsearchDownIntegration") && (stacktest.Required() || stackUp()) {
		privateES.start()
	}
	// The secured stack (TestSecure*) likewise.
	if !testing.Short() && (stacktest.Required() || stackUp()) {
		for _, name := range secureTests {
			if selected(name) {
				secure.start()
				break
			}
		}
	}
	code := m.Run()
	privateES.stop()
	secure.stop()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// secureTests are the tests that use the secured stack.
var secureTests = []string{
	"TestSecureKafkaIntegration", "TestSecureElasticsearchIntegration",
	"TestSecureRolesIntegration", "TestSecureRevokedPrivilegeIntegration", "TestSecureReplayIntegration",
	"TestSecureCheckIntegration",
}

// stackUp reports whether scripts/stack's environment file or variables
// name a Kafka and an Elasticsearch (the tests will then run).
func stackUp() bool {
	if os.Getenv("EXIMSHIP_ES_URL") != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(stacktest.StateDir(), "stack.env"))
	return err == nil
}

// selected reports whether -test.run (if any) selects the top-level test
// name.
func selected(name string) bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	top := strings.Split(f.Value.String(), "/")[0]
	re, err := regexp.Compile(top)
	return err != nil || re.MatchString(name)
}

// eximshipBinary builds bin/eximship once per test binary (into a temporary
// directory, so a concurrent `make build` in the tree is never disturbed)
// and returns its path.
func eximshipBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "eximship-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "eximship")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/eximship")
		cmd.Dir = repoRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/eximship: %v\n%s", err, out.String())
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", binPath, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}
