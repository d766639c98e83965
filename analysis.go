package pixpool

import (
	"context"
	"strings"
	"time"
)

// MaxSearchQueryBytes bounds a search query, spaces around it left out.
// Labels and lines of text are short, so a longer query is a mistake, not
// a search; the bound also keeps what one query costs the store small.
const MaxSearchQueryBytes = 200

// ValidateSearchQuery reports, as EINVALID, a query longer than
// MaxSearchQueryBytes. The web page and /api/v1/search share it.
func ValidateSearchQuery(query string) error {
	if len(strings.TrimSpace(query)) > MaxSearchQueryBytes {
		return Errorf(EINVALID, "The search is too long: use at most %d bytes, a few words.", MaxSearchQueryBytes)
	}
	return nil
}

// Analysis states.
const (
	AnalysisPending = "pending" // queued or being analysed
	AnalysisDone    = "done"
	AnalysisFailed  = "failed" // given up after too many attempts; Error says why
)

// Analysis is what recognition found in one image: its labels and text.
type Analysis struct {
	ImageID   int64
	Checksum  string // of the bytes analysed; a replaced image is analysed again
	Status    string
	Labels    []Label
	Lines     []TextLine
	Error     string
	Attempts  int
	UpdatedAt time.Time
}

// Label is an object recognised in an image, with the box around it.
type Label struct {
	Name       string  `json:"name"`
	Confidence float64 `json:"confidence"` // 0 to 100
	Box        Box     `json:"box"`
}

// TextLine is a line of text read from an image.
type TextLine struct {
	Text       string  `json:"text"`
	Confidence float64 `json:"confidence"` // 0 to 100
	Box        Box     `json:"box"`
}

// Box is a rectangle in image pixels: X0, Y0 inclusive, X1, Y1 exclusive.
type Box struct {
	X0 int `json:"x0"`
	Y0 int `json:"y0"`
	X1 int `json:"x1"`
	Y1 int `json:"y1"`
}

// AnalysisStore keeps the recognition queue and results. The queue lives
// in the store so that a restart loses no work and a crash mid-analysis
// retries: a claimed job that is not saved before its lease runs out is
// claimed again.
type AnalysisStore interface {
	// EnqueueAnalysis queues an image (again): its analysis becomes
	// pending with no attempts, whatever it was.
	EnqueueAnalysis(ctx context.Context, imageID int64) error
	// ClaimAnalysis takes the oldest pending job whose lease is free or has
	// run out, leases it for lease, counts an attempt, and returns the
	// image with the attempts so far (this one included); ENOTFOUND when
	// there is none.
	ClaimAnalysis(ctx context.Context, lease time.Duration) (*Image, int, error)
	// SaveAnalysis stores a result (Status done or failed) and ends the job.
	SaveAnalysis(ctx context.Context, a *Analysis) error
	// Analysis returns an image's analysis; ENOTFOUND if it was never queued.
	Analysis(ctx context.Context, imageID int64) (*Analysis, error)
	// SearchImages finds an owner's images whose labels or text match every
	// word of query (case-insensitive, whole words), best matches first.
	// The owner is the query's leading condition: it reads that owner's
	// images, never matches across every user's first.
	SearchImages(ctx context.Context, ownerID int64, query string, limit int) ([]*Image, error)
}
