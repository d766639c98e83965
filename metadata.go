package pixpool

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
