package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorderNotesTheStatusAnswered(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"a body alone is a 200", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, 200},
		{"the first status counts", func(w http.ResponseWriter) { w.WriteHeader(429); w.WriteHeader(500) }, 429},
		{"a status, then a body", func(w http.ResponseWriter) { w.WriteHeader(404); _, _ = w.Write([]byte("x")) }, 404},
	} {
		under := httptest.NewRecorder()
		rec := &Recorder{ResponseWriter: under}
		c.write(rec)
		if rec.Code != c.want {
			t.Errorf("%s: noted %d, want %d", c.name, rec.Code, c.want)
		}
		if c.want != 0 && under.Code != c.want {
			t.Errorf("%s: the writer underneath got %d", c.name, under.Code)
		}
	}
	under := httptest.NewRecorder()
	rec := &Recorder{ResponseWriter: under}
	if err := http.NewResponseController(rec).Flush(); err != nil || !under.Flushed {
		t.Errorf("flush did not reach the writer underneath: %v", err)
	}
}
