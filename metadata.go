package pixpool

import "slices"

// ImageMetadata is what an upload's metadata said, kept for its owner
// (Image.Metadata holds it as JSON) after it was stripped from the bytes
// that are served: the camera, its settings, when and where the photo was
// taken. Fields the upload did not have are zero and left out of the JSON.
type ImageMetadata struct {
	Make  string `json:"make,omitempty"`
	Model string `json:"model,omitempty"`
	Lens  string `json:"lens,omitempty"`
	// Taken is when the photo was taken as the camera wrote it, in the
	// form 2006-01-02T15:04:05, with the offset from UTC (+02:00) only if
	// the camera recorded one: most record only their clock's local time.
	Taken string `json:"taken,omitempty"`
	// ExposureTime in seconds, as a fraction such as "1/250" or "2".
	ExposureTime string  `json:"exposure_time,omitempty"`
	FNumber      float64 `json:"f_number,omitempty"`
	ISO          int     `json:"iso,omitempty"`
	// FocalLength in millimetres.
	FocalLength float64 `json:"focal_length,omitempty"`
	// Orientation is the EXIF orientation, 1 to 8 (1: upright); the
	// served bytes keep it when it is not 1 (see Kept).
	Orientation int          `json:"orientation,omitempty"`
	Software    string       `json:"software,omitempty"`
	GPS         *GPSPosition `json:"gps,omitempty"`
	// Stripped says, in words, what was removed from the served bytes
	// ("EXIF", "GPS position", "XMP", ...); empty if nothing was.
	Stripped []string `json:"stripped,omitempty"`
	// Kept says what metadata the served bytes still carry because the
	// image looks wrong without it ("ICC colour profile", "orientation").
	Kept []string `json:"kept,omitempty"`
}

// KeptOrientation is how Kept names the EXIF orientation when the served
// bytes keep it. They cannot always: a simple WebP (no VP8X header) has
// nowhere to announce it, and browsers then show it as stored.
const KeptOrientation = "orientation"

// ServedOrientation is the EXIF orientation browsers apply to the served
// bytes (2 to 8), 0 if none: Orientation only if the bytes kept it. What
// a page says about the image's shape (a srcset's widths) must follow
// this, not what the upload said.
func (m *ImageMetadata) ServedOrientation() int {
	if m != nil && m.Orientation > 1 && slices.Contains(m.Kept, KeptOrientation) {
		return m.Orientation
	}
	return 0
}

// GPSPosition is where a photo was taken, in decimal degrees (north and
// east positive) and metres above sea level.
type GPSPosition struct {
	Latitude  float64  `json:"latitude"`
	Longitude float64  `json:"longitude"`
	Altitude  *float64 `json:"altitude,omitempty"`
}

// Empty reports whether m says nothing at all.
func (m *ImageMetadata) Empty() bool {
	return m == nil || (m.Make == "" && m.Model == "" && m.Lens == "" && m.Taken == "" &&
		m.ExposureTime == "" && m.FNumber == 0 && m.ISO == 0 && m.FocalLength == 0 &&
		m.Orientation == 0 && m.Software == "" && m.GPS == nil && len(m.Stripped) == 0 && len(m.Kept) == 0)
}
