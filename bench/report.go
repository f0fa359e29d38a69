package bench

import (
	_ "embed"
	"html/template"
	"io"
	"math"
	"time"
)

//go:embed report.html
var reportHTML string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":      ms,
	"bitrate": formatBitrate,
	"pct":     pct,
	"bytes":   bytesLabel,
}).Parse(reportHTML))

// reportData is what the page's script draws; the client list is cut down
// to one number each so a 20000-client report stays small.
type reportData struct {
	Timeline   []Sample  `json:"timeline"`
	Startup    []Bucket  `json:"startup"`
	BitratePct []float64 `json:"bitrate_pct"` // each client's bitrate as % of the source
	Source     float64   `json:"source_bps"`
}

// WriteReport writes r as one self-contained HTML page: a summary table and
// charts drawn by inline script as SVG, with nothing fetched from anywhere.
func WriteReport(w io.Writer, r *Result) error {
	d := reportData{Timeline: r.Timeline, Startup: r.Summary.StartupHis, Source: r.Summary.SourceBPS,
		BitratePct: []float64{}}
	for _, c := range r.Clients {
		if c.FirstMediaMS != nil && r.Summary.SourceBPS > 0 {
			d.BitratePct = append(d.BitratePct, math.Round(1000*c.BitrateBPS/r.Summary.SourceBPS)/10)
		}
	}
	if d.Timeline == nil {
		d.Timeline = []Sample{}
	}
	return reportTemplate.Execute(w, map[string]any{
		"S":         &r.Summary,
		"Data":      d,
		"Generated": time.Now().Format(time.RFC3339),
		"Starving":  StarvingRatio * 100,
	})
}
