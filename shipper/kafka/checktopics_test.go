package kafka

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheckTopics(t *testing.T) {
	brokers := fakeCluster(t, "exim-logs", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ok := newSource(t, fastConfig(t, brokers, "exim-logs", "check-ok"))
	if err := ok.CheckTopics(ctx); err != nil {
		t.Errorf("CheckTopics on an existing topic: %v", err)
	}

	cfg := fastConfig(t, brokers, "exim-logs", "check-missing")
	cfg.Topics = []string{"exim-logs", "no-such-topic"}
	missing := newSource(t, cfg)
	err := missing.CheckTopics(ctx)
	if err == nil || !strings.Contains(err.Error(), `"no-such-topic"`) || strings.Contains(err.Error(), `"exim-logs"`) {
		t.Errorf("CheckTopics = %v, want an error naming only no-such-topic", err)
	}
}
