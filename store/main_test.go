package store_test

import (
	"testing"

	"github.com/teamline/teamline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
